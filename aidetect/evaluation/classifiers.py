"""Embedding classifiers compared in the thesis (section 3.2.2), behind one interface.

Each is fitted on gallery embeddings and returns a score per class [Q, C]
(rows sum to 1) over ``class_names``:

* ``knn``: the product's own classifier (aidetect.gallery.classifier; the default, best in
  the thesis), applied by aidetect.evaluation.evaluate.classify, not here;
* ``centroid``: nearest class mean by Euclidean distance, scores softmax(−d/T);
* ``ffn-centroid``: a feed-forward network on (anchor ⊕ class centroid) that
  predicts "same class"; the class with the highest probability wins;
* ``ffn-representative``: the same against one random member per class.
"""

from __future__ import annotations

import numpy as np

from aidetect.errors import AidetectError

CLASSIFIERS = ("knn", "centroid", "ffn-centroid", "ffn-representative")
CENTROID_TEMPERATURE = 0.05


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


class CentroidScores:
    def __init__(self, gallery, **_):
        from aidetect.gallery.knn import class_means

        self.class_names = sorted(gallery.classes())
        codes = np.searchsorted(self.class_names, gallery.labels())
        # the thesis's centroid: the plain mean (not unit length), compared by Euclidean distance
        self.centroids = class_means(gallery, self.class_names, codes, unit=False)

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        q = np.asarray(embeddings, dtype=np.float32)
        squared = (q**2).sum(1, keepdims=True) - 2 * q @ self.centroids.T + (self.centroids**2).sum(1)[None]
        distance = np.sqrt(np.maximum(squared, 0))
        return _softmax(-distance / CENTROID_TEMPERATURE)


class PairFFNScores:
    """Thesis's feed-forward pair classifier, trained on the gallery with scikit-learn's MLP."""

    def __init__(self, gallery, reference: str = "centroid", seed: int = 0, **_):
        from sklearn.neural_network import MLPClassifier

        rng = np.random.default_rng(seed)
        labels = gallery.labels()
        self.class_names = sorted(gallery.classes())
        embeddings = np.asarray(gallery.embeddings, dtype=np.float32)
        if reference == "centroid":
            refs = [embeddings[labels == c].mean(axis=0) for c in self.class_names]
        else:
            refs = [embeddings[rng.choice(np.flatnonzero(labels == c))] for c in self.class_names]
        self.references = np.stack(refs)
        codes = np.searchsorted(self.class_names, labels)
        # One positive (own class) and one negative (a random other class) pair per gallery image.
        others = (codes + rng.integers(1, max(2, len(self.class_names)), len(codes))) % len(self.class_names)
        anchors = np.concatenate([embeddings, embeddings])
        partners = np.concatenate([self.references[codes], self.references[others]])
        same = np.concatenate([np.ones(len(codes)), np.zeros(len(codes))])
        self.model = MLPClassifier(hidden_layer_sizes=(256,), max_iter=300, random_state=seed, early_stopping=len(same) >= 50)
        self.model.fit(np.concatenate([anchors, partners], axis=1), same)

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        q = np.asarray(embeddings, dtype=np.float32)
        n, c = len(q), len(self.class_names)
        pairs = np.concatenate([np.repeat(q, c, axis=0), np.tile(self.references, (n, 1))], axis=1)
        same_column = list(self.model.classes_).index(1.0)
        p_same = self.model.predict_proba(pairs)[:, same_column].reshape(n, c)
        return p_same / np.maximum(p_same.sum(axis=1, keepdims=True), 1e-12)


def build_classifier(name: str, gallery, k=None, vote="weighted", seed: int = 0):
    """One of the thesis's alternative classifiers (``knn`` is the product's, not built here)."""
    if name == "centroid":
        return CentroidScores(gallery)
    if name == "ffn-centroid":
        return PairFFNScores(gallery, reference="centroid", seed=seed)
    if name == "ffn-representative":
        return PairFFNScores(gallery, reference="representative", seed=seed)
    raise AidetectError(f"unknown classifier {name!r}; choose one of {', '.join(CLASSIFIERS)}")
