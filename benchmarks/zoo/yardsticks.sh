#!/usr/bin/env bash
# The yardstick table of docs/zoo-benchmark.md: every encoder trained (or not) on the zoo's train
# split, evaluated on its test split with the gallery from its train split (all of it, and 50 per
# class), under evaluate's default conditions: clean, re-encoded as JPEG at quality 75, and wild.
#
#   bash benchmarks/zoo/yardsticks.sh ZOO_ROOT RUNS_DIR [MODEL...]
#
# MODEL is any of: default (the shipped models/default, evaluated as it is), <model>-tiles (a trained
# model's test images embedded whole, --tiles 4), <model>-draws (its 50-per-class evaluation with two
# more gallery draws; default-draws for the shipped model), spectrum random thesis thesis-leaveout fingerprint fingerprint-leaveout
# fingerprint-memory fingerprint-long fingerprint-long-leaveout fingerprint-latentout, procedural procedural-ft
# procedural-ft-leaveout procedural-ft-latentout (PRETRAINED=model dir), procedural8000 procedural8000-ft procedural8000-ft-more (needs procedural8000-ft) procedural8000-ft-real4 procedural8000-ft-seed2 procedural8000-ft-leaveout
# procedural8000-ft-resize procedural8000-ft-resize-leaveout procedural8000-ft-more-resize (needs procedural8000-ft)
# procedural8000-ft-webp procedural8000-ft-webp-leaveout procedural8000-ft-crop128 procedural8000-ft-aligned
# procedural8000-ft-aligned-leaveout procedural8000-ft-aligned-latentout procedural8000-ft-decfam-latentout (needs DECODER_FAMILY) procedural8000-ft-latentout-seed2
# procedural8000-ft-latentout procedural8000-ft-latentnpr procedural8000-ft-latentnpr-latentout, and <any fingerprint model>-fused, -fused-full, -welch,
# -welch-full (fused with the 2-D Welch spectrum instead of the radial one) or -stages (needs that model first),
# <a welch-* or fingerprint-recipe model>-hidden (e.g. welch-mlp-leaveout-hidden: read at its head's hidden layer; needs that model first),
# welch-mlp welch-mlp-leaveout welch-mlp-latentout (the welch recipe: a learned MLP over the 2-D Welch spectrum)
# welch-mlp-extra welch-mlp-extra-leaveout welch-mlp-extra-latentout (the same with procedural classes beside the zoo's; needs EXTRA_CLASSES)
# welch-mlp-softmax welch-mlp-softmax-leaveout welch-mlp-softmax-latentout (the welch recipe with --loss softmax instead of SupCon)
# welch-mlp-softmax-seed2 welch-mlp-softmax-leaveout-seed2 welch-mlp-softmax-latentout-seed2 (the shipped recipe and its two leave-outs with --seed 2)
# welch-mlp-softmax-extra welch-mlp-softmax-extra-leaveout welch-mlp-softmax-extra-latentout (the softmax with procedural classes beside the zoo's; needs EXTRA_CLASSES)
# welch-mlp-softmax-extra-leaveout-seed2 welch-mlp-softmax-extra-latentout-seed2 (its two leave-outs with --seed 2)
# welch-mlp-softmax-extra-wide welch-mlp-softmax-extra-wide-leaveout welch-mlp-softmax-extra-wide-latentout (the same with a hidden layer of 1,024; needs EXTRA_CLASSES)
# welch-mlp-softmax-extra16 welch-mlp-softmax-extra16-leaveout welch-mlp-softmax-extra16-latentout (16 procedural classes a batch instead of 64; needs EXTRA_CLASSES)
# welch-cooc-softmax welch-cooc-softmax-leaveout welch-cooc-softmax-latentout (the shipped recipe with co-occurrences of pixel residuals beside the spectrum: --arch welch-cooc-mlp)
# (default: all). Training runs use one thread each, so two can run side by side on 2 cores:
#   for m in fingerprint thesis fingerprint-leaveout thesis-leaveout; do bash benchmarks/zoo/yardsticks.sh /work/zoo runs/zoo $m & done
# Then: python benchmarks/zoo/table.py RUNS_DIR > table.md
set -euo pipefail
ZOO=${1:?zoo root}; RUNS=${2:?runs dir}; shift 2
MODELS=${*:-spectrum random thesis thesis-leaveout fingerprint fingerprint-leaveout}
AIDETECT=${AIDETECT:-.venv/bin/aidetect}
PYTHON=${PYTHON:-.venv/bin/python}  # for the benchmark scripts a row runs (the same environment as AIDETECT)
# Leave-out setting: one super-resolution network and one image-to-image GAN, different families.
LEAVE_OUT="--exclude realesrgan-x4 --exclude cyclegan-vintage"
# Latent-decoder leave-out (`*-latentout`, needs the zoo's five taesd-* classes, docs/zoo-data.md): the
# SD3 and FLUX.2 tiny autoencoders are left out of encoder training while SD1, SDXL and FLUX.1 are
# seen, so they test zero-shot attribution within a family of generators the encoder has seen.
# Not run yet:
#   bash benchmarks/zoo/yardsticks.sh /work/zoo runs/zoo fingerprint-latentout fingerprint-latentout-fused-full
LEAVE_OUT_LATENT="--exclude taesd-sd3 --exclude taesd-flux2"
# Passes over the 6,640 training images per learned encoder: about 30-40 minutes each when four
# runs share 2 cores (the runs in docs/zoo-benchmark.md, on the ten-class zoo). With the five taesd-*
# classes the train split holds 9,960 images, so expect about 1.5x that.
EPOCHS=${EPOCHS:-3}
# The long runs: about 80,000 training images seen, the budget at which the issue's first
# measurement found NPR/stride-1 well past the spectrum. About 100 minutes for the all-class run
# on one core beside other jobs (docs/zoo-benchmark.md); two free threads are faster:
#   OMP_NUM_THREADS=2 bash benchmarks/zoo/yardsticks.sh /work/zoo runs/zoo fingerprint-long fingerprint-long-leaveout
LONG_EPOCHS=${LONG_EPOCHS:-12}
# Passes for the welch-mlp rows (its own recipe: whole 256-px images, a model that costs next to
# nothing beside decoding them)
WELCH_EPOCHS=${WELCH_EPOCHS:-30}
# Fusion (`<model>-fused`): a trained model's embedding beside the spectrum feature; no further
# training (--epochs 0), only the spectrum statistics are fitted and the spectrum's share of the
# similarity chosen on the validation split ("auto"), or set (FUSE=0.5).
FUSE=${FUSE:-auto}
# Procedural pre-training (`procedural*`, docs/training.md): an encoder pre-trained on a GPU on
# thousands of procedural up-sampling classes, none of them a zoo class, brought back as a model
# directory by benchmarks/gpu/procedural_weights.py install. `procedural`: used as it is (only the
# gallery and calibration come from the zoo, so every zoo class is unseen by the encoder);
# `procedural-ft*`: fine-tuned on the zoo with the fingerprint recipe for EPOCHS epochs.
# The 4,000-class encoder left the working tree when the 8,000-class one (its continuation) came in,
# to keep a device call's carry under 64 MiB; git history keeps it:
#   git checkout 0d75f43 -- models/procedural-pretrain-4000
PRETRAINED=${PRETRAINED:-models/procedural-pretrain-4000}
# `procedural8000*`: the same rows from the longer pre-training (models/procedural-pretrain-8000:
# the 4,000-class encoder continued for 40 epochs on 4,000 new classes, seed 1; its README).
PRETRAINED_8000=${PRETRAINED_8000:-models/procedural-pretrain-8000}
# `*-decfam*`: trained on the zoo and a family of perturbed latent decoders together (evaluated on
# the zoo alone; a `-stages` readout of it is fitted on the zoo alone, like every other row's), built
# first with:
#   python benchmarks/zoo/decoder_family.py --zoo ZOO --out ZOO-decoders --link-zoo
DECODER_FAMILY=${DECODER_FAMILY:-${ZOO%/}-decoders}
# `welch-mlp-extra*`: the welch-mlp rows trained with procedural up-sampling classes beside the zoo's
# (train --extra-classes: 64 of them join every batch, 8 images each; they never enter the gallery or
# calibration), a set built at the recipe's 256 px first, e.g. (18 to 46 minutes on one core, measured in two
# sessions, by what shared the machine):
#   python benchmarks/zoo/procedural.py --out ZOO-procedural256 --size 256 --classes 1000 --per-class 8 0 --check-zoo ZOO
EXTRA_CLASSES=${EXTRA_CLASSES:-${ZOO%/}-procedural256}
# `*-wide*`: the welch-mlp head's hidden layer at 1,024 units instead of the default 512
WIDE="--projection-hidden 1024"
# `*-extra16*`: 16 procedural classes join each batch (128 rows beside the zoo's 480) instead of 64 (512 rows)
FEW_EXTRA="--extra-classes-per-batch 16"
# the bundled model the `default*` rows evaluate as it is (models/default links to aidetect/bundled/default)
DEFAULT_MODEL="$(dirname "$0")/../../models/default"
# PIXEL_CACHE=DIR: training reads decoded pixels from there after its first epoch (train --pixel-cache;
# the same tensors, bit-identical weights: tests/test_pixel_cache.py), only faster
PIXEL_CACHE=${PIXEL_CACHE:-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$RUNS"

train() {  # name, options...
  local name=$1; shift
  if [ ! -f "$RUNS/$name/gallery.npz" ]; then
    # a run cut off after an epoch goes on from its checkpoint, its log appended to, not started over
    local resume=()
    if [ -f "$RUNS/$name/checkpoint.pt" ]; then resume=(--resume); else : > "$RUNS/$name.train.log"; fi
    /usr/bin/time -f "$name: trained in %e s" "$AIDETECT" train --data "$train_data" --out "$RUNS/$name" --workers 0 --device cpu "$@" \
      ${PIXEL_CACHE:+--pixel-cache "$PIXEL_CACHE"} ${resume[@]+"${resume[@]}"} 2> >(grep -v "━" >> "$RUNS/$name.train.log")
  fi
}

evaluate_once() {  # name, model directory, output folder under RUNS/name, evaluate options...
  # skipped when that folder already holds its metrics.json, so an interrupted row picks up where it stopped
  local name=$1 model=$2 folder=$3; shift 3
  [ -f "$RUNS/$name/$folder/metrics.json" ] || "$AIDETECT" evaluate --data "$ZOO" --model "$model" \
    --out "$RUNS/$name/$folder" --workers 0 "$@" > /dev/null 2>> "$RUNS/$name.eval.log"
}

evaluate() {  # name [model directory, default RUNS/name] [evaluate options...]
  local name=$1 model=${2:-$RUNS/$1}; shift; shift || true
  for g in 0 50; do
    evaluate_once "$name" "$model" "eval-g$g" --gallery-per-class $g "$@"
  done
}

inherited_options() {  # base run name -> the options a readout or fusion of it must repeat
  # its leave-out (the classes it never trained on stay out of the readout's statistics) and its
  # front-end (--init refuses a model whose input differs from its own)
  case $1 in *leaveout*) printf '%s' "$LEAVE_OUT" ;; *latentout*) printf '%s' "$LEAVE_OUT_LATENT" ;; esac
  case $1 in *latentnpr*) printf ' %s' "--front-end npr-latent" ;; esac
  # and its loss, so the readout's config.json records what trained the weights it reads
  case $1 in *-softmax*) printf ' %s' "--loss softmax" ;; esac
  # and its encoder, where the recipe's is not the one it trained (--init refuses another)
  case $1 in welch-cooc*) printf ' %s' "--arch welch-cooc-mlp" ;; esac
  # and its head's width (--init refuses a model of another width)
  case $1 in *-wide*) printf ' %s' "$WIDE" ;; esac
}

for model in $MODELS; do
  train_data=$ZOO  # what `train` trains on; a row may name another (the decoder family)
  case $model in
    *-draws|*-tiles) ;;  # evaluate a trained run only: no pre-trained encoder needed
    procedural|procedural-ft*)  # only training needs the pre-trained encoder; a trained run is evaluated without it
      [ -f "$PRETRAINED/config.json" ] || [ -f "$RUNS/$model/gallery.npz" ] || { echo "error: $model starts from $PRETRAINED, which this checkout lacks; restore it with: git checkout 0d75f43 -- models/procedural-pretrain-4000 (or set PRETRAINED=DIR)" >&2; exit 2; } ;;
  esac
  case $model in
    default)              mkdir -p "$RUNS/default"; evaluate default "$DEFAULT_MODEL"; continue ;;
    default-tiles)        mkdir -p "$RUNS/$model"; evaluate "$model" "$DEFAULT_MODEL" --tiles 4; continue ;;
    # <model>-tiles: that model with each test image embedded whole, as detect/attribute do
    # (the mean of 4 tiles of a 256-px test image at a 128-px input; one window at a 256-px input); no training
    *-tiles)              base=${model%-tiles}; mkdir -p "$RUNS/$model"; evaluate "$model" "$RUNS/$base" --tiles 4; continue ;;
    # <model>-draws: that model's 50-per-class evaluation again with two other draws of the 50
    # (--seed 1 and 2; the test conditions, wild's chain included, stay the same), beside eval-g50:
    # how much of a difference between two runs is the draw's (benchmarks/zoo/gallery_draws.py)
    *-draws)
      base=${model%-draws}
      model_dir=$RUNS/$base; [ "$base" = default ] && model_dir=$DEFAULT_MODEL
      for draw in 1 2; do
        evaluate_once "$base" "$model_dir" "eval-g50-draw$draw" --gallery-per-class 50 --seed $draw
      done
      continue ;;
    spectrum)             train spectrum --arch spectrum --preprocess crop --image-size 256 ;;
    random)               train random --recipe thesis --image-size 128 --epochs 0 ;;
    thesis)               train thesis --recipe thesis --image-size 128 --batch-size 80 --epochs $EPOCHS --patience 100 ;;
    thesis-leaveout)      train thesis-leaveout --recipe thesis --image-size 128 --batch-size 80 --epochs $EPOCHS --patience 100 $LEAVE_OUT ;;
    fingerprint)          train fingerprint --recipe fingerprint --batch-size 80 --epochs $EPOCHS --patience 100 ;;
    fingerprint-leaveout) train fingerprint-leaveout --recipe fingerprint --batch-size 80 --epochs $EPOCHS --patience 100 $LEAVE_OUT ;;
    fingerprint-memory)   train fingerprint-memory --recipe fingerprint --batch-size 80 --epochs $EPOCHS --patience 100 --memory 800 --warmup-temperature 0.5 ;;
    fingerprint-long)     train fingerprint-long --recipe fingerprint --batch-size 80 --epochs $LONG_EPOCHS --patience 100 ;;
    fingerprint-long-leaveout) train fingerprint-long-leaveout --recipe fingerprint --batch-size 80 --epochs $LONG_EPOCHS --patience 100 $LEAVE_OUT ;;
    fingerprint-latentout) train fingerprint-latentout --recipe fingerprint --batch-size 80 --epochs $EPOCHS --patience 100 $LEAVE_OUT_LATENT ;;
    procedural)           train procedural --recipe fingerprint --init "$PRETRAINED" --epochs 0 ;;
    procedural-ft)        train procedural-ft --recipe fingerprint --init "$PRETRAINED" --batch-size 80 --epochs $EPOCHS --patience 100 ;;
    procedural-ft-leaveout) train procedural-ft-leaveout --recipe fingerprint --init "$PRETRAINED" --batch-size 80 --epochs $EPOCHS --patience 100 $LEAVE_OUT ;;
    procedural8000)       train procedural8000 --recipe fingerprint --init "$PRETRAINED_8000" --epochs 0 ;;
    procedural8000-ft)    train procedural8000-ft --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 ;;
    procedural8000-ft-leaveout) train procedural8000-ft-leaveout --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 $LEAVE_OUT ;;
    # 3 more CPU epochs from the fine-tuned model, the schedule started again: is the fine-tuning compute-bound?
    procedural8000-ft-more) train procedural8000-ft-more --recipe fingerprint --init "$RUNS/procedural8000-ft" --batch-size 80 --epochs $EPOCHS --patience 100 ;;
    # the same fine-tuning with another seed (batches, crops, augmentation): how much one CPU run varies
    procedural8000-ft-seed2) train procedural8000-ft-seed2 --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --seed 2 ;;
    # the same fine-tuning with SupCon's real anchors counting 4 times the others (docs/training.md)
    procedural8000-ft-real4) train procedural8000-ft-real4 --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --real-weight 4 ;;
    # the same fine-tuning with 30 % of training images downscaled first (--resize-p 0.3, factor 0.5-1.0):
    # do traces learned at native resolution survive the resampling platforms apply (the `wild` columns)?
    procedural8000-ft-resize) train procedural8000-ft-resize --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --resize-p 0.3 ;;
    # the fine-tuned model as --init, 3 more epochs with --resize-p 0.3: downscaling learned after the
    # native traces, beside procedural8000-ft-more (the same 3 epochs without it)
    procedural8000-ft-more-resize) train procedural8000-ft-more-resize --recipe fingerprint --init "$RUNS/procedural8000-ft" --batch-size 80 --epochs $EPOCHS --patience 100 --resize-p 0.3 ;;
    # the same fine-tuning with 20 % of training images re-encoded as WebP (quality 60-95) where JPEG is not
    # drawn (JPEG 0.5, WebP 0.2, neither 0.3): the wild chains save a fifth of the images as WebP
    procedural8000-ft-webp) train procedural8000-ft-webp --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --webp-p 0.2 ;;
    procedural8000-ft-webp-leaveout) train procedural8000-ft-webp-leaveout --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --webp-p 0.2 $LEAVE_OUT ;;
    # the same compute as the 3-epoch fine-tuning (one epoch of 128-px crops, 4x the pixels of a 64-px one),
    # spent on the crops evaluation sees: is the 64-px training context what holds the encoder back?
    procedural8000-ft-crop128) train procedural8000-ft-crop128 --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs 1 --patience 100 --train-image-size 128 ;;
    procedural8000-ft-resize-leaveout) train procedural8000-ft-resize-leaveout --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --resize-p 0.3 $LEAVE_OUT ;;
    procedural8000-ft-latentout) train procedural8000-ft-latentout --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 $LEAVE_OUT_LATENT ;;
    # the latent-decoder leave-out again with another seed: one run's spread in exactly the comparison
    # the decoder family is read against (zero-shot detection of taesd-sd3/flux2)
    procedural8000-ft-latentout-seed2) train procedural8000-ft-latentout-seed2 --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --seed 2 $LEAVE_OUT_LATENT ;;
    # the same fine-tunings with aligned batches (--aligned: a real window and its generators' versions of it
    # in one batch, one crop and augmentation per window; docs/training.md)
    procedural8000-ft-aligned) train procedural8000-ft-aligned --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --aligned ;;
    procedural8000-ft-aligned-leaveout) train procedural8000-ft-aligned-leaveout --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --aligned $LEAVE_OUT ;;
    procedural8000-ft-aligned-latentout) train procedural8000-ft-aligned-latentout --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 --aligned $LEAVE_OUT_LATENT ;;
    # the fine-tuning with NPR and the residual over 8×8 cells as input (--front-end npr-latent, crops on
    # the 8-px grid; the pre-trained npr stem widened with zero weights): the latent decoders' cell period,
    # which NPR's 2×2 residual attenuates (benchmarks/zoo/latent_grid.py)
    procedural8000-ft-latentnpr) train procedural8000-ft-latentnpr --recipe fingerprint --front-end npr-latent --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 ;;
    procedural8000-ft-latentnpr-latentout) train procedural8000-ft-latentnpr-latentout --recipe fingerprint --front-end npr-latent --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 $LEAVE_OUT_LATENT ;;
    # the latent-decoder leave-out with perturbed copies of the three seen decoders as further classes
    procedural8000-ft-decfam-latentout)
      [ -f "$RUNS/$model/gallery.npz" ] || "$PYTHON" "$(dirname "$0")/decoder_family.py" --check \
        --zoo "$ZOO" --out "$DECODER_FAMILY" --left-out taesd-sd3 taesd-flux2 || exit 2
      train_data=$DECODER_FAMILY
      train procedural8000-ft-decfam-latentout --recipe fingerprint --init "$PRETRAINED_8000" --batch-size 80 --epochs $EPOCHS --patience 100 $LEAVE_OUT_LATENT ;;
    procedural-ft-latentout) train procedural-ft-latentout --recipe fingerprint --init "$PRETRAINED" --batch-size 80 --epochs $EPOCHS --patience 100 $LEAVE_OUT_LATENT ;;
    # the welch recipe: a learned MLP over the 2-D Welch spectrum of whole 256-px images (welch-mlp,
    # aidetect/models/encoder.py), from random weights, SupCon on class-balanced batches of 32 per
    # class; decoding in 2 workers (it is the cost: the model is an FFT and two linear layers)
    welch-mlp) train welch-mlp --recipe welch --batch-size 480 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 ;;
    welch-mlp-leaveout) train welch-mlp-leaveout --recipe welch --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 $LEAVE_OUT ;;
    welch-mlp-latentout) train welch-mlp-latentout --recipe welch --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 $LEAVE_OUT_LATENT ;;
    welch-mlp-extra) train welch-mlp-extra --recipe welch --batch-size 480 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" ;;
    welch-mlp-extra-leaveout) train welch-mlp-extra-leaveout --recipe welch --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $LEAVE_OUT ;;
    welch-mlp-extra-latentout) train welch-mlp-extra-latentout --recipe welch --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $LEAVE_OUT_LATENT ;;
    # the welch recipe trained with a softmax over the classes instead of SupCon (--loss softmax: a
    # classifier head used only in training; read it at its hidden layer, welch-mlp-softmax*-hidden)
    welch-mlp-softmax) train welch-mlp-softmax --recipe welch --loss softmax --batch-size 480 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 ;;
    welch-mlp-softmax-leaveout) train welch-mlp-softmax-leaveout --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 $LEAVE_OUT ;;
    welch-mlp-softmax-extra) train welch-mlp-softmax-extra --recipe welch --loss softmax --batch-size 480 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" ;;
    welch-mlp-softmax-extra-leaveout) train welch-mlp-softmax-extra-leaveout --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $LEAVE_OUT ;;
    welch-mlp-softmax-extra-latentout) train welch-mlp-softmax-extra-latentout --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $LEAVE_OUT_LATENT ;;
    # its two leave-outs again with another seed: is its zero-shot gain beyond one run's spread?
    welch-mlp-softmax-extra-leaveout-seed2) train welch-mlp-softmax-extra-leaveout-seed2 --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" --seed 2 $LEAVE_OUT ;;
    welch-mlp-softmax-extra-latentout-seed2) train welch-mlp-softmax-extra-latentout-seed2 --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" --seed 2 $LEAVE_OUT_LATENT ;;
    # the same with a head twice as wide (--projection-hidden 1024; the hidden layer is what the -hidden
    # readout reads): room for the procedural classes beside the fine differences between the zoo's decoders
    welch-mlp-softmax-extra-wide) train welch-mlp-softmax-extra-wide --recipe welch --loss softmax --batch-size 480 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $WIDE ;;
    welch-mlp-softmax-extra-wide-leaveout) train welch-mlp-softmax-extra-wide-leaveout --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $WIDE $LEAVE_OUT ;;
    welch-mlp-softmax-extra-wide-latentout) train welch-mlp-softmax-extra-wide-latentout --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $WIDE $LEAVE_OUT_LATENT ;;
    # the procedural-classes recipe with a quarter of the procedural rows a batch: do 512 procedural rows
    # beside the zoo's 480 crowd out the seen latent decoders (taesd-sdxl 65 -> 55 % with them)?
    welch-mlp-softmax-extra16) train welch-mlp-softmax-extra16 --recipe welch --loss softmax --batch-size 480 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $FEW_EXTRA ;;
    welch-mlp-softmax-extra16-leaveout) train welch-mlp-softmax-extra16-leaveout --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $FEW_EXTRA $LEAVE_OUT ;;
    welch-mlp-softmax-extra16-latentout) train welch-mlp-softmax-extra16-latentout --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --extra-classes "$EXTRA_CLASSES" $FEW_EXTRA $LEAVE_OUT_LATENT ;;
    # the shipped recipe with co-occurrences of pixel residuals beside the Welch spectrum (--arch
    # welch-cooc-mlp, docs/training.md); its decoding and augmentation as the welch-mlp-softmax rows'
    welch-cooc-softmax) train welch-cooc-softmax --recipe welch --arch welch-cooc-mlp --loss softmax --batch-size 480 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 ;;
    welch-cooc-softmax-leaveout) train welch-cooc-softmax-leaveout --recipe welch --arch welch-cooc-mlp --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 $LEAVE_OUT ;;
    welch-cooc-softmax-latentout) train welch-cooc-softmax-latentout --recipe welch --arch welch-cooc-mlp --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 $LEAVE_OUT_LATENT ;;
    welch-mlp-softmax-latentout) train welch-mlp-softmax-latentout --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 $LEAVE_OUT_LATENT ;;
    # the shipped recipe and its two leave-outs again with another seed (batches, augmentation, initial
    # weights): how far one run's cells move, the zero-shot ones that sit at the goal's mark most
    welch-mlp-softmax-seed2) train welch-mlp-softmax-seed2 --recipe welch --loss softmax --batch-size 480 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --seed 2 ;;
    welch-mlp-softmax-leaveout-seed2) train welch-mlp-softmax-leaveout-seed2 --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --seed 2 $LEAVE_OUT ;;
    welch-mlp-softmax-latentout-seed2) train welch-mlp-softmax-latentout-seed2 --recipe welch --loss softmax --batch-size 416 --m-per-class 32 --epochs $WELCH_EPOCHS --patience 100 --bn-batches 4 --workers 2 --seed 2 $LEAVE_OUT_LATENT ;;
    *-stages)      # that model's trunk and head, its embedding read from the trunk's stages (--readout stages:
                   # statistics fitted on the training split, no further training; docs/training.md)
      base=${model%-stages}
      extra=$(inherited_options "$base")
      train "$model" --recipe fingerprint --init "$RUNS/$base" --readout stages --epochs 0 $extra ;;
    *-hidden)      # that model's trunk and head, its embedding read from the head's hidden layer (--readout
                   # hidden: the layer before the last, through a map fitted on the training split; no training)
      base=${model%-hidden}
      extra=$(inherited_options "$base")
      case $base in welch-*) recipe=welch ;; *) recipe=fingerprint ;; esac
      train "$model" --recipe $recipe --init "$RUNS/$base" --readout hidden --epochs 0 $extra ;;
    *-fused-full)  # the spectrum over the whole 256-px image, the learned part on its centre 128 px
      base=${model%-fused-full}
      extra=$(inherited_options "$base")
      case $base in *-stages) extra="$extra --readout stages" ;; esac  # the readout is fitted again on the fused run's input
      train "$model" --recipe fingerprint --init "$RUNS/$base" --fuse-spectrum "$FUSE" --image-size 256 --learned-crop 128 --epochs 0 $extra ;;
    *-welch-full)  # the 2-D Welch spectrum (--spectrum welch) over the whole 256-px image, the learned part on its centre 128 px
      base=${model%-welch-full}
      extra=$(inherited_options "$base")
      case $base in *-stages) extra="$extra --readout stages" ;; esac
      train "$model" --recipe fingerprint --init "$RUNS/$base" --fuse-spectrum "$FUSE" --spectrum welch --image-size 256 --learned-crop 128 --epochs 0 $extra ;;
    *-welch)       # the 2-D Welch spectrum and the learned part, both on the centre 128 px
      base=${model%-welch}
      extra=$(inherited_options "$base")
      case $base in *-stages) extra="$extra --readout stages" ;; esac
      train "$model" --recipe fingerprint --init "$RUNS/$base" --fuse-spectrum "$FUSE" --spectrum welch --epochs 0 $extra ;;
    *-fused)       # both parts on the centre 128 px
      base=${model%-fused}
      extra=$(inherited_options "$base")
      case $base in *-stages) extra="$extra --readout stages" ;; esac
      train "$model" --recipe fingerprint --init "$RUNS/$base" --fuse-spectrum "$FUSE" --epochs 0 $extra ;;
    *) echo "unknown model $model" >&2; exit 2 ;;
  esac
  evaluate "$model"
done
