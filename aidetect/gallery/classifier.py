"""The product's classifier: a model's decision rules applied to a gallery search, one decision per image.

``detect``, ``attribute``, ``evaluate`` and ``sweep`` all classify through
:func:`classifier_for`; ``detect`` and ``attribute`` both print the record of
:func:`decide`, so they can never disagree: the record carries the generator verdict
(``label``: a class, ``real`` or ``unknown``) and the AI-or-real verdict (``verdict``:
``ai``, ``real`` or ``inconclusive``), both from the same neighbours. docs/inference.md
states the rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from aidetect.config import ClassifierConfig
from aidetect.gallery.knn import KNNClassifier, Prediction
from aidetect.labels import REAL, UNKNOWN

TASKS = ("attribute", "detect")
#: Two vote shares closer than this are a tie.
TIE_TOLERANCE = 1e-6
#: Real and a generator within this much of the vote: too close to call real or AI.
NEAR_TIE = 0.05
#: Below this share of tiles agreeing with the whole-image verdict, the verdict is inconclusive.
TILE_AGREEMENT_FLOOR = 0.5


def classifier_for(gallery, rules: ClassifierConfig, *, k: int | None = None, vote: str | None = None,
                   unknown_thresholds: dict[str, float] | None = None) -> KNNClassifier:
    """The k-NN classifier of ``rules`` over ``gallery``; ``k``/``vote`` override the rules (CLI options)."""
    vote = vote or rules.vote
    # the shift was calibrated on the model's own vote: another vote (--vote) runs the rule unshifted
    return KNNClassifier(gallery, k=k if k is not None else rules.k, vote=vote,
                         unknown_thresholds=unknown_thresholds, gap_k=rules.detection_k,
                         unknown_on=rules.unknown_on, unknown_shift=rules.unknown_shift if vote == rules.vote else 0.0)


def detection_value(prediction: Prediction, rules: ClassifierConfig) -> float | None:
    """The raw number detection rests on (``rules.detection_score``): the AI vote share or the
    similarity gap; None when the gallery lacks real or AI-generated images."""
    return prediction.ai_similarity_gap if rules.detection_score == "ai_similarity_gap" else prediction.score_ai


def detection_score(value: float, rules: ClassifierConfig) -> float:
    """The number the threshold applies to: P(AI) when the model is calibrated, else ``value``
    (then always the vote share: an uncalibrated model has no other detection score)."""
    p = rules.probability(value)
    return value if p is None else p


def is_ai(value: float, rules: ClassifierConfig) -> bool:
    """The detection rule alone: the detection score reaches the calibrated threshold."""
    return detection_score(value, rules) >= rules.detect_threshold


@dataclass
class Decision:
    """One image's verdicts and the numbers behind them (docs/output-schema.md)."""

    label: str  # the generator verdict: a gallery class, "real" or "unknown"
    verdict: str  # "ai", "real" or "inconclusive"
    reason: str | None  # why inconclusive (or None)
    p_ai: float | None  # calibrated P(AI-generated); None for a model without calibration
    ai_vote_share: float | None  # share of the vote outside "real"; None without a real class or with nothing else
    # mean similarity to the k nearest AI-generated gallery images − to the k nearest real ones
    ai_similarity_gap: float | None
    p_ai_from: str  # which of the two p_ai (or the threshold) is computed from: the model's detection score
    threshold: float
    threshold_on: str  # "p_ai" or "ai_vote_share"
    vote_share: float  # the winning class's share of the vote
    runner_up: str | None
    runner_up_share: float
    margin: float  # vote_share − runner_up_share
    tie: bool
    nearest_label: str  # the winning class before the unknown rule
    nearest_in_class_similarity: float
    unknown_threshold: float | None

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("p_ai", "ai_vote_share", "ai_similarity_gap", "vote_share", "runner_up_share", "margin", "nearest_in_class_similarity"):
            if d[key] is not None:
                d[key] = round(float(d[key]), 6)
        return d


def decide(prediction: Prediction, classifier: KNNClassifier, rules: ClassifierConfig,
           tile_ai: Sequence[bool] | None = None) -> Decision:
    """The one rule (docs/inference.md). ``prediction`` is the whole image's (its tiles' mean
    embedding); ``tile_ai`` says, per tile, whether that tile alone reaches the threshold."""
    share = prediction.score_ai
    value = detection_value(prediction, rules)
    p_ai = None if value is None else rules.probability(value)
    runner = prediction.runner_up
    runner_share = float(prediction.runner_up_confidence) if runner else 0.0
    margin = float(prediction.confidence) - runner_share
    tie = runner is not None and margin < TIE_TOLERANCE
    label = prediction.label
    reason = None
    # Both scores are None when the gallery lacks a side: without AI-generated images a vote share
    # of 0 would be no evidence of "real" either, as nothing AI-generated was there to be nearer to.
    if value is None:
        missing = "AI-generated" if share is not None or REAL in getattr(classifier, "class_names", ()) else "real"
        verdict, reason = "inconclusive", f"the gallery has no {missing} class, so real and AI cannot be told apart"
    else:
        score = detection_score(value, rules)
        ai_side = score >= rules.detect_threshold
        score_name = "P(AI)" if p_ai is not None else "the AI vote share"
        if runner is not None and margin < NEAR_TIE and REAL in (prediction.vote_label, runner):
            other = runner if prediction.vote_label == REAL else prediction.vote_label
            reason = (f"a tie between real and {other} ({prediction.confidence:.2f} each)" if tie else
                      f"real and {other} are within {margin:.4f} of each other in the vote")
        elif label == UNKNOWN:
            floor = classifier.unknown_thresholds.get(prediction.vote_label)
            centroid = getattr(classifier, "vote", None) == "centroid"
            if centroid and getattr(classifier, "unknown_reads_rows", False):
                reason = (f"farther from every gallery image of {prediction.vote_label}, the nearest class mean, than its own "
                          f"images are from each other (nearest: similarity {prediction.nearest_in_class:.4f} below its floor {floor:.4f})")
            elif centroid:
                reason = (f"farther from the mean of {prediction.vote_label}, the nearest class mean, than its own images are "
                          f"(similarity {prediction.nearest_in_class:.4f} below its floor {floor:.4f})")
            else:
                reason = (f"farther from every gallery class than their own members are (nearest: {prediction.vote_label}, "
                          f"similarity {prediction.nearest_in_class:.4f} below its floor {floor:.4f})")
        elif label == REAL and ai_side:
            reason = f"the nearest class is real, but {score_name} {score:.3f} reaches the threshold {rules.detect_threshold:.3f}"
        elif label != REAL and not ai_side:
            reason = f"the nearest class is {label}, but {score_name} {score:.3f} is below the threshold {rules.detect_threshold:.3f}"
        elif tile_ai is not None and len(tile_ai) > 1:
            n_ai = int(sum(bool(t) for t in tile_ai))
            agreeing = n_ai if ai_side else len(tile_ai) - n_ai
            if not ai_side and n_ai:
                # A region made by a generator need not move the mean of the tiles: one is enough to doubt "real".
                reason = f"{n_ai} of {len(tile_ai)} tiles look AI-generated on their own, the whole image does not"
            elif agreeing / len(tile_ai) < TILE_AGREEMENT_FLOOR:
                reason = f"only {agreeing} of {len(tile_ai)} tiles agree with the whole-image verdict"
        verdict = "inconclusive" if reason else ("ai" if ai_side else REAL)
    return Decision(
        label=label, verdict=verdict, reason=reason, p_ai=p_ai, ai_vote_share=share,
        ai_similarity_gap=prediction.ai_similarity_gap, p_ai_from=rules.detection_score,
        threshold=rules.detect_threshold, threshold_on=rules.threshold_on,
        vote_share=float(prediction.confidence), runner_up=runner, runner_up_share=runner_share,
        margin=margin, tie=tie, nearest_label=prediction.vote_label,
        nearest_in_class_similarity=float(prediction.nearest_in_class),
        unknown_threshold=classifier.unknown_thresholds.get(prediction.vote_label),
    )
