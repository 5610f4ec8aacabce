#!/usr/bin/env bash
# One device call for issue #18: model-only vs end-to-end training and embedding, with and
# without the pixel cache, on a GenImage-shaped tree made there by all cores. Nothing to carry
# beyond the checkout (the tree is generated on the machine). From the project root:
#   run(command="bash benchmarks/gpu/throughput.sh", timeout_s=540)
# About 5-6 minutes on an H200 with 16 cores at PER_KIND=1000 (17,600 files, ~5 GB; cache ~3.4 GB).
# Prints the side-by-side table; $OUT/throughput-cuda.{txt,json} come back.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"
W=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
WORKERS=${WORKERS:-$(( $(nproc) - 1 ))}
timeout 500 python3 benchmarks/data_throughput.py --device cuda --workers "$WORKERS" --per-kind "${PER_KIND:-1000}" \
  --scratch "$W" --out "$OUT/throughput-cuda.json" 2>&1 | grep -v "━" | tee "$OUT/throughput-cuda.txt"
