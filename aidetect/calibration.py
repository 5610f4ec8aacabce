"""Building a model's initial gallery and calibrating its decision rules on the validation split.

Nothing here looks at the test split. What is chosen, and how:

* the gallery: up to ``gallery_per_class`` training images per class (seeded),
  every class of the data, zero-shot ones included (the thesis's protocol);
* the vote (``weighted`` or ``majority``): whichever classifies more of the
  validation images correctly (ties go to ``weighted``);
* the detection threshold on P(AI-generated): the one that maximises balanced
  accuracy (Youden's J) on the validation images; 0.5 when the validation
  split lacks real or AI images;
* the false-unknown rate: the share of validation images of gallery classes
  that the unknown rule (aidetect.gallery.knn) rejects, reported so users know it;
* for a model fused with the spectrum (``--fuse-spectrum auto``), the share of
  the spectrum in the similarity: the weight in 0.1 … 0.9 with the best mean
  attribution accuracy over the validation images as they are and re-encoded
  as JPEG at quality 75 (the spectrum wins on clean images, the learned part
  after recompression, and analysts mostly receive JPEGs).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from aidetect.config import DEFAULT_DETECT_THRESHOLD, GALLERY_FILE, ClassifierConfig
from aidetect.console import err, warn
from aidetect.data.discovery import DataSplits, Sample
from aidetect.data.perturb import parse_perturbation
from aidetect.data.sampling import sample_per_class
from aidetect.embedding import embed_files
from aidetect.gallery import Gallery
from aidetect.gallery.knn import VOTES, KNNClassifier
from aidetect.labels import REAL, UNKNOWN
from aidetect.models.fusion import reweigh_fused

VALIDATION_PER_CLASS = 200
SPECTRUM_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
WEIGHT_CHOICE_PERTURBATION = "jpeg:75"


def youden_threshold(scores: np.ndarray, is_ai: np.ndarray) -> float:
    """Threshold on ``scores`` maximising TPR − FPR (balanced accuracy).

    Every threshold between the lowest and the highest that reach the maximum
    separates the validation images equally well; the midpoint of that range
    leaves the most room on both sides for images not seen yet (scikit-learn's
    own choice sits on the boundary, at a validation score).
    """
    from sklearn.metrics import roc_curve

    # drop_intermediate=False: dropped points would widen the range below the best threshold (the
    # midpoint of scores 0.3 | 0.7 came out as 0.4 with the next kept score 0.1 as the lower end).
    fpr, tpr, thresholds = roc_curve(is_ai.astype(int), scores, drop_intermediate=False)
    j = tpr - fpr
    best = np.flatnonzero(np.isclose(j, j.max()))
    upper = float(min(thresholds[best[0]], 1.0))
    after = best[-1] + 1
    lower = float(thresholds[after]) if after < len(thresholds) else 0.0
    return 0.5 * (upper + lower)


def vote_accuracy(predictions, labels: Sequence[str]) -> float:
    """Share of predictions whose vote is the true label (0 when there are none)."""
    return float(np.mean([p.vote_label == t for p, t in zip(predictions, labels)])) if len(labels) else 0.0


def calibrate(classifier_factory, embeddings: np.ndarray, labels: Sequence[str]) -> ClassifierConfig:
    """Choose the vote and the detection threshold on validation embeddings."""
    labels = np.asarray(labels)
    result: dict = {"validation_images": int(len(labels))}
    accuracy = {}
    predictions = {}
    for vote in VOTES:
        preds = classifier_factory(vote).predict(embeddings)
        predictions[vote] = preds
        accuracy[vote] = vote_accuracy(preds, labels)
    vote = "weighted" if accuracy["weighted"] >= accuracy["majority"] else "majority"
    result["vote"] = vote
    result["validation_accuracy"] = accuracy
    preds = predictions[vote]
    known = [p.label == UNKNOWN for p in preds]
    result["false_unknown_rate_validation"] = float(np.mean(known)) if known else None
    scores = np.array([p.score_ai if p.score_ai is not None else np.nan for p in preds])
    is_ai = labels != REAL
    if len(labels) and np.isfinite(scores).all() and is_ai.any() and (~is_ai).any():
        threshold = youden_threshold(scores, is_ai)
        verdict = scores >= threshold
        balanced = 0.5 * (np.mean(verdict[is_ai]) + np.mean(~verdict[~is_ai]))
        result.update(detect_threshold=threshold, detect_threshold_rule="youden-validation", detect_balanced_accuracy_validation=float(balanced))
    else:
        result.update(detect_threshold=DEFAULT_DETECT_THRESHOLD, detect_threshold_rule="default (validation split lacks real or AI images)")
    return ClassifierConfig(**result)


def choose_spectrum_weight(make_gallery, gallery_embeddings: np.ndarray, validation_sets, learned_dim: int, weight: float) -> tuple[float, dict]:
    """The spectrum weight in SPECTRUM_WEIGHTS with the best mean attribution accuracy over
    ``validation_sets`` ([(embeddings, labels), …]); ties go to the weight nearest 0.5. All
    embeddings were made with ``weight``; each candidate is tried by rescaling them."""
    scores = {}
    for candidate in SPECTRUM_WEIGHTS:
        knn = KNNClassifier(make_gallery(reweigh_fused(gallery_embeddings, learned_dim, weight, candidate)))
        scores[candidate] = float(np.mean([
            vote_accuracy(knn.predict(reweigh_fused(embeddings, learned_dim, weight, candidate)), labels)
            for embeddings, labels in validation_sets
        ]))
    return max(SPECTRUM_WEIGHTS, key=lambda w: (scores[w], -abs(w - 0.5))), scores


def build_initial_gallery(
    model, splits: DataSplits, *, gallery_per_class: int | None, seed: int, batch_size: int, workers: int, device,
    choose_weight: bool = False,
) -> None:
    """Write ``gallery.npz`` into the model directory and calibrate ``config.classifier`` (not yet saved)."""
    config = model.config

    def embed(samples: list[Sample], progress: str, hash_files: bool, perturb=None):
        """Embeddings of ``samples`` and the labels of those that could be read."""
        embedded = embed_files(
            model.encoder, config.preprocess, [s.path for s in samples], labels=list(range(len(samples))),
            batch_size=batch_size, workers=workers, device=device, hash_files=hash_files, progress=progress, perturb=perturb,
        )
        for _, reason in embedded.errors:
            warn(f"{progress}: skipped {reason}")
        return embedded, [samples[i].label for i in embedded.labels]

    embedded, kept_labels = embed(sample_per_class(splits.train, gallery_per_class, seed, "gallery"), "building gallery", True)
    validation = sample_per_class(splits.val, VALIDATION_PER_CLASS, seed, "validation")

    def make_gallery(embeddings: np.ndarray) -> Gallery:
        gallery = Gallery.create(config.fingerprint, config.architecture.output_dim, source="aidetect train")
        gallery.add_labelled(embeddings, kept_labels, embedded.paths, embedded.sha256, source=f"training split of {splits.root}")
        return gallery

    val_embedded = val_labels = None
    if choose_weight and validation and len(embedded.paths):
        val_embedded, val_labels = embed(validation, "calibrating", False)
        jpeg, jpeg_labels = embed(validation, "calibrating (JPEG 75)", False, parse_perturbation(WEIGHT_CHOICE_PERTURBATION))
        learned_dim, start = config.architecture.embedding_dim, config.architecture.spectrum_weight
        best, scores = choose_spectrum_weight(
            make_gallery, embedded.embeddings, [(val_embedded.embeddings, val_labels), (jpeg.embeddings, jpeg_labels)], learned_dim, start
        )
        embedded.embeddings = reweigh_fused(embedded.embeddings, learned_dim, start, best)
        val_embedded.embeddings = reweigh_fused(val_embedded.embeddings, learned_dim, start, best)
        config.architecture.spectrum_weight = best
        config.training["spectrum_weight_choice"] = {
            "rule": f"best mean validation accuracy, clean and {WEIGHT_CHOICE_PERTURBATION}",
            "accuracy": {f"{w:.1f}": round(v, 4) for w, v in scores.items()},
            "chosen": best,
        }
        err.print(f"spectrum weight {best:.1f} (validation accuracy, mean of clean and JPEG 75: {scores[best]:.3f})")
    gallery = make_gallery(embedded.embeddings)
    gallery.save(model.folder / GALLERY_FILE)
    config.classifier = ClassifierConfig()
    if len(gallery) == 0:
        warn("the initial gallery is empty: no training image could be read")
        return

    if not validation:
        err.print("no validation split: the vote and detection threshold keep their defaults")
        config.classifier = ClassifierConfig(detect_threshold_rule="default (no validation split)")
        return
    if val_embedded is None:
        val_embedded, val_labels = embed(validation, "calibrating", False)
    thresholds = KNNClassifier(gallery).unknown_thresholds
    config.classifier = (
        calibrate(lambda vote: KNNClassifier(gallery, vote=vote, unknown_thresholds=thresholds), val_embedded.embeddings, val_labels)
    )
