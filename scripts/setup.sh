#!/usr/bin/env bash
# Set up everything mmexplorer needs on this machine: system libraries (when run as root with apt),
# a virtual environment in .venv, torch, the right faiss for this machine, and the app itself.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# System libraries: PortAudio for sounddevice; the X/EGL libraries Qt needs for a real window;
# Xvfb + xauth to run the window headless; espeak-ng/sox for spoken test queries.
APT_PACKAGES="libportaudio2 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0
  libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1
  libdbus-1-3 xvfb xauth espeak-ng sox libsox-fmt-mp3"
if command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $APT_PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing system packages:$missing"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
      echo "setup: please install these system packages (as root):$missing" >&2
    fi
  fi
else
  echo "setup: no apt-get here; install PortAudio and Qt's X11/EGL libraries with your package manager" >&2
fi

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "mmexplorer needs Python >= 3.11"'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"

# torch first, pinned to the builds this machine class carries (a CUDA build that also runs on the CPU).
if ! "$VENV/bin/python" -c 'import torch, torchvision' >/dev/null 2>&1; then
  echo "setup: installing torch 2.14.1 + torchvision 0.29.1"
  $PIP install "torch==2.14.1" "torchvision==0.29.1"
fi

# faiss: the GPU build where an NVIDIA GPU is present, else the CPU build.
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  FAISS_EXTRA=gpu
else
  FAISS_EXTRA=cpu
fi

echo "setup: installing mmexplorer (faiss: $FAISS_EXTRA) and its dependencies"
$PIP install -e ".[dev,$FAISS_EXTRA]"
echo "setup: ready. Run: $VENV/bin/mmexplorer FOLDER   (or $VENV/bin/mmexplorer --help)"
