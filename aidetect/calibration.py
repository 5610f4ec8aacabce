"""Building a model's initial gallery and calibrating its decision rules on the validation split.

Nothing here looks at the test split. What is chosen, and how:

* the gallery: up to ``gallery_per_class`` training images per class (seeded),
  every class of the data, zero-shot ones included (the thesis's protocol);
* the vote: ``weighted`` or ``majority``, whichever classifies more of the validation images
  correctly (ties go to ``weighted``), unless the model's builder names one (``centroid`` for an
  encoder whose enrolled generators its class means recognise better, measured outside the
  validation split: docs/inference.md); the validation accuracy of all three is stored;
* the detection score (the AI vote share or the similarity gap, aidetect.gallery.knn):
  whichever separates the validation's real images from its AI-generated ones with the
  higher AUC (ties go to the vote share; both AUCs are stored);
* P(AI-generated): that score turned into a probability by isotonic regression
  on the validation images, real and AI weighted equally (P(AI) at even prior odds; its
  expected calibration error is stored), each step counting one more real and one more AI
  image than it holds, so that no finite validation split reads as certainty;
* the detection threshold on that probability: the one that maximises balanced
  accuracy (Youden's J) on the validation images; 0.5 on the raw vote share when
  the validation split lacks real or AI images;
* the unknown rule (aidetect.gallery.knn): the winning class's nearest gallery row against
  its row floor, whatever the vote (``unknown_on="row"``), every floor moved by one shift so
  that the floors turn away ``UNKNOWN_QUANTILE`` (5 %) of the validation images, the share
  they promise (floors fitted on the gallery's own rows, leave-one-out, turn away more of
  images from outside it: 6.5 % of the zoo's test images under the bundled model); with fewer than
  ``UNKNOWN_SHIFT_MIN_IMAGES`` validation images no shift. The false-unknown rate: the share of
  validation images that the rule then rejects, reported so users know it;
* for a model fused with the spectrum (``--fuse-spectrum auto``), the share of
  the spectrum in the similarity: the weight in 0.1 … 0.9 with the best mean
  attribution accuracy over the validation images as they are and re-encoded
  as JPEG at quality 75 (the spectrum wins on clean images, the learned part
  after recompression, and analysts mostly receive JPEGs).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from aidetect.config import CALIBRATION_VOTES, DEFAULT_DETECT_THRESHOLD, GALLERY_FILE, NAMED_VOTE_RULE, ClassifierConfig
from aidetect.console import err, warn
from aidetect.data.discovery import DataSplits, Sample
from aidetect.data.perturb import parse_perturbation
from aidetect.data.sampling import sample_per_class
from aidetect.embedding import embed_files
from aidetect.gallery import Gallery
from aidetect.gallery.knn import UNKNOWN_QUANTILE, KNNClassifier, shift_floors
from aidetect.labels import REAL
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


def prior_weights(is_ai: np.ndarray) -> np.ndarray:
    """Per-image weights that give real and AI images equal total weight (each class sums to 0.5)."""
    y = np.asarray(is_ai, dtype=bool)
    n_ai, n_real = int(y.sum()), int((~y).sum())
    return np.where(y, 0.5 / max(1, n_ai), 0.5 / max(1, n_real))


#: Pseudo-images added to every step of the P(AI) curve, one real and one AI-generated (see fit_isotonic).
PSEUDO_IMAGES = 1.0


def fit_isotonic(ai_vote_shares: np.ndarray, is_ai: np.ndarray, pseudo_images: float = PSEUDO_IMAGES) -> tuple[list[float], list[float]]:
    """Isotonic calibration: the non-decreasing curve (breakpoints x → y) from the detection score to
    P(AI) that best fits the validation images, real and AI weighted equally (even prior odds).

    Weighted so because the zoo's validation split is 90 % AI images: a curve fitted on it as it is
    would tell every analyst that prior (docs/inference.md gives the conversion to another).
    scikit-learn's IsotonicRegression; outside the validation range the curve is flat. Chosen over
    a logistic (Platt) curve because vote shares are mostly 0 or 1 with little in between, a shape
    a logistic fits badly: on the zoo's validation split a balanced Platt curve's ECE was 0.094.

    Each step of the curve then counts ``pseudo_images`` more real and AI images than it holds
    (add-one smoothing, then isotonic again to keep it non-decreasing): a plain isotonic curve says
    P(AI) = 1.000 wherever no real validation image scored as high, a certainty that 141 real
    images cannot support. With the pseudo-counts the top of the curve says how far those images
    do go (0 real of 141 against 1,000 AI of 1,974 reads about 0.99; against 20 AI, about 0.6),
    and no step is exactly 0 or 1.
    """
    from sklearn.isotonic import IsotonicRegression  # sklearn loads slowly; only training calibrates

    x = np.asarray(ai_vote_shares, dtype=np.float64)
    y = np.asarray(is_ai, dtype=np.float64)
    w = prior_weights(y.astype(bool))
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(x, y, sample_weight=w)
    xs = np.asarray(model.X_thresholds_, dtype=np.float64)
    ys = np.asarray(model.y_thresholds_, dtype=np.float64)
    if pseudo_images > 0 and len(x):
        ys = _smoothed_steps(x, y.astype(bool), w, model.predict(x), xs, pseudo_images)
    xs, ys = [float(v) for v in xs], [float(v) for v in ys]
    if len(xs) < 2:  # every validation image had the same vote share (an untrained or collapsed model)
        xs, ys = [xs[0], xs[0]], [ys[0], ys[0]]
    return xs, ys


def _smoothed_steps(x: np.ndarray, is_ai: np.ndarray, w: np.ndarray, fitted: np.ndarray, xs: np.ndarray,
                    pseudo_images: float) -> np.ndarray:
    """The isotonic curve's values at its breakpoints ``xs`` with every step (a run of validation
    images the curve gives one value) counting ``pseudo_images`` more images of each kind, each
    weighing what one validation image of its kind weighs; made non-decreasing again."""
    from sklearn.isotonic import IsotonicRegression

    order = np.argsort(x, kind="stable")
    x_sorted, fitted_sorted = x[order], fitted[order]
    # steps: runs of equal fitted value along the sorted scores (equal scores always share one)
    step = np.concatenate([[0], np.cumsum(fitted_sorted[1:] != fitted_sorted[:-1])])
    n_steps = int(step[-1]) + 1
    ai_weight = np.bincount(step, weights=(w * is_ai)[order], minlength=n_steps)
    real_weight = np.bincount(step, weights=(w * ~is_ai)[order], minlength=n_steps)
    pseudo_ai = pseudo_images * 0.5 / max(1, int(is_ai.sum()))
    pseudo_real = pseudo_images * 0.5 / max(1, int((~is_ai).sum()))
    smoothed = (ai_weight + pseudo_ai) / (ai_weight + real_weight + pseudo_ai + pseudo_real)
    # a small pure step can fall below a larger mixed one before it: pool them (isotonic again)
    smoothed = IsotonicRegression(y_min=0.0, y_max=1.0).fit_transform(
        np.arange(n_steps, dtype=np.float64), smoothed, sample_weight=ai_weight + real_weight + pseudo_ai + pseudo_real)
    # each breakpoint is one of the validation scores: its step is that score's
    position = np.searchsorted(x_sorted, xs, side="left").clip(0, len(x_sorted) - 1)
    return smoothed[step[position]]


def reliability_bins(probabilities: np.ndarray, is_ai: np.ndarray, bins: int = 10) -> list[dict]:
    """Equal-width bins of predicted P(AI): count, mean prediction and observed share of AI images,
    with real and AI images weighted equally (the prior P(AI) is calibrated to, see :func:`fit_isotonic`)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(is_ai, dtype=np.float64)
    w = prior_weights(y.astype(bool))
    index = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        members = index == b
        n = int(members.sum())
        weight = float(w[members].sum())
        out.append({
            "low": b / bins, "high": (b + 1) / bins, "count": n, "weight": weight,
            "mean_predicted": float(np.average(p[members], weights=w[members])) if n else None,
            "observed_ai": float(np.average(y[members], weights=w[members])) if n else None,
        })
    return out


def expected_calibration_error(probabilities: np.ndarray, is_ai: np.ndarray, bins: int = 10) -> float:
    """Σ over bins of (bin weight) × |observed AI share − mean predicted P(AI)| (Guo et al. 2017),
    real and AI images weighted equally."""
    if len(probabilities) == 0:
        return float("nan")
    return float(sum(b["weight"] * abs(b["observed_ai"] - b["mean_predicted"])
                     for b in reliability_bins(probabilities, is_ai, bins) if b["count"]))


def vote_accuracy(predictions, labels: Sequence[str]) -> float:
    """Share of predictions whose vote is the true label (0 when there are none)."""
    return float(np.mean([p.vote_label == t for p, t in zip(predictions, labels)])) if len(labels) else 0.0


def choose_detection_score(candidates: dict[str, np.ndarray], is_ai: np.ndarray) -> dict:
    """Of the detection scores in ``candidates`` (name → validation scores, NaN where a score does
    not exist), the one whose AUC (AI images against real ones) is highest; ties and incomplete
    scores go to the vote share. Returns the config fields ``detection_score`` and
    ``detection_auc_validation``.

    Measured, not assumed, because it differs by encoder: on zoo v2's validation split the gap
    ranked real windows far better for the learned encoder (AUC 78 against the vote share's 71;
    a quarter of real windows had no real neighbour among the 11 and a vote share of 1.0),
    slightly worse for the spectrum feature (77 against 79) (docs/inference.md).
    """
    from sklearn.metrics import roc_auc_score

    aucs = {name: round(float(roc_auc_score(is_ai, scores)), 6)
            for name, scores in candidates.items() if np.isfinite(scores).all()}
    best = max(aucs, key=lambda name: (aucs[name], name == "ai_vote_share"))
    return {"detection_score": best, "detection_auc_validation": aucs}


#: The votes calibration chooses between when the model's builder names none. ``centroid`` is
#: measured beside them (its validation accuracy is stored) but chosen only by name: whether a
#: class mean recognises a generator enrolled later is not something the validation split of the
#: trained classes can tell (docs/inference.md, where a rule that tried is measured and rejected).
#: ``balanced`` is left out: over a gallery of one size per class it is the weighted vote; the
#: user chooses it per call (``--vote balanced``). In the order ties go.
CALIBRATED_VOTES = ("weighted", "majority")
#: The unknown rule of the centroid vote (aidetect.gallery.knn.class_mean_floors), as config.json states it.
CENTROID_UNKNOWN_RULE = ("class mean: less similar to the winning class's mean than 95 % of its members are to the mean "
                         "of the others, and than half its gap to the next class mean (at most 4x the former)")


#: Fewer validation images than this (of classes with a floor) leave the unknown rule's floors unshifted:
#: the 5 % quantile of a handful of images is noise.
UNKNOWN_SHIFT_MIN_IMAGES = 100


def unknown_rule_of(vote: str, unknown_on: str = "vote") -> str:
    """The unknown rule ``vote`` applies, as config.json states it."""
    return CENTROID_UNKNOWN_RULE if vote == "centroid" and unknown_on == "vote" else ClassifierConfig.unknown_rule


def choose_unknown_shift(margins: np.ndarray) -> tuple[float, str]:
    """(shift, how it was chosen) from each validation image's similarity to its winning class's
    nearest row minus that class's floor: the rule says `unknown` below shift, so the
    ``UNKNOWN_QUANTILE`` quantile of the margins turns away that share of the images."""
    if len(margins) < UNKNOWN_SHIFT_MIN_IMAGES:
        return 0.0, f"none: {len(margins)} validation images of classes with a floor, fewer than {UNKNOWN_SHIFT_MIN_IMAGES}"
    shift = float(np.clip(np.quantile(margins, UNKNOWN_QUANTILE), -1.0, 1.0))
    return round(shift, 6), f"the {100 * UNKNOWN_QUANTILE:g} % quantile of {len(margins)} validation images' margins over their floors"


def calibrate(gallery, embeddings: np.ndarray, labels: Sequence[str], vote: str | None = None,
              unknown_on: str = "row") -> ClassifierConfig:
    """Choose the vote (unless ``vote`` names it), the unknown rule's shift and the detection
    rules on validation embeddings against ``gallery``; ``unknown_on``: what the unknown rule
    measures (``row``: the nearest row of the winning class, whatever the vote; ``vote``: what
    the vote read, the class mean for the centroid vote), aidetect.gallery.knn."""
    if vote is not None and vote not in CALIBRATION_VOTES:
        raise ValueError(f"vote {vote!r}: calibration takes one of {', '.join(CALIBRATION_VOTES)}")
    labels = np.asarray(labels)
    embeddings = np.asarray(embeddings, dtype=np.float32)
    result: dict = {"validation_images": int(len(labels))}
    row_floors = KNNClassifier(gallery).unknown_thresholds
    accuracy, predictions = {}, {}
    # the votes that read rows share one set of row floors; the centroid vote's rule on the class mean has its own
    classifiers = {v: KNNClassifier(gallery, vote=v, unknown_on=unknown_on,
                                    unknown_thresholds=None if v == "centroid" and unknown_on == "vote" else row_floors)
                   for v in CALIBRATION_VOTES}
    for v, classifier in classifiers.items():
        predictions[v] = classifier.predict(embeddings)
        accuracy[v] = vote_accuracy(predictions[v], labels)
    if vote is None:
        vote = max(CALIBRATED_VOTES, key=accuracy.__getitem__)  # the first of equals: weighted
        result["vote_rule"] = "best validation accuracy of majority and weighted (ties: weighted)"
    else:
        result["vote_rule"] = f"{NAMED_VOTE_RULE} ({vote}); validation accuracy of each vote stored beside it"
    result["vote"] = vote
    result["validation_accuracy"] = accuracy
    result["unknown_rule"] = unknown_rule_of(vote, unknown_on)
    result["unknown_on"] = unknown_on
    preds = predictions[vote]
    floors = classifiers[vote].unknown_thresholds
    margins = np.array([p.nearest_in_class - floors[p.vote_label] for p in preds if p.vote_label in floors])
    shift, result["unknown_shift_rule"] = choose_unknown_shift(margins)
    result["unknown_shift"] = shift
    shifted = shift_floors(floors, shift)
    turned_away = [p.vote_label in shifted and p.nearest_in_class < shifted[p.vote_label] for p in preds]
    result["false_unknown_rate_validation"] = float(np.mean(turned_away)) if turned_away else None
    is_ai = labels != REAL
    candidates = {
        "ai_vote_share": np.array([np.nan if p.score_ai is None else p.score_ai for p in preds]),
        "ai_similarity_gap": np.array([np.nan if p.ai_similarity_gap is None else p.ai_similarity_gap for p in preds]),
    }
    if len(labels) and np.isfinite(candidates["ai_vote_share"]).all() and is_ai.any() and (~is_ai).any():
        detection = choose_detection_score(candidates, is_ai)
        if detection["detection_score"] == "ai_similarity_gap":
            # the gap's P(AI) holds for the k it was computed with (aidetect.gallery.knn)
            detection["detection_k"] = classifiers[vote].gap_k
        scores = candidates[detection["detection_score"]]
        xs, ys = fit_isotonic(scores, is_ai)
        rules = ClassifierConfig(detection_score=detection["detection_score"], probability_method="isotonic",
                                 probability_x=xs, probability_y=ys)
        probabilities = np.array([rules.probability(s) for s in scores])
        # The threshold is chosen on the probability, the number analysts read.
        threshold = youden_threshold(probabilities, is_ai)
        verdict = probabilities >= threshold
        balanced = 0.5 * (np.mean(verdict[is_ai]) + np.mean(~verdict[~is_ai]))
        result.update(
            **detection,
            detect_threshold=threshold, detect_threshold_rule="youden-validation (on p_ai)",
            detect_balanced_accuracy_validation=float(balanced),
            probability_method="isotonic", probability_x=xs, probability_y=ys,
            probability_ece_validation=expected_calibration_error(probabilities, is_ai),
        )
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
    pixel_cache=None,
    vote: str | None = None,
) -> None:
    """Write ``gallery.npz`` into the model directory and calibrate ``config.classifier`` (not yet saved)."""
    config = model.config

    def embed(samples: list[Sample], progress: str, hash_files: bool, perturb=None):
        """Embeddings of ``samples`` and the labels of those that could be read."""
        embedded = embed_files(
            model.encoder, config.preprocess, [s.path for s in samples], labels=list(range(len(samples))),
            batch_size=batch_size, workers=workers, device=device, hash_files=hash_files, progress=progress, perturb=perturb,
            pixel_cache=pixel_cache,
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
        err.print("no validation split: the detection threshold keeps its default"
                  + ("" if vote else ", and the vote its default"))
        named = {} if vote is None else {"vote": vote, "vote_rule": f"{NAMED_VOTE_RULE} ({vote}); no validation split",
                                         "unknown_rule": unknown_rule_of(vote)}
        config.classifier = ClassifierConfig(detect_threshold_rule="default (no validation split)", **named)
        return
    if val_embedded is None:
        val_embedded, val_labels = embed(validation, "calibrating", False)
    config.classifier = calibrate(gallery, val_embedded.embeddings, val_labels, vote=vote)
