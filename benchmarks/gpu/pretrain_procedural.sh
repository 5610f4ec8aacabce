#!/usr/bin/env bash
# One device call for issue #17 (levers 2+3): pre-train the fingerprint encoder on procedural
# generator classes (benchmarks/zoo/procedural.py) on a GPU, and bring the weights back.
#
# Here first:  .venv/bin/python benchmarks/gpu/stage_procedural.py     (writes .gpu-carry/, git-ignored)
# Then:        run(command="bash benchmarks/gpu/pretrain_procedural.sh", carry=[".gpu-carry"], timeout_s=600)
# Run from the project root. Steps, each timed in the log:
#   1. build CLASSES procedural classes x (PER_TRAIN + PER_VAL) 128-px PNGs from the staged train
#      photos (.gpu-carry/photos, --photos-are-train) with JOBS processes (default: all cores);
#   2. aidetect train --recipe fingerprint on them (CUDA, WORKERS decoders, pixel cache, EPOCHS x
#      BATCH, patience 100, a GALLERY-per-class gallery so the final gallery/calibration is quick);
#   3. the best weights -> float16 safetensors + config.json (fingerprint of the float16 file) +
#      metrics.jsonl in $OUT/model/, a model directory `aidetect train --init` takes as it is
#      (benchmarks/gpu/procedural_weights.py); $OUT/procedural.json (the class recipes) and
#      $OUT/pretrain.log (everything printed) beside it.
# Deadline: the whole script stops by TOTAL_S (default 560 s, inside the call's 600 s). The build
# gets at most BUILD_S; training gets what is left minus RESERVE_S and is sent SIGTERM if it overruns
# (to the trainer alone, `timeout --foreground`, so its loader workers are not killed under it):
# the trainer stops after its current step with a checkpoint, and the best epoch's weights, saved
# after every improving epoch, are converted all the same (the log says so; the cosine schedule
# is then cut short and no gallery is built, which --init does not need).
#
# Sizing, measured once (2026-12-04, H200 + 16 cores, benchmarks/gpu/results/2026-12-04/): the build
# of 4000 x (8 + 2) files took 55 s; an epoch's 62 steps of 512 took 3.3-4.0 s (8,000-9,600 crops/s;
# 16.9 s for the first, which writes the pixel cache); 12 epochs and the final gallery took 248 s, of
# which 57 s were steps. Most of the rest was the final gallery: Gallery.add was O(C^3) in the class
# count then (about two minutes for 4,000 classes), fixed since (2.8 s). metrics.jsonl now records each
# epoch's BatchNorm re-estimation and validation seconds; if they are ~2 s, a full call's ~5 minutes
# of training fit about 40 epochs: try EPOCHS=40 (the cosine schedule needs the run to end, not be
# cut by the deadline, to reach its low learning rates).
# Tiny CPU mode (docs/training.md; 33 s on the loaded 2-core machine):
#   DEVICE=cpu CLASSES=6 EPOCHS=1 BATCH=16 JOBS=1 WORKERS=0 THREADS=1 PYTHON=.venv/bin/python \
#     OUT=/tmp/pp-out SCRATCH=/tmp/pp-scratch bash benchmarks/gpu/pretrain_procedural.sh
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
NPROC=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
JOBS=${JOBS:-$NPROC}
WORKERS=${WORKERS:-$(( NPROC - 1 ))}
CLASSES=${CLASSES:-4000}
PER_TRAIN=${PER_TRAIN:-8}
PER_VAL=${PER_VAL:-2}
SEED=${SEED:-0}
# INIT: where training starts (trainer's --init): unset = random weights; a model directory in the
# checkout (e.g. models/procedural-pretrain-8000) continues an earlier pre-training on new classes
# (a SEED not used before draws networks it has not seen; seeds 0 and 1 made the 8000 encoder), with a fresh cosine schedule.
INIT=${INIT:-}
EPOCHS=${EPOCHS:-16}
BATCH=${BATCH:-512}
BN_BATCHES=${BN_BATCHES:-8}
GALLERY=${GALLERY:-2}
TOTAL_S=${TOTAL_S:-560}
BUILD_S=${BUILD_S:-180}
RESERVE_S=${RESERVE_S:-45}
PHOTOS=${PHOTOS:-.gpu-carry/photos}
OUT=${OUT:-$(mktemp -d)}
W=${SCRATCH:-$(mktemp -d)}
mkdir -p "$OUT/model" "$W"
LOG=$OUT/pretrain.log
: > "$LOG"
T0=$SECONDS
log() { echo "== +$(( SECONDS - T0 ))s $*" | tee -a "$LOG"; }
run() { "$@" 2>&1 | grep --line-buffered -v "━" | tee -a "$LOG"; return "${PIPESTATUS[0]}"; }

log "env: device $DEVICE, $NPROC cores, jobs $JOBS, workers $WORKERS; $CLASSES classes x ($PER_TRAIN + $PER_VAL), seed $SEED;" \
    "init ${INIT:-random}, epochs $EPOCHS, batch $BATCH, bn-batches $BN_BATCHES, gallery $GALLERY/class; deadline ${TOTAL_S}s; scratch $W; out $OUT"
if [ "$DEVICE" = cuda ]; then
  run nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
# Fail fast (seconds, not minutes, of device time): the packages the build and the trainer import, and the GPU.
if ! run "$PY" -c "
import sys, torch, torchvision, PIL, filelock, safetensors, sklearn, typer, rich, aidetect.cli.main
print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available(), 'pillow', PIL.__version__)
sys.exit('$DEVICE' == 'cuda' and not torch.cuda.is_available())"; then
  log "error: a package is missing or CUDA is not available (DEVICE=$DEVICE)"; exit 2
fi
if [ ! -f .gpu-carry/STAGED.json ] && [ "$PHOTOS" = .gpu-carry/photos ]; then
  log "error: no .gpu-carry/STAGED.json: run benchmarks/gpu/stage_procedural.py here and carry .gpu-carry"; exit 2
fi
[ -f .gpu-carry/STAGED.json ] && "$PY" -c "import json; m = json.load(open('.gpu-carry/STAGED.json')); print('staged:', m['zoo_split']['train_photos'], 'train photos,', m['encoding'], 'photo_list_sha256', m['zoo_split']['photo_list_sha256'][:16])" 2>&1 | tee -a "$LOG"

log "build: $CLASSES procedural classes into $W/proc"
run timeout "$BUILD_S" "$PY" benchmarks/zoo/procedural.py --out "$W/proc" --classes "$CLASSES" \
  --per-class "$PER_TRAIN" "$PER_VAL" --seed "$SEED" --jobs "$JOBS" --photos "$PHOTOS" --photos-are-train
rc=$?
cp "$W/proc/procedural.json" "$OUT/" 2>/dev/null
if [ $rc -ne 0 ]; then log "error: the build ended with rc=$rc (124: over BUILD_S=${BUILD_S}s); no training"; exit 1; fi
log "build done: $(find "$W/proc/train" -name '*.png' | wc -l) train + $(find "$W/proc/val" -name '*.png' 2>/dev/null | wc -l) val files, $(du -sh "$W/proc" | cut -f1)"

LEFT=$(( TOTAL_S - (SECONDS - T0) - RESERVE_S ))
log "train: fingerprint recipe, at most ${LEFT}s"
run timeout --foreground --signal=TERM --kill-after=20 "$LEFT" "$PY" -m aidetect train --data "$W/proc" --recipe fingerprint \
  --device "$DEVICE" --workers "$WORKERS" --pixel-cache "$W/pixels" --epochs "$EPOCHS" --batch-size "$BATCH" \
  --patience 100 --bn-batches "$BN_BATCHES" --gallery-per-class "$GALLERY" --seed "$SEED" \
  ${M_PER_CLASS:+--m-per-class "$M_PER_CLASS"} ${THREADS:+--threads "$THREADS"} ${INIT:+--init "$INIT"} --out "$W/model"
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  log "train stopped at the deadline (rc=$rc): converting the best epoch saved so far ($(wc -l < "$W/model/metrics.jsonl" 2>/dev/null || echo 0) epochs ran; no gallery)"
elif [ $rc -ne 0 ]; then
  log "train failed (rc=$rc); converting whatever best weights were saved"
else
  log "train done"
fi

log "float16: $W/model -> $OUT/model"
run "$PY" benchmarks/gpu/procedural_weights.py half "$W/model" "$OUT/model" --probe "$W/proc/val"
rc2=$?
ls -l "$OUT" "$OUT/model" | tee -a "$LOG"
log "done (train rc=$rc, float16 rc=$rc2)"
[ $rc2 -eq 0 ] && { [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $rc -eq 137 ]; }
