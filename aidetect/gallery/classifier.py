"""The product's classifier: a model's decision rules applied to a gallery search.

``detect``, ``attribute``, ``evaluate`` and ``sweep`` all classify through
:func:`classifier_for` and turn a :class:`~aidetect.gallery.knn.Prediction` into
what they report with :func:`verdict_fields`, so what is measured is what ships.
"""

from __future__ import annotations

from aidetect.config import ClassifierConfig
from aidetect.gallery.knn import KNNClassifier, Prediction
from aidetect.labels import REAL

TASKS = ("attribute", "detect")


def classifier_for(gallery, rules: ClassifierConfig, *, k: int | None = None, vote: str | None = None,
                   unknown_thresholds: dict[str, float] | None = None) -> KNNClassifier:
    """The k-NN classifier of ``rules`` over ``gallery``; ``k``/``vote`` override the rules (CLI options)."""
    return KNNClassifier(gallery, k=k if k is not None else rules.k, vote=vote or rules.vote,
                         unknown_thresholds=unknown_thresholds)


def is_ai(score_ai: float, rules: ClassifierConfig) -> bool:
    """The detection rule: the AI score reaches the calibrated threshold."""
    return score_ai >= rules.detect_threshold


def verdict_fields(task: str, prediction: Prediction, classifier: KNNClassifier, rules: ClassifierConfig) -> dict:
    """The verdict part of a ``detect`` or ``attribute`` record (docs/output-schema.md)."""
    if task == "attribute":
        return {
            "label": prediction.label,
            "confidence": prediction.confidence,
            "nearest_label": prediction.vote_label,
            "nearest_in_class_similarity": round(prediction.nearest_in_class, 6),
            "unknown_threshold": classifier.unknown_thresholds.get(prediction.vote_label),
            "runner_up": prediction.runner_up,
            "runner_up_confidence": round(prediction.runner_up_confidence, 6),
            "score_ai": prediction.score_ai,
        }
    if task == "detect":
        return {
            "verdict": "ai" if is_ai(prediction.score_ai, rules) else REAL,
            "score": prediction.score_ai,
            "threshold": rules.detect_threshold,
            "nearest_label": prediction.vote_label,
        }
    raise ValueError(f"task must be one of {TASKS}, not {task!r}")
