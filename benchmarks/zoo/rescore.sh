#!/usr/bin/env bash
# Calibrate trained yardstick runs again with the current rules and evaluate them again: for a change
# of the decision rules (not the encoders), e.g. the detection score chosen on validation (2026-12-04).
#
#   bash benchmarks/zoo/rescore.sh ZOO_ROOT RUNS_DIR MODEL...
#
# Per MODEL: benchmarks/zoo/recalibrate.py on the zoo's validation split (weights and gallery
# untouched; validation embeddings come from evaluate's cache when it has them), the previous
# evaluations kept beside the new as eval-gN.before-rescore (an older one is never overwritten),
# then benchmarks/zoo/yardsticks.sh evaluates it again. A `<model>-tiles` row is rescored with its
# model (its evaluation is moved aside too). `default` is the shipped model (models/default).
set -euo pipefail
ZOO=${1:?zoo root}; RUNS=${2:?runs dir}; shift 2
[ $# -gt 0 ] || { echo "error: name at least one MODEL (a run under $RUNS, or default)" >&2; exit 2; }
HERE=$(dirname "$0")
PYTHON=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
model_dir() {  # the model directory a row's evaluation uses
  case $1 in
    default) echo "$HERE/../../models/default" ;;
    *-tiles) echo "$RUNS/${1%-tiles}" ;;
    *)       echo "$RUNS/$1" ;;
  esac
}
for model in "$@"; do
  dir=$(model_dir "$model")
  [ -f "$dir/config.json" ] || { echo "error: $dir is not a trained model directory; train it first with yardsticks.sh" >&2; exit 2; }
done
for model in "$@"; do
  dir=$(model_dir "$model")
  # a -tiles row shares its model's config: calibrate the model once
  if [ "$model" = "${model%-tiles}" ] || ! grep -q '"detection_score"' "$dir/config.json"; then
    "$PYTHON" "$HERE/recalibrate.py" "$dir" --data "$ZOO" > "$RUNS/$model.rescore.log" 2>&1
  fi
  for g in 0 50; do
    old=$RUNS/$model/eval-g$g
    if [ -f "$old/metrics.json" ]; then
      [ -e "$old.before-rescore" ] || mv "$old" "$old.before-rescore"
      rm -rf "$old"  # an evaluation already kept aside: this one is rebuilt by yardsticks below
    fi
  done
  bash "$HERE/yardsticks.sh" "$ZOO" "$RUNS" "$model"
done
