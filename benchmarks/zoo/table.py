"""Markdown tables for docs/zoo-benchmark.md from the runs of benchmarks/zoo/yardsticks.sh.

    python benchmarks/zoo/table.py RUNS_DIR

Every number is read from RUNS_DIR/<model>/eval-g<0|50>/metrics.json (written by
`aidetect evaluate`) and the training time from RUNS_DIR/<model>.train.log. Runs rescored by
benchmarks/zoo/rescore.sh also get a table of detection AUC before (eval-g0.before-rescore) and after.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ORDER = [
    "default", "default-2026-12", "default-2026-11", "spectrum", "random", "thesis", "thesis-leaveout", "fingerprint", "fingerprint-leaveout", "fingerprint-memory", "fingerprint-fused",
    "fingerprint-fused-full", "fingerprint-leaveout-fused-full", "fingerprint-long", "fingerprint-long-leaveout", "fingerprint-long-fused",
    "fingerprint-long-fused-full", "fingerprint-long-leaveout-fused", "fingerprint-long-leaveout-fused-full",
    "fingerprint-latentout", "fingerprint-latentout-fused-full",
    "fingerprint-tiles", "fingerprint-leaveout-tiles", "fingerprint-latentout-tiles", "default-tiles",
    "procedural", "procedural-ft", "procedural-ft-leaveout", "procedural-ft-latentout",
    "procedural-fused-full", "procedural-ft-fused-full",
    "procedural8000", "procedural8000-ft", "procedural8000-ft-tiles", "procedural8000-ft-more", "procedural8000-ft-more-resize", "procedural8000-ft-real4",
    "procedural8000-ft-seed2", "procedural8000-ft-resize", "procedural8000-ft-webp", "procedural8000-ft-leaveout", "procedural8000-ft-resize-leaveout",
    "procedural8000-ft-webp-leaveout", "procedural8000-ft-crop128",
    "procedural8000-ft-latentout", "procedural8000-ft-fused-full",
    "procedural8000-ft-more-fused-full", "procedural8000-ft-real4-fused-full",
    "procedural8000-ft-stages", "procedural8000-ft-leaveout-stages", "procedural8000-ft-latentout-stages",
    "procedural8000-ft-aligned", "procedural8000-ft-aligned-stages", "procedural8000-ft-aligned-leaveout",
    "procedural8000-ft-aligned-leaveout-stages", "procedural8000-ft-aligned-latentout",
    "procedural8000-ft-aligned-latentout-stages", "procedural8000-ft-decfam-latentout", "procedural8000-ft-decfam-latentout-stages",
    "procedural8000-ft-latentout-seed2", "procedural8000-ft-latentout-seed2-stages", "procedural8000-ft-seed2-stages",
    "procedural8000-ft-latentnpr", "procedural8000-ft-latentnpr-stages", "procedural8000-ft-latentnpr-latentout",
    "procedural8000-ft-latentnpr-latentout-stages",
    "procedural8000-ft-stages-fused-full",
    "procedural8000-ft-stages-welch", "procedural8000-ft-stages-welch-tiles", "procedural8000-ft-stages-welch-full",
    "procedural8000-ft-leaveout-stages-welch", "procedural8000-ft-leaveout-stages-welch-full",
    "procedural8000-ft-latentout-stages-welch", "procedural8000-ft-latentout-stages-welch-full",
    "welch-mlp", "welch-mlp-leaveout", "welch-mlp-latentout",
    "welch-mlp-extra", "welch-mlp-extra-leaveout", "welch-mlp-extra-latentout",
    "welch-mlp-hidden", "welch-mlp-leaveout-hidden", "welch-mlp-latentout-hidden",
    "welch-mlp-extra-hidden", "welch-mlp-extra-leaveout-hidden", "welch-mlp-extra-latentout-hidden",
    "welch-mlp-softmax", "welch-mlp-softmax-leaveout", "welch-mlp-softmax-latentout",
    "welch-mlp-softmax-hidden", "welch-mlp-softmax-leaveout-hidden", "welch-mlp-softmax-latentout-hidden",
    "welch-mlp-softmax-extra", "welch-mlp-softmax-extra-leaveout",
    "welch-mlp-softmax-extra-hidden", "welch-mlp-softmax-extra-leaveout-hidden",
    "welch-mlp-softmax-extra-latentout", "welch-mlp-softmax-extra-latentout-hidden",
    "welch-mlp-softmax-extra-leaveout-seed2", "welch-mlp-softmax-extra-latentout-seed2",
    "welch-mlp-softmax-extra-leaveout-seed2-hidden", "welch-mlp-softmax-extra-latentout-seed2-hidden",
    "welch-mlp-softmax-extra-wide", "welch-mlp-softmax-extra-wide-leaveout", "welch-mlp-softmax-extra-wide-latentout",
    "welch-mlp-softmax-extra-wide-hidden", "welch-mlp-softmax-extra-wide-leaveout-hidden",
    "welch-mlp-softmax-extra-wide-latentout-hidden",
    "welch-mlp-softmax-extra16", "welch-mlp-softmax-extra16-leaveout", "welch-mlp-softmax-extra16-latentout",
    "welch-mlp-softmax-extra16-hidden", "welch-mlp-softmax-extra16-leaveout-hidden",
    "welch-mlp-softmax-extra16-latentout-hidden",
    "welch-mlp-softmax-seed2", "welch-mlp-softmax-leaveout-seed2", "welch-mlp-softmax-latentout-seed2",
    "welch-mlp-softmax-seed2-hidden", "welch-mlp-softmax-leaveout-seed2-hidden", "welch-mlp-softmax-latentout-seed2-hidden",
    "welch-cooc-softmax", "welch-cooc-softmax-leaveout", "welch-cooc-softmax-latentout",
    "welch-cooc-softmax-hidden", "welch-cooc-softmax-leaveout-hidden", "welch-cooc-softmax-latentout-hidden",
]
LABELS = {
    "default": "shipped default (models/default, as it is)",
    "default-2026-12": "previous default (e9fb51681ad1dfda, the learned head fused with the spectrum at weight 0.3; its evaluation moved from `default`)",
    "default-2026-11": "previous default (6b50126b0766229b, trained on the ten-class zoo; its evaluation moved from `default`)",
    "spectrum": "spectrum yardstick (no training)",
    "random": "EfficientNet-B0, random weights (no training)",
    "thesis": "thesis recipe (RGB 128 px, SupCon)",
    "thesis-leaveout": "thesis recipe, leave-out",
    "fingerprint": "fingerprint recipe (NPR, stride 1, JPEG aug.)",
    "fingerprint-leaveout": "fingerprint recipe, leave-out",
    "fingerprint-memory": "fingerprint recipe + cross-batch memory (800) + warm-up τ 0.5",
    "fingerprint-fused": "fingerprint recipe + spectrum (fused)",
    "fingerprint-fused-full": "fingerprint recipe + spectrum of the whole image (fused)",
    "fingerprint-leaveout-fused-full": "fingerprint recipe, leave-out + spectrum of the whole image (fused)",
    "fingerprint-long": "fingerprint recipe, 12 epochs",
    "fingerprint-long-leaveout": "fingerprint recipe, 12 epochs, leave-out",
    "fingerprint-long-fused": "fingerprint recipe, 12 epochs + spectrum (fused)",
    "fingerprint-long-leaveout-fused": "fingerprint recipe, 12 epochs, leave-out + spectrum (fused)",
    "fingerprint-long-fused-full": "fingerprint recipe, 12 epochs + spectrum of the whole image (fused)",
    "fingerprint-long-leaveout-fused-full": "fingerprint recipe, 12 epochs, leave-out + spectrum of the whole image (fused)",
    "fingerprint-latentout": "fingerprint recipe, latent-decoder leave-out (taesd-sd3, taesd-flux2)",
    "fingerprint-latentout-fused-full": "fingerprint recipe, latent-decoder leave-out + spectrum of the whole image (fused)",
    "fingerprint-tiles": "fingerprint recipe, test images whole (mean of 4 tiles)",
    "fingerprint-leaveout-tiles": "fingerprint recipe, leave-out, test images whole (mean of 4 tiles)",
    "fingerprint-latentout-tiles": "fingerprint recipe, latent-decoder leave-out, test images whole (mean of 4 tiles)",
    "default-tiles": "shipped default, test images whole (evaluate --tiles 4: one window for a 256-px input)",
    "procedural": "procedural pre-training (GPU, 4,000 classes), no zoo training",
    "procedural-ft": "procedural pre-training + fingerprint recipe on the zoo",
    "procedural-ft-leaveout": "procedural pre-training + fingerprint recipe, leave-out",
    "procedural-ft-latentout": "procedural pre-training + fingerprint recipe, latent-decoder leave-out (taesd-sd3, taesd-flux2)",
    "procedural-fused-full": "procedural pre-training, no zoo training + spectrum of the whole image (fused)",
    "procedural-ft-fused-full": "procedural pre-training + fingerprint recipe + spectrum of the whole image (fused)",
    "procedural8000": "longer procedural pre-training (GPU, 8,000 classes, 52 epochs), no zoo training",
    "procedural8000-ft": "longer procedural pre-training + fingerprint recipe on the zoo",
    "procedural8000-ft-leaveout": "longer procedural pre-training + fingerprint recipe, leave-out",
    "procedural8000-ft-latentout": "longer procedural pre-training + fingerprint recipe, latent-decoder leave-out (taesd-sd3, taesd-flux2)",
    "procedural8000-ft-fused-full": "longer procedural pre-training + fingerprint recipe + spectrum of the whole image (fused)",
    "procedural8000-ft-tiles": "longer procedural pre-training + fingerprint recipe, test images whole (mean of 4 tiles)",
    "procedural8000-ft-more": "longer procedural pre-training + fingerprint recipe, 3 more epochs (6 in all)",
    "procedural8000-ft-real4": "longer procedural pre-training + fingerprint recipe, real anchors weigh 4 (--real-weight 4)",
    "procedural8000-ft-seed2": "longer procedural pre-training + fingerprint recipe, seed 2 (the same run, other batches and crops)",
    "procedural8000-ft-resize": "longer procedural pre-training + fingerprint recipe, 30 % of training images downscaled first (--resize-p 0.3)",
    "procedural8000-ft-more-resize": "longer procedural pre-training + fingerprint recipe, 3 more epochs with --resize-p 0.3",
    "procedural8000-ft-resize-leaveout": "longer procedural pre-training + fingerprint recipe, --resize-p 0.3, leave-out",
    "procedural8000-ft-webp": "longer procedural pre-training + fingerprint recipe, 20 % of training images saved as WebP (--webp-p 0.2)",
    "procedural8000-ft-webp-leaveout": "longer procedural pre-training + fingerprint recipe, --webp-p 0.2, leave-out",
    "procedural8000-ft-crop128": "longer procedural pre-training + fingerprint recipe, one epoch of 128-px crops (--train-image-size 128)",
    "procedural8000-ft-more-fused-full": "longer procedural pre-training + fingerprint recipe, 6 epochs + spectrum of the whole image (fused)",
    "procedural8000-ft-real4-fused-full": "longer procedural pre-training + fingerprint recipe, --real-weight 4 + spectrum of the whole image (fused)",
    "procedural8000-ft-aligned": "longer procedural pre-training + fingerprint recipe, aligned batches (--aligned)",
    "procedural8000-ft-aligned-stages": "longer procedural pre-training + fingerprint recipe, aligned batches, read from the stages",
    "procedural8000-ft-aligned-leaveout": "longer procedural pre-training + fingerprint recipe, aligned batches, leave-out (realesrgan-x4, cyclegan-vintage)",
    "procedural8000-ft-aligned-leaveout-stages": "longer procedural pre-training + fingerprint recipe, aligned batches, leave-out, read from the stages",
    "procedural8000-ft-aligned-latentout": "longer procedural pre-training + fingerprint recipe, aligned batches, latent-decoder leave-out (taesd-sd3, taesd-flux2)",
    "procedural8000-ft-aligned-latentout-stages": "longer procedural pre-training + fingerprint recipe, aligned batches, latent-decoder leave-out, read from the stages",
    "procedural8000-ft-decfam-latentout": "longer procedural pre-training + fingerprint recipe, latent-decoder leave-out, perturbed copies of the seen decoders as further training classes (decoder_family.py)",
    "procedural8000-ft-decfam-latentout-stages": "longer procedural pre-training + fingerprint recipe, latent-decoder leave-out, perturbed decoder family, read from the stages",
    "procedural8000-ft-latentout-seed2": "longer procedural pre-training + fingerprint recipe, latent-decoder leave-out, seed 2 (the same run, other batches and crops)",
    "procedural8000-ft-latentout-seed2-stages": "longer procedural pre-training + fingerprint recipe, latent-decoder leave-out, seed 2, read from the stages",
    "procedural8000-ft-seed2-stages": "longer procedural pre-training + fingerprint recipe, seed 2, read from the stages (the shipped default's recipe, another seed)",
    "procedural8000-ft-latentnpr": "longer procedural pre-training + fingerprint recipe, NPR and the 8×8-cell residual as input (--front-end npr-latent, crops on the 8-px grid)",
    "procedural8000-ft-latentnpr-stages": "longer procedural pre-training + fingerprint recipe, npr-latent input, read from the stages",
    "procedural8000-ft-latentnpr-latentout": "longer procedural pre-training + fingerprint recipe, npr-latent input, latent-decoder leave-out (taesd-sd3, taesd-flux2)",
    "procedural8000-ft-latentnpr-latentout-stages": "longer procedural pre-training + fingerprint recipe, npr-latent input, latent-decoder leave-out, read from the stages",
    "procedural8000-ft-stages": "longer procedural pre-training + fingerprint recipe, embedding read from the trunk's stages (--readout stages)",
    "procedural8000-ft-leaveout-stages": "longer procedural pre-training + fingerprint recipe, leave-out, read from the stages",
    "procedural8000-ft-latentout-stages": "longer procedural pre-training + fingerprint recipe, latent-decoder leave-out, read from the stages",
    "procedural8000-ft-stages-fused-full": "longer procedural pre-training + fingerprint recipe, read from the stages + spectrum of the whole image (fused)",
    "procedural8000-ft-stages-welch": "longer procedural pre-training + fingerprint recipe, read from the stages + 2-D Welch spectrum (--spectrum welch, fused), both on the centre 128 px",
    "procedural8000-ft-stages-welch-tiles": "longer procedural pre-training + fingerprint recipe, read from the stages + 2-D Welch spectrum (fused), test images whole (mean of 4 tiles of 128 px)",
    "procedural8000-ft-stages-welch-full": "longer procedural pre-training + fingerprint recipe, read from the stages + 2-D Welch spectrum of the whole image (--spectrum welch, fused)",
    "procedural8000-ft-leaveout-stages-welch": "longer procedural pre-training + fingerprint recipe, leave-out, read from the stages + 2-D Welch spectrum (fused), both on the centre 128 px",
    "procedural8000-ft-leaveout-stages-welch-full": "longer procedural pre-training + fingerprint recipe, leave-out, read from the stages + 2-D Welch spectrum of the whole image (fused)",
    "procedural8000-ft-latentout-stages-welch": "longer procedural pre-training + fingerprint recipe, latent-decoder leave-out, read from the stages + 2-D Welch spectrum (fused), both on the centre 128 px",
    "procedural8000-ft-latentout-stages-welch-full": "longer procedural pre-training + fingerprint recipe, latent-decoder leave-out, read from the stages + 2-D Welch spectrum of the whole image (fused)",
    "welch-mlp": "welch recipe: a learned MLP over the 2-D Welch spectrum (SupCon, 256 px, from random weights; no CNN)",
    "welch-mlp-leaveout": "welch recipe, leave-out",
    "welch-mlp-latentout": "welch recipe, latent-decoder leave-out (taesd-sd3, taesd-flux2)",
    "welch-mlp-extra": "welch recipe + 1,000 procedural up-sampling classes beside the zoo's (--extra-classes)",
    "welch-mlp-extra-leaveout": "welch recipe + procedural classes, leave-out",
    "welch-mlp-extra-latentout": "welch recipe + procedural classes, latent-decoder leave-out (taesd-sd3, taesd-flux2)",
    "welch-mlp-hidden": "welch recipe, read from the head's hidden layer (--readout hidden)",
    "welch-mlp-leaveout-hidden": "welch recipe, leave-out, read from the hidden layer",
    "welch-mlp-latentout-hidden": "welch recipe, latent-decoder leave-out, read from the hidden layer",
    "welch-mlp-extra-hidden": "welch recipe + procedural classes, read from the hidden layer",
    "welch-mlp-softmax": "welch recipe trained with a softmax over the classes (--loss softmax)",
    "welch-mlp-softmax-leaveout": "welch recipe, softmax, leave-out",
    "welch-mlp-softmax-latentout": "welch recipe, softmax, latent-decoder leave-out (taesd-sd3, taesd-flux2)",
    "welch-mlp-softmax-hidden": "welch recipe, softmax, read from the hidden layer",
    "welch-mlp-softmax-leaveout-hidden": "welch recipe, softmax, leave-out, read from the hidden layer",
    "welch-mlp-softmax-latentout-hidden": "welch recipe, softmax, latent-decoder leave-out, read from the hidden layer",
    "welch-mlp-softmax-extra": "welch recipe, softmax + 1,000 procedural classes",
    "welch-mlp-softmax-extra-leaveout": "welch recipe, softmax + procedural classes, leave-out",
    "welch-mlp-softmax-extra-hidden": "welch recipe, softmax + procedural classes, read from the hidden layer",
    "welch-mlp-softmax-extra-leaveout-hidden": "welch recipe, softmax + procedural classes, leave-out, read from the hidden layer",
    "welch-mlp-softmax-extra-latentout": "welch recipe, softmax + procedural classes, latent-decoder leave-out",
    "welch-mlp-softmax-extra-latentout-hidden": "welch recipe, softmax + procedural classes, latent-decoder leave-out, read from the hidden layer",
    "welch-mlp-softmax-extra-leaveout-seed2": "welch recipe, softmax + procedural classes, leave-out, seed 2",
    "welch-mlp-softmax-extra-latentout-seed2": "welch recipe, softmax + procedural classes, latent-decoder leave-out, seed 2",
    "welch-mlp-softmax-extra-leaveout-seed2-hidden": "welch recipe, softmax + procedural classes, leave-out, seed 2, read from the hidden layer",
    "welch-mlp-softmax-extra-latentout-seed2-hidden": "welch recipe, softmax + procedural classes, latent-decoder leave-out, seed 2, read from the hidden layer",
    "welch-mlp-softmax-extra-wide": "welch recipe, softmax + procedural classes, hidden layer of 1,024 (--projection-hidden 1024)",
    "welch-mlp-softmax-extra-wide-leaveout": "welch recipe, softmax + procedural classes, hidden 1,024, leave-out",
    "welch-mlp-softmax-extra-wide-latentout": "welch recipe, softmax + procedural classes, hidden 1,024, latent-decoder leave-out",
    "welch-mlp-softmax-extra-wide-hidden": "welch recipe, softmax + procedural classes, hidden 1,024, read from the hidden layer",
    "welch-mlp-softmax-extra-wide-leaveout-hidden": "welch recipe, softmax + procedural classes, hidden 1,024, leave-out, read from the hidden layer",
    "welch-mlp-softmax-extra-wide-latentout-hidden": "welch recipe, softmax + procedural classes, hidden 1,024, latent-decoder leave-out, read from the hidden layer",
    "welch-mlp-softmax-extra16": "welch recipe, softmax + procedural classes, 16 a batch (--extra-classes-per-batch 16)",
    "welch-mlp-softmax-extra16-leaveout": "welch recipe, softmax + procedural classes, 16 a batch, leave-out",
    "welch-mlp-softmax-extra16-latentout": "welch recipe, softmax + procedural classes, 16 a batch, latent-decoder leave-out",
    "welch-mlp-softmax-extra16-hidden": "welch recipe, softmax + procedural classes, 16 a batch, read from the hidden layer",
    "welch-mlp-softmax-extra16-leaveout-hidden": "welch recipe, softmax + procedural classes, 16 a batch, leave-out, read from the hidden layer",
    "welch-mlp-softmax-extra16-latentout-hidden": "welch recipe, softmax + procedural classes, 16 a batch, latent-decoder leave-out, read from the hidden layer",
    "welch-mlp-softmax-seed2": "welch recipe, softmax, seed 2",
    "welch-mlp-softmax-leaveout-seed2": "welch recipe, softmax, leave-out, seed 2",
    "welch-mlp-softmax-latentout-seed2": "welch recipe, softmax, latent-decoder leave-out, seed 2",
    "welch-mlp-softmax-seed2-hidden": "welch recipe, softmax, seed 2, read from the hidden layer",
    "welch-mlp-softmax-leaveout-seed2-hidden": "welch recipe, softmax, leave-out, seed 2, read from the hidden layer",
    "welch-mlp-softmax-latentout-seed2-hidden": "welch recipe, softmax, latent-decoder leave-out, seed 2, read from the hidden layer",
    "welch-mlp-extra-leaveout-hidden": "welch recipe + procedural classes, leave-out, read from the hidden layer",
    "welch-mlp-extra-latentout-hidden": "welch recipe + procedural classes, latent-decoder leave-out, read from the hidden layer",
    "welch-cooc-softmax": "welch recipe with co-occurrences beside the spectrum (--arch welch-cooc-mlp), softmax",
    "welch-cooc-softmax-leaveout": "welch-cooc-mlp, softmax, leave-out",
    "welch-cooc-softmax-latentout": "welch-cooc-mlp, softmax, latent-decoder leave-out",
    "welch-cooc-softmax-hidden": "welch-cooc-mlp, softmax, read from the hidden layer",
    "welch-cooc-softmax-leaveout-hidden": "welch-cooc-mlp, softmax, leave-out, read from the hidden layer",
    "welch-cooc-softmax-latentout-hidden": "welch-cooc-mlp, softmax, latent-decoder leave-out, read from the hidden layer",
}


def pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def mean_recall(attribution: dict, zero_shot: bool | None) -> float | None:
    rows = [m["recall"] for m in attribution["per_class"].values() if zero_shot is None or m["zero_shot"] == zero_shot]
    return sum(rows) / len(rows) if rows else None


def recall_on(attribution: dict, classes: list[str]) -> float | None:
    """Mean recall over ``classes``: a yardstick's figure on another run's zero-shot classes."""
    rows = [attribution["per_class"][c]["recall"] for c in classes if c in attribution["per_class"]]
    return sum(rows) / len(rows) if len(rows) == len(classes) else None


def train_minutes(runs: Path, name: str) -> str:
    log = runs / f"{name}.train.log"
    if not log.exists():
        return "–"
    match = re.search(r"trained in ([0-9.]+) s", log.read_text())
    return f"{float(match.group(1)) / 60:.0f}" if match else "–"


def label(metrics: dict, name: str) -> str:
    """The row's name, with the spectrum's share of the similarity for fused models (read from the
    model the evaluation used: a ``-tiles`` row's is its base model's, ``default``'s the shipped one)."""
    config = json.loads((Path(metrics["model"]) / "config.json").read_text())
    weight = config["architecture"].get("spectrum_weight", 0.0)
    return LABELS[name] + (f", spectrum weight {weight:.1f}" if weight else "")


def main() -> None:
    runs = Path(sys.argv[1])
    metrics = {}
    for name in ORDER:
        for g in (0, 50):
            path = runs / name / f"eval-g{g}" / "metrics.json"
            if path.exists():
                metrics[(name, g)] = json.loads(path.read_text())
    print("| encoder | gallery per class | train min | accuracy | AUC | accuracy JPEG 75 | AUC JPEG 75 | accuracy wild | AUC wild "
          "| seen acc. | zero-shot acc. | zero-shot acc. JPEG 75 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (name, g), m in metrics.items():
        clean, jpeg, wild = m["results"]["clean"], m["results"].get("jpeg:75"), m["results"].get("wild:0")
        leave_out = bool(m["zero_shot_classes"])
        print(
            f"| {label(m, name)} | {'all' if g == 0 else g} | {train_minutes(runs, name)} "
            f"| {pct(clean['attribution']['accuracy'])} | {pct(clean['detection']['overall_auc'])} "
            f"| {pct(jpeg['attribution']['accuracy']) if jpeg else '–'} | {pct(jpeg['detection']['overall_auc']) if jpeg else '–'} "
            f"| {pct(wild['attribution']['accuracy']) if wild else '–'} | {pct(wild['detection']['overall_auc']) if wild else '–'} "
            f"| {pct(mean_recall(clean['attribution'], False)) if leave_out else '–'} "
            f"| {pct(mean_recall(clean['attribution'], True)) if leave_out else '–'} "
            f"| {pct(mean_recall(jpeg['attribution'], True)) if leave_out and jpeg else '–'} |"
        )
    print()
    per_class_table(
        metrics, "Attribution accuracy (recall) per class, clean test images, gallery = all (zero-shot classes marked *):",
        lambda result: {c: (row["recall"], row["zero_shot"]) for c, row in result["attribution"]["per_class"].items()})
    per_class_table(
        metrics, "Detection AUC per generator (real against that generator alone), clean test images, gallery = all "
        "(zero-shot generators marked *):",
        lambda result: {g: (row["auc"], g in result_zero_shot(result)) for g, row in result["detection"]["per_generator"].items()})
    zero_shot_table(metrics)
    rescore_table(runs, metrics)


def result_zero_shot(result: dict) -> set[str]:
    """The classes a condition's attribution marks zero-shot (left out of encoder training)."""
    return {c for c, row in result["attribution"]["per_class"].items() if row["zero_shot"]}


def per_class_table(metrics: dict, title: str, figures) -> None:
    """One row per run (gallery = all), one column per class: ``figures(clean result)`` gives
    class → (value, zero-shot)."""
    rows = [(name, m, figures(m["results"]["clean"])) for (name, g), m in metrics.items() if g == 0]
    classes = sorted({c for _, _, per in rows for c in per})
    print()
    print(title)
    print()
    print("| encoder | " + " | ".join(classes) + " |")
    print("|---|" + "---|" * len(classes))
    for name, m, per in rows:
        cells = [pct(per[c][0]) + ("*" if per[c][1] else "") if c in per else "–" for c in classes]
        print(f"| {label(m, name)} | " + " | ".join(cells) + " |")


def detection_score_of(metrics: dict) -> str:
    """The score detection rested on: recorded by evaluate since the gap existed, else the model's."""
    if metrics.get("detection_score"):
        return metrics["detection_score"]
    config = json.loads((Path(metrics["model"]) / "config.json").read_text())
    return config.get("classifier", {}).get("detection_score", "ai_vote_share")


def rescore_table(runs: Path, metrics: dict) -> None:
    """Detection AUC of each rescored run (gallery = all) with the vote share it was first evaluated
    with, and with the score its calibration chose since (benchmarks/zoo/rescore.sh)."""
    rows = []
    for (name, g), m in metrics.items():
        before = runs / name / f"eval-g{g}.before-rescore" / "metrics.json"
        if g == 0 and before.exists():
            rows.append((name, m, json.loads(before.read_text())))
    if not rows:
        return
    print()
    print("Detection AUC (real against all generators, gallery = all) on the AI vote share, as first evaluated, and on "
          "the detection score chosen on validation since (`benchmarks/zoo/rescore.sh`):")
    print()
    print("| encoder | score chosen | AUC vote share | AUC now | JPEG 75, vote share | JPEG 75, now | wild, vote share | wild, now |")
    print("|---|---|---|---|---|---|---|---|")
    for name, m, b in rows:
        cells = []
        for condition in ("clean", "jpeg:75", "wild:0"):
            old, new = b["results"].get(condition), m["results"].get(condition)
            cells += [pct(old["detection"]["overall_auc"]) if old else "–", pct(new["detection"]["overall_auc"]) if new else "–"]
        chosen = "similarity gap" if detection_score_of(m) == "ai_similarity_gap" else "vote share"
        print(f"| {label(m, name)} | {chosen} | " + " | ".join(cells) + " |")


def zero_shot_table(metrics: dict) -> None:
    """Each leave-out row's zero-shot classes beside the spectrum on the same classes, same gallery
    size, in attribution (mean recall) and detection (mean AUC): the comparison the encoder issue's
    goal asks for (the spectrum trains on nothing, so its figure on those classes is its zero-shot
    figure too)."""
    rows = [(name, g, m) for (name, g), m in metrics.items() if m["zero_shot_classes"]]
    if not rows:
        return
    header = "| encoder | gallery per class | zero-shot classes | {0} | spectrum {0} | {1} | spectrum {1} | {2} | spectrum {2} |"
    for title, columns, figure in (
        ("Zero-shot classes (left out of encoder training) against the spectrum on the same classes, mean recall:",
         ("clean", "JPEG 75", "wild"), lambda result, classes: recall_on(result["attribution"], classes)),
        ("Detection of the zero-shot generators: AUC of real against each, averaged over them, beside the spectrum's:",
         ("AUC", "AUC JPEG 75", "AUC wild"), lambda result, classes: auc_on(result["detection"], classes)),
    ):
        print()
        print(title)
        print()
        print(header.format(*columns).replace("spectrum AUC JPEG 75", "spectrum JPEG 75").replace("spectrum AUC wild", "spectrum wild"))
        print("|---|---|---|---|---|---|---|---|---|")
        for name, g, m in rows:
            classes = sorted(m["zero_shot_classes"])
            spectrum = metrics.get(("spectrum", g))
            cells = []
            for condition in ("clean", "jpeg:75", "wild:0"):
                own = m["results"].get(condition)
                other = spectrum["results"].get(condition) if spectrum else None
                cells += [pct(figure(own, classes)) if own else "–", pct(figure(other, classes)) if other else "–"]
            print(f"| {label(m, name)} | {'all' if g == 0 else g} | {', '.join(classes)} | " + " | ".join(cells) + " |")


def auc_on(detection: dict | None, generators: list[str]) -> float | None:
    """Mean per-generator detection AUC (real against each) over ``generators``."""
    per = (detection or {}).get("per_generator", {})
    rows = [per[g]["auc"] for g in generators if g in per]
    return sum(rows) / len(rows) if rows and len(rows) == len(generators) else None


if __name__ == "__main__":
    main()
