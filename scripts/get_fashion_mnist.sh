#!/usr/bin/env bash
# Makes the real Fashion-MNIST available offline: Debian's `dataset-fashion-mnist` package puts the four
# IDX files under /usr/share/datasets/fashion-mnist/, where training/data.py looks first.
# Prints a note and exits 0 when it cannot install (not root, no apt): the run then says where to put data.
set -uo pipefail
DIR=/usr/share/datasets/fashion-mnist
if [ -f "$DIR/train-images-idx3-ubyte.gz" ] || [ -f "$DIR/train-images-idx3-ubyte" ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "note: not root; install the Debian package dataset-fashion-mnist (or put the IDX files in $DIR)" >&2
    exit 0
  fi
fi
if command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
    || echo "note: apt-get install dataset-fashion-mnist failed" >&2
else
  echo "note: no apt-get here; put the Fashion-MNIST IDX files in $DIR or pass --set data.data_dir=..." >&2
fi
exit 0
