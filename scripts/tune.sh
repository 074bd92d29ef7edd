#!/usr/bin/env bash
# A tuning run: a recipe with overrides, judged on its validation split only (evaluate_test=False: the run never
# reads the test split). It trains in runs/tuning/<recipe>/<label>-seed<S> (continued with --resume when a backup
# is there; its export goes to runs/tuning/<recipe>/exports/), then its small result files (summary.json, history.csv, config.json) are copied to
# benchmarks/tuning/<recipe>/<label>-seed<S>/, which are committed; a run whose copy exists is skipped.
# `python -m benchmarks report` lists them in RESULTS.md; a recipe's shipped values cite them.
# Usage: bash scripts/tune.sh RECIPE SEED LABEL [KEY=VALUE ...]
#   e.g. bash scripts/tune.sh fashion_mnist_resnet20_fast 0 no-erasing epochs=11 augment.random_erasing=False
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  echo "usage: bash scripts/tune.sh RECIPE SEED LABEL [KEY=VALUE ...]" >&2
  exit 2
fi
PY="${VENV:-.venv}/bin/python"
recipe=$1 seed=$2 label=$3
shift 3
case "$seed" in ''|*[!0-9]*) echo "error: the seed is an integer >= 0. Received: '$seed'" >&2; exit 2;; esac
case "$label" in ''|*[!A-Za-z0-9._-]*|.*)
  echo "error: the label is a plain name (letters, digits, '.', '_', '-'; not starting with '.'). Received: '$label'" >&2
  exit 2;;
esac
sets=(--set evaluate_test=False --set "export_dir=runs/tuning/${recipe}/exports")
for pair in "$@"; do
  case "$pair" in *=*) sets+=(--set "$pair");; *)
    echo "error: overrides are KEY=VALUE. Received: '$pair'" >&2; exit 2;; esac
done
name="${label}-seed${seed}"
keep="benchmarks/tuning/${recipe}/${name}"
workdir="runs/tuning/${recipe}/${name}"
if [ -e "$keep" ]; then
  echo "$keep exists: this run is measured (remove that folder to measure it again)"
  exit 0
fi
resume=()
if [ -f "$workdir/backup/latest.json" ]; then resume=(--resume); fi
"$PY" -m training "$recipe" --seed "$seed" --wandb disabled --workdir "$workdir" --name "tuning-${recipe}-${name}" \
  "${sets[@]}" "${resume[@]}"
mkdir -p "$keep"
cp "$workdir/summary.json" "$workdir/history.csv" "$workdir/config.json" "$keep/"
