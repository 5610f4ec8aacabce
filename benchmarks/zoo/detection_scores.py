"""The detection scores and P(AI) curves side by side for trained models, on the zoo's validation and test splits.

    python benchmarks/zoo/detection_scores.py --data /work/zoo MODEL_DIR [MODEL_DIR...] [--gallery-per-class 50]

For each model (its classifier rules as the product applies them; gallery: its whole training
split, as `evaluate --gallery-per-class 0`), and each of clean, JPEG 75 and wild: the detection
AUC (mean over generators of real against that generator, as `evaluate` reports it) of the AI vote
share and of the similarity gap (aidetect.gallery.knn); then the gap calibrated to P(AI) on the
validation split by isotonic regression (what `train` fits, with its pseudo-counts), by centred
isotonic regression (each flat step of a plain weighted isotonic fit replaced by one point at the
weighted centre of its validation images, joined by straight lines: Oron and Flournoy, 2017, so
P(AI) keeps the gap's order; without the pseudo-counts, so its ends reach 0 and 1) and by a
logistic curve, each with its AUC and expected calibration error on the test split (real and AI
weighted equally). A step curve ties the images inside a step: where the gap orders a real and an
AI image rightly that costs AUC, where it orders them wrongly it gains half a pair, so a step
curve's AUC can lie on either side of the gap's (above it on the split the curve was fitted on).

``--gallery-per-class N``: the test images are scored against N gallery images per class, the
same draw as `evaluate --gallery-per-class N` (its default seed), while the curves are fitted on
the validation split against the whole gallery, as the product's calibration is. Embeddings come
from evaluate's cache, so after `evaluate` this embeds only the validation images. Read-only: it
writes nothing but that cache.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def fit_centred_isotonic(x: np.ndarray, is_ai: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred isotonic regression: the weighted isotonic fit's blocks (runs of validation images it
    gives one value), each as one point at the weighted mean score of its images; interpolate
    linearly between them (flat beyond the first and last). Strictly increasing between blocks, so
    two images with different scores get different P(AI) there."""
    from sklearn.isotonic import IsotonicRegression

    order = np.argsort(x, kind="stable")
    x, y, w = np.asarray(x, dtype=np.float64)[order], is_ai[order].astype(np.float64), weights[order]
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0).fit(x, y, sample_weight=w).predict(x)
    starts = np.flatnonzero(np.r_[True, fitted[1:] != fitted[:-1]])
    ends = np.r_[starts[1:], len(x)]
    centres = np.array([np.average(x[a:b], weights=w[a:b]) for a, b in zip(starts, ends)])
    return centres, fitted[starts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model directories")
    parser.add_argument("--data", required=True, help="zoo root (folders layout with train/val/test)")
    parser.add_argument("--gallery-per-class", type=int, default=0, help="test images against this many gallery images a class (0: all)")
    args = parser.parse_args(argv)
    if args.gallery_per_class < 0:
        parser.error(f"--gallery-per-class {args.gallery_per_class}: give 0 (the whole gallery) or a positive count")

    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from aidetect.calibration import expected_calibration_error, fit_isotonic, prior_weights
    from aidetect.config import _interpolate
    from aidetect.data.perturb import CLEAN, parse_perturbation
    from aidetect.data.sampling import sample_per_class
    from aidetect.evaluation.evaluate import EvalOptions, _gallery_pool, gallery_from_embeddings, prepare
    from aidetect.gallery.classifier import classifier_for
    from aidetect.labels import REAL

    torch.set_num_threads(1)
    conditions = [CLEAN, parse_perturbation("jpeg:75"), parse_perturbation("wild")]

    def mean_auc(truth: np.ndarray, score: np.ndarray) -> float:
        real = truth == REAL
        return 100 * float(np.mean([roc_auc_score(~real[real | (truth == g)], score[real | (truth == g)])
                                    for g in sorted(set(truth) - {REAL})]))

    print("| model | split | condition | AUC vote share | AUC gap | AUC P(AI) isotonic | ECE isotonic "
          "| AUC P(AI) centred isotonic (no pseudo-counts) | ECE centred isotonic | AUC P(AI) logistic | ECE logistic |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models:
        ctx = prepare(EvalOptions(data=args.data, out="-", model=model, gallery_per_class=None, device="cpu"))
        train, train_labels = ctx.embed(_gallery_pool(ctx), label=None)
        rules = ctx.model.config.classifier
        whole = classifier_for(gallery_from_embeddings(ctx, train, train_labels, None, 0), rules, unknown_thresholds={})
        drawn = whole
        if args.gallery_per_class:  # evaluate's own draw: the same training images, hence the same gallery
            seed = ctx.options.seed  # evaluate's default, as prepared above
            pool, pool_labels = ctx.embed(sample_per_class(ctx.splits.train, args.gallery_per_class, seed), label=None)
            drawn = classifier_for(gallery_from_embeddings(ctx, pool, pool_labels, args.gallery_per_class, seed), rules,
                                   unknown_thresholds={})

        def scores(samples, condition, knn=whole):
            embedded, truth = ctx.embed(samples, None if condition is CLEAN else condition, label=None)
            predictions = knn.predict(embedded.embeddings, top=0)
            return (np.array([p.score_ai for p in predictions]), np.array([p.ai_similarity_gap for p in predictions]),
                    np.asarray(truth))

        _, val_gap, val_truth = scores(ctx.splits.val, CLEAN)
        val_ai = val_truth != REAL
        xs, ys = fit_isotonic(val_gap, val_ai)
        centred_x, centred_y = fit_centred_isotonic(val_gap, val_ai, prior_weights(val_ai))
        logistic = LogisticRegression(C=1e6).fit(val_gap[:, None], val_ai, sample_weight=prior_weights(val_ai) * len(val_ai))
        for split, samples in (("validation", ctx.splits.val), ("test", ctx.splits.test)):
            for condition in conditions:
                share, gap, truth = scores(samples, condition, whole if split == "validation" else drawn)
                is_ai = truth != REAL
                isotonic_p = np.array([_interpolate(float(v), xs, ys) for v in gap])
                centred_p = np.interp(gap, centred_x, centred_y)
                logistic_p = logistic.predict_proba(gap[:, None])[:, 1]
                shown = model + (f" ({args.gallery_per_class} a class)" if args.gallery_per_class and split == "test" else "")
                print(f"| {shown} | {split} | {condition.key} | {mean_auc(truth, share):.1f} | {mean_auc(truth, gap):.1f} | "
                      f"{mean_auc(truth, isotonic_p):.1f} | {expected_calibration_error(isotonic_p, is_ai):.3f} | "
                      f"{mean_auc(truth, centred_p):.1f} | {expected_calibration_error(centred_p, is_ai):.3f} | "
                      f"{mean_auc(truth, logistic_p):.1f} | {expected_calibration_error(logistic_p, is_ai):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
