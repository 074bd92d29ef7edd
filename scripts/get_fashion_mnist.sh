#!/usr/bin/env bash
# Makes the real Fashion-MNIST available offline: Debian's `dataset-fashion-mnist` package puts the four
# IDX files under /usr/share/datasets/fashion-mnist/, where training/data/sources.py looks first.
# Exits 0 at once when the four files are there. Otherwise installs the package (as root or with passwordless
# sudo, through apt-get) and exits 1, saying why and where to put the files, when they are still missing.
set -uo pipefail
DIR=/usr/share/datasets/fashion-mnist
FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

missing() {  # the IDX files not in $DIR, gzip'd or not
  local name
  for name in $FILES; do
    [ -f "$DIR/$name.gz" ] || [ -f "$DIR/$name" ] || printf ' %s' "$name"
  done
}

[ -z "$(missing)" ] && exit 0
why=""
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    why="not root and no passwordless sudo"
  fi
fi
if [ -z "$why" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    why="no apt-get here"
  else
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
      || why="apt-get install dataset-fashion-mnist failed"
  fi
fi
still=$(missing)
if [ -n "$still" ]; then
  echo "error: Fashion-MNIST is not in $DIR (missing:$still)${why:+; $why}. Install the Debian package" \
       "dataset-fashion-mnist (apt-get install dataset-fashion-mnist, as root), or put the four IDX files" \
       "(.gz or not) in $DIR; the training app also takes --set data.data_dir=DIR." >&2
  exit 1
fi
