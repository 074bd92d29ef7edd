#!/usr/bin/env bash
# Measures a recipe over seeds, one run after another (alone on the machine: their wall times are figures).
# Each seed trains in runs/seeds/<recipe>-seed<S> (continued with --resume when a backup is there, e.g. after
# a session ended), then its small result files (summary.json, history.csv, config.json) are copied to
# benchmarks/runs/<recipe>-seed<S>/, which are committed; a seed whose copy exists is skipped. Ends with the
# recipe's mean ± std over every committed seed (python -m benchmarks.seeds).
# Usage: bash scripts/seed_runs.sh RECIPE SEED [SEED ...]
#   e.g. bash scripts/seed_runs.sh fashion_mnist_resnet20_fast 0 1 2
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  echo "usage: bash scripts/seed_runs.sh RECIPE SEED [SEED ...]" >&2
  exit 2
fi
PY="${VENV:-.venv}/bin/python"
recipe=$1
shift
for seed in "$@"; do
  case "$seed" in ''|*[!0-9]*) echo "error: seeds are integers >= 0. Received: '$seed'" >&2; exit 2;; esac
done
for seed in "$@"; do
  name="${recipe}-seed${seed}"
  keep="benchmarks/runs/${name}"
  workdir="runs/seeds/${name}"
  if [ -e "$keep" ]; then
    echo "$keep exists: seed $seed is measured (remove that folder to measure it again)"
    continue
  fi
  resume=()
  if [ -f "$workdir/backup/latest.json" ]; then resume=(--resume); fi
  "$PY" -m training "$recipe" --seed "$seed" --wandb disabled --workdir "$workdir" --name "$name" "${resume[@]}"
  mkdir -p "$keep"
  cp "$workdir/summary.json" "$workdir/history.csv" "$workdir/config.json" "$keep/"
done
"$PY" -m benchmarks.seeds "benchmarks/runs/${recipe}"-seed*
