#!/usr/bin/env bash
# Build an AppImage from the PyInstaller one-folder build (Linux x86_64).
# Needs: pyinstaller in the venv, appimagetool on PATH. Output: dist/mmexplorer-x86_64.AppImage
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pyinstaller --noconfirm packaging/mmexplorer.spec
appdir=dist/mmexplorer.AppDir
rm -rf "$appdir"
mkdir -p "$appdir/usr/bin" "$appdir/usr/share/applications" "$appdir/usr/share/icons/hicolor/scalable/apps"
cp -a dist/mmexplorer/. "$appdir/usr/bin/"
cp assets/mmexplorer.desktop "$appdir/usr/share/applications/"
cp assets/mmexplorer.desktop "$appdir/"
cp assets/mmexplorer.svg "$appdir/usr/share/icons/hicolor/scalable/apps/"
cp assets/mmexplorer.svg "$appdir/mmexplorer.svg"
cat > "$appdir/AppRun" <<'RUN'
#!/bin/sh
here="$(dirname "$(readlink -f "$0")")"
exec "$here/usr/bin/mmexplorer" "$@"
RUN
chmod +x "$appdir/AppRun"
ARCH=x86_64 appimagetool "$appdir" dist/mmexplorer-x86_64.AppImage
