"""Detection and attribution metrics, computed with scikit-learn.

Conventions follow the thesis (section 3.5.2): detection is evaluated per
generator against the real images, AUC with ``real`` as the positive class;
attribution reports precision, recall and F1 per class and their macro means
over zero-shot and over seen classes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score

from aidetect.labels import REAL



def detection_metrics(true_labels: Sequence[str], score_ai: np.ndarray, threshold: float) -> dict:
    """Per generator g (test images of g and of ``real``): AUC (real positive, score 1 − P(AI)) and accuracy."""
    true = np.asarray(true_labels)
    score_ai = np.asarray(score_ai, dtype=float)
    verdict_ai = score_ai >= threshold
    per_generator = {}
    real = true == REAL
    if not real.any():
        return {"per_generator": {}, "mean_auc": None, "mean_accuracy": None, "threshold": threshold}
    for generator in sorted(set(true) - {REAL}):
        subset = real | (true == generator)
        is_real = real[subset]
        auc = float(roc_auc_score(is_real, 1.0 - score_ai[subset]))
        acc = float(accuracy_score(~is_real, verdict_ai[subset]))
        per_generator[generator] = {"auc": auc, "accuracy": acc, "n": int((true == generator).sum()), "n_real": int(real.sum())}
    aucs = [m["auc"] for m in per_generator.values()]
    accs = [m["accuracy"] for m in per_generator.values()]
    return {
        "per_generator": per_generator,
        "mean_auc": float(np.mean(aucs)) if aucs else None,
        "mean_accuracy": float(np.mean(accs)) if accs else None,
        "overall_auc": float(roc_auc_score(real, 1.0 - score_ai)) if (~real).any() else None,
        "threshold": threshold,
    }


def attribution_metrics(true_labels: Sequence[str], predicted: Sequence[str], zero_shot: Sequence[str]) -> dict:
    """Per-class P/R/F1, macro means over zero-shot and seen classes, accuracy, confusion matrix (rows = truth)."""
    true = np.asarray(true_labels)
    pred = np.asarray(predicted)
    classes = sorted(set(true) | set(pred))
    present = sorted(set(true))
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=present, zero_division=0)
    per_class = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s), "zero_shot": c in zero_shot}
        for c, p, r, f, s in zip(present, precision, recall, f1, support)
    }

    def macro(names):
        names = [n for n in names if n in per_class]
        if not names:
            return None
        return {m: float(np.mean([per_class[n][m] for n in names])) for m in ("precision", "recall", "f1")} | {"classes": names}

    return {
        "per_class": per_class,
        "zero_shot": macro([c for c in present if c in zero_shot]),
        "seen": macro([c for c in present if c not in zero_shot]),
        "macro": macro(present),
        "accuracy": float(accuracy_score(true, pred)),
        "confusion": {"labels": classes, "matrix": confusion_matrix(true, pred, labels=classes).tolist()},
    }
