#!/usr/bin/env bash
# The whole device session in one call: a session is lent 15 minutes of device time, the machine's
# start takes one or two of them, and a second start is not affordable, so the two prepared
# device checks run back to back inside one call's 600 s:
#   1. benchmarks/gpu/throughput.sh (issue #18: model-only vs end-to-end images/s, with and
#      without the pixel cache), capped at THROUGHPUT_S (default 230 s), on a smaller tree than
#      its own default (PER_KIND 600: 10,560 files);
#   2. benchmarks/gpu/pretrain_procedural.sh (issue #17: pre-training on procedural generator
#      classes), given what is left of CALL_S (default 575 s) as its deadline.
# Here first: .venv/bin/python benchmarks/gpu/stage_procedural.py   (writes .gpu-carry/)
# Then:       run(command="bash benchmarks/gpu/session.sh", carry=[".gpu-carry"], timeout_s=600)
# What comes back: throughput-cuda.{txt,json}, pretrain.log, procedural.json, model/{model.safetensors,
# config.json,metrics.jsonl}: seven files, within the tool's eight.
set -uo pipefail
START=$SECONDS
CALL_S=${CALL_S:-575}
THROUGHPUT_S=${THROUGHPUT_S:-230}
OUT=${OUT:-$(mktemp -d)}; export OUT
echo "== session: throughput for at most ${THROUGHPUT_S}s, then pre-training until ${CALL_S}s"
PER_KIND=${PER_KIND:-600} DATA_PATH_FILES=${DATA_PATH_FILES:-400} \
  timeout --signal=TERM --kill-after=10 "$THROUGHPUT_S" bash benchmarks/gpu/throughput.sh
echo "== throughput rc=$? after $(( SECONDS - START ))s"
TOTAL_S=$(( CALL_S - (SECONDS - START) ))
# The pre-training's own budget: the build gets up to a third of it (it was sized at 180 s of 560).
BUILD_S=${BUILD_S:-$(( TOTAL_S / 3 ))} TOTAL_S=$TOTAL_S bash benchmarks/gpu/pretrain_procedural.sh
echo "== pre-training rc=$? after $(( SECONDS - START ))s"
