#!/usr/bin/env bash
# Register mmexplorer with the desktop (menu entry + icon) for the current user, pointing at
# this checkout's virtual environment. Undo with: install-desktop-entry.sh --remove
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
if [[ "${1:-}" == "--remove" ]]; then
    rm -f "$apps/mmexplorer.desktop" "$icons/mmexplorer.svg"
    exit 0
fi
mkdir -p "$apps" "$icons"
sed "s|^Exec=mmexplorer|Exec=$root/.venv/bin/python -m mmexplorer|; s|^TryExec=.*|TryExec=$root/.venv/bin/python|" \
    "$root/assets/mmexplorer.desktop" > "$apps/mmexplorer.desktop"
cp "$root/assets/mmexplorer.svg" "$icons/mmexplorer.svg"
command -v update-desktop-database >/dev/null && update-desktop-database "$apps" || true
echo "installed $apps/mmexplorer.desktop"
