#!/usr/bin/env bash
# One device call for issue #18: model-only vs end-to-end training and embedding, with and
# without the pixel cache, on a GenImage-shaped tree made there by all cores. Nothing to carry
# beyond the checkout (the tree is generated on the machine). From the project root:
#   run(command="bash benchmarks/gpu/throughput.sh", timeout_s=540)
# (benchmarks/gpu/session.sh runs it first, on a smaller tree, before the pre-training.)
# PER_KIND=1000 is 17,600 files (~5 GB); making them costs ~0.06-0.15 s of CPU a file.
# Prints the side-by-side table; $OUT/throughput-cuda.{txt,json} come back.
# Tiny CPU mode: DEVICE=cpu PYTHON=.venv/bin/python WORKERS=1 PER_KIND=8 DATA_PATH_FILES=16 \
#   EXTRA="--image-size 64 --batch-size 16 --model-steps 2" bash benchmarks/gpu/throughput.sh
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"
W=$(mktemp -d)
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nproc
"$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
WORKERS=${WORKERS:-$(( $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) - 1 ))}  # nproc obeys OMP_NUM_THREADS
timeout 500 "$PY" benchmarks/data_throughput.py --device "$DEVICE" --workers "$WORKERS" --per-kind "${PER_KIND:-1000}" \
  --data-path-files "${DATA_PATH_FILES:-800}" ${EXTRA:-} \
  --scratch "$W" --out "$OUT/throughput-$DEVICE.json" 2>&1 | grep -v "━" | tee "$OUT/throughput-$DEVICE.txt"
rm -rf "$W"
