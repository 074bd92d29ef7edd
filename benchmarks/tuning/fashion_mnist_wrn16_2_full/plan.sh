#!/usr/bin/env bash
# The validation-only comparison behind fashion_mnist_wrn16_2_full's 40 epochs (chosen in 2026-12-02 on test
# reads): the recipe at 30 and at 40 epochs, seed 0. Each run is resumable (scripts/tune.sh resumes from the
# workdir's backup), so it may span sessions. Run from the repository root:
#   bash benchmarks/tuning/fashion_mnist_wrn16_2_full/plan.sh
# The rule, fixed before either run: ship the epoch count with the higher validation accuracy without TTA; if the
# two are within 0.0010 of each other (one seed each cannot show less), ship 30 (a quarter less time).
set -euo pipefail
R=fashion_mnist_wrn16_2_full
bash scripts/tune.sh $R 0 epochs30 epochs=30
bash scripts/tune.sh $R 0 epochs40 epochs=40
