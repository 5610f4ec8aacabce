#!/usr/bin/env bash
# The CPU figures of docs/performance.md, one after the other, on an otherwise idle machine:
#   bash benchmarks/run_cpu_benchmarks.sh MODEL_DIR > perf.log 2>&1
set -euo pipefail
PY=${PY:-.venv/bin/python}
MODEL=${1:?a model directory, for the start-up breakdown}
echo "== $(date -u +%F) on $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "== embedding pipeline"; $PY benchmarks/embed_pipeline.py --workers 0 1 2
echo "== gallery search";     $PY benchmarks/gallery_search.py
echo "== start-up";           $PY benchmarks/startup.py --model "$MODEL"
echo "== training step (CPU, small)"; $PY benchmarks/train_throughput.py --device cpu --image-size 128 --batch-size 32 --steps 3
