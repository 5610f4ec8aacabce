"""The k-NN classifier over a gallery (thesis 3.2.2, 4.3, 4.4), with an "unknown" verdict.

Rules, in one place:

* **k**: 11 by default; 3 when the smallest gallery class has 20 or fewer
  members (thesis 4.4: k = 11 was best of 11…10001 with large galleries, and
  galleries of 10–20 per class need a small k). An explicit k wins.
* **vote**: ``majority`` (the thesis: the mode of the k labels), ``weighted``
  (each neighbour votes ``softmax(similarity / T)``, T = 0.07, as dinov2's k-NN
  evaluation) or ``balanced`` (the weighted vote with each neighbour's weight
  divided by the size of its class in the gallery: the k-NN estimate of
  P(class | image) when every class is equally likely beforehand, so a generator
  enrolled from 50 images is not outvoted by a class of hundreds merely because
  that class has more rows near the image), or ``centroid`` (each class is its mean
  embedding, made unit length: the class shares are ``softmax(cosine / T)`` over
  the class means, T = 0.07 as the weighted vote, so a class counts once whatever
  its size; how a speaker is enrolled in speaker verification. Measured where
  an encoder spreads each class wide, as a head's hidden layer does: there a
  generator enrolled from 50 images is recognised far more often by its mean
  than by its rows among the 11 nearest, docs/inference.md). Ties in
  ``majority`` go to the label with the higher summed similarity. Confidence is
  the winning label's share of the vote. The neighbours shown as evidence are
  the k nearest rows whatever the vote.
* **detection scores**: the AI vote share, the share of the vote that went to
  any class other than ``real``; and the **similarity gap**, the mean similarity
  of the image to its k nearest AI-generated gallery images minus the mean to its
  k nearest real ones. The vote share is 1.0 for every image none of whose k
  neighbours is real, a quarter of the zoo's real test windows with a learned
  encoder; the gap still ranks those (docs/inference.md). Which of the two the
  verdict uses, and its calibration to P(AI), is chosen on the validation split
  (aidetect.calibration).
* **unknown**: for the votes over neighbours, the image's similarity to the
  nearest gallery member of the winning class is below that class's threshold (see
  :func:`leave_one_out_thresholds`): the image is farther from the class than
  95 % of the class's own members are from each other, and farther than half
  the usual distance from the class to its nearest other class. For the
  ``centroid`` vote, the image's similarity to the winning class's mean is below
  that class's floor on the mean (:func:`class_mean_floors`): less similar to the
  mean than 95 % of the class's own members are to the mean of the others, and
  farther than half the usual distance from the class to the nearest other class
  mean (capped, as for the rows). With ``unknown_on="row"`` the centroid vote is
  judged as the other votes are, by the winning class's nearest gallery row against
  its row floor (searched among the class's rows when none is among the k nearest):
  a generator the gallery lacks is told from a known one better by the nearest
  gallery image than by the class mean, whichever vote named the class
  (docs/zoo-benchmark.md). ``unknown_shift`` moves every floor computed from the
  gallery by one amount, chosen at calibration so that the floors turn away the
  share of held-out images they promise (aidetect.calibration). Thresholds are
  computed from the gallery when it is loaded, so they follow every enrollment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aidetect.config import UNKNOWN_ON, VOTES, unknown_reads_rows
from aidetect.errors import AidetectError
from aidetect.fileio import atomic_write_json
from aidetect.gallery.search import nearest_other_similarity, nearest_similarity
from aidetect.home import aidetect_home
from aidetect.labels import REAL, UNKNOWN

DEFAULT_K = 11
SMALL_GALLERY_K = 3
SMALL_GALLERY_MAX = 20
WEIGHTED_TEMPERATURE = 0.07
#: The centroid vote's softmax temperature over class-mean cosines: the weighted vote's, so the
#: two votes' shares read on one scale.
CENTROID_TEMPERATURE = WEIGHTED_TEMPERATURE
UNKNOWN_QUANTILE = 0.05
UNKNOWN_GAP_FRACTION = 0.5
#: The gap term may widen a class's floor to at most this many times its leave-one-out distance.
UNKNOWN_GAP_CAP = 4.0


def choose_k(class_counts: dict[str, int], k: int | None = None) -> int:
    """The thesis's rule: 11, or 3 when the smallest class has ≤ 20 members; never more than the gallery."""
    total = sum(class_counts.values())
    if k is None:
        smallest = min(class_counts.values()) if class_counts else 0
        k = SMALL_GALLERY_K if smallest <= SMALL_GALLERY_MAX else DEFAULT_K
    return max(1, min(int(k), total))


@dataclass
class Neighbor:
    label: str
    similarity: float
    path: str
    index: int


@dataclass
class Prediction:
    label: str  # the winning class, or "unknown"
    vote_label: str  # the winning class before the unknown rule
    confidence: float  # share of the vote for vote_label
    runner_up: str | None
    runner_up_confidence: float
    score_ai: float | None  # the AI vote share (share of the vote outside "real"); None without a "real" class or without any other
    nearest_in_class: float  # similarity to the nearest member of vote_label (centroid vote with unknown_on="vote": to its mean)
    neighbors: list[Neighbor] = field(default_factory=list)
    #: mean similarity to the k nearest AI-generated gallery images − to the k nearest real ones;
    #: None when the gallery lacks either
    ai_similarity_gap: float | None = None
    #: what the gap is made of, so it can be checked: each side's mean over its k nearest and
    #: its nearest row (None with the gap)
    gap_sides: "GapSides | None" = None


@dataclass
class GapSides:
    k: int  # each side's k nearest (all of a side's rows when it has fewer)
    ai_mean: float
    real_mean: float
    nearest_ai: Neighbor
    nearest_real: Neighbor


def vote_weights(similarities: np.ndarray, vote: str, neighbor_sizes: np.ndarray | None = None) -> np.ndarray:
    """Per-neighbour vote weights [Q, k] that sum to 1 per row. ``balanced`` needs
    ``neighbor_sizes`` [Q, k]: the gallery size of each neighbour's class."""
    if vote == "majority":
        return np.full(similarities.shape, 1.0 / similarities.shape[1])
    if vote in ("weighted", "balanced"):
        logits = similarities / WEIGHTED_TEMPERATURE
        logits = logits - logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        if vote == "balanced":
            if neighbor_sizes is None:
                raise ValueError("the balanced vote needs each neighbour's class size in the gallery")
            weights = weights / np.asarray(neighbor_sizes, dtype=np.float64)
        return weights / weights.sum(axis=1, keepdims=True)
    raise ValueError(f"{vote!r} is not a vote over neighbours; choose majority, weighted or balanced (centroid votes by class means)")


def class_votes(similarities: np.ndarray, neighbor_codes: np.ndarray, n_classes: int, vote: str,
                class_sizes: np.ndarray | None = None) -> np.ndarray:
    """Vote share per class [Q, C]; majority ties broken by a tiny summed-similarity term.
    ``balanced`` needs ``class_sizes`` [C], each class's rows in the gallery."""
    weights = vote_weights(similarities, vote, None if class_sizes is None else np.asarray(class_sizes)[neighbor_codes])
    votes = np.zeros((similarities.shape[0], n_classes))
    rows = np.repeat(np.arange(similarities.shape[0]), similarities.shape[1])
    np.add.at(votes, (rows, neighbor_codes.ravel()), weights.ravel())
    if vote == "majority":
        tie_break = np.zeros_like(votes)
        np.add.at(tie_break, (rows, neighbor_codes.ravel()), similarities.ravel())
        votes = votes + 1e-9 * tie_break
    return votes


def class_sums(gallery, n_classes: int, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([C, D] float64 sum of each class's gallery rows, [C] row counts). Read in blocks, so a
    memory-mapped gallery of a million rows is never copied to float64 whole."""
    embeddings = gallery.embeddings
    sums = np.zeros((n_classes, embeddings.shape[1]), dtype=np.float64)
    block = 65536
    for start in range(0, len(codes), block):
        rows = np.asarray(embeddings[start:start + block], dtype=np.float64)
        block_codes = codes[start:start + block]
        # one bincount per dimension: linear in the rows, and no [rows, classes] one-hot in memory
        for d in range(rows.shape[1]):
            sums[:, d] += np.bincount(block_codes, weights=rows[:, d], minlength=n_classes)
    return sums, np.bincount(codes, minlength=n_classes).astype(np.float64)


def class_means(gallery, class_names: list[str], codes: np.ndarray, unit: bool = True,
                sums: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """[C, D] float32: the mean embedding of each class's gallery rows (made unit length with
    ``unit``; a class with no rows gets zeros), from :func:`class_sums` (given, or read now)."""
    totals, counts = sums if sums is not None else class_sums(gallery, len(class_names), codes)
    means = totals / np.maximum(counts, 1.0)[:, None]
    if unit:
        means = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return means.astype(np.float32)


def class_mean_floors(gallery, class_names: list[str], codes: np.ndarray, quantile: float = UNKNOWN_QUANTILE,
                      max_queries: int = 1000, seed: int = 0,
                      sums: tuple[np.ndarray, np.ndarray] | None = None,
                      gap_fraction: float = UNKNOWN_GAP_FRACTION) -> dict[str, float]:
    """The centroid vote's unknown rule: per class of at least 5 rows, a floor on an image's cosine
    to the class's unit mean. In distances (1 − cosine), the larger of (a) the (1 − ``quantile``)
    quantile of its members' distances to the mean of the class's *other* members (leave-one-out,
    so a member's own row does not pull the mean toward it) and (b) ``gap_fraction`` × the median
    distance from its members to the nearest *other* class mean, capped at ``UNKNOWN_GAP_CAP`` ×
    (a): the row rule's gap term (:func:`leave_one_out_statistics`) with its constants, read on
    class means (``gap_fraction`` 0: (a) alone). (a) alone turned away a tight class's own
    re-encoded images (18.5 % of the zoo's gallery-class test images at JPEG 75, against 13.2 %
    with (b), which caught as many generators left out of the gallery: docs/inference.md). At most
    ``max_queries`` members a class (seeded). ``sums``: :func:`class_sums`, given or read now."""
    rng = np.random.default_rng(seed)
    embeddings = gallery.embeddings
    totals, counts = sums if sums is not None else class_sums(gallery, len(class_names), codes)
    means = class_means(gallery, class_names, codes, sums=(totals, counts)).astype(np.float64)
    floors: dict[str, float] = {}
    for code, name in enumerate(class_names):
        members = np.flatnonzero(codes == code)
        if len(members) < 5:
            continue
        queries = members if len(members) <= max_queries else np.sort(rng.choice(members, max_queries, replace=False))
        rows = np.asarray(embeddings[queries], dtype=np.float64)
        others = totals[code][None, :] - rows
        cosine = (rows * others).sum(axis=1) / np.maximum(np.linalg.norm(others, axis=1) * np.linalg.norm(rows, axis=1), 1e-12)
        # a cosine of rounded rows can pass 1 by an ulp: a floor above 1 would turn away the class's own rows
        floor = min(float(np.quantile(cosine, quantile)), 1.0)
        other_classes = [c for c in range(len(class_names)) if c != code and counts[c] > 0]
        if gap_fraction > 0 and other_classes:
            unit_rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
            gap = float(np.median(1.0 - (unit_rows @ means[other_classes].T).max(axis=1)))
            widened = min(gap_fraction * gap, UNKNOWN_GAP_CAP * (1.0 - floor))
            if widened > 1.0 - floor:  # else the floor stays the quantile itself, to the last digit
                floor = 1.0 - widened
        floors[name] = floor
    return floors


def shift_floors(floors: dict[str, float], shift: float) -> dict[str, float]:
    """Every floor moved by ``shift`` (the calibrated one, aidetect.calibration), never above 1: a
    floor above 1 would turn away an exact copy of a gallery image."""
    return {c: min(f + shift, 1.0) for c, f in floors.items()} if shift else floors


def shares_from_cosines(cosines: np.ndarray, sizes: np.ndarray | None = None) -> np.ndarray:
    """The centroid vote's class shares [Q, C] from each query's cosine to each unit class mean:
    softmax(cosine / T); a class with no rows (``sizes`` 0) gets no share."""
    logits = np.asarray(cosines, dtype=np.float32) / CENTROID_TEMPERATURE
    if sizes is not None:
        logits = np.where(np.asarray(sizes)[None, :] > 0, logits, -np.inf)
    logits = logits - logits.max(axis=1, keepdims=True)
    shares = np.exp(logits.astype(np.float64))
    return shares / shares.sum(axis=1, keepdims=True)


class KNNClassifier:
    """Classifies embeddings against a :class:`~aidetect.gallery.Gallery`.

    Args:
        gallery: reference embeddings with labels.
        k: neighbours; None applies :func:`choose_k`.
        vote: ``weighted``, ``majority``, ``balanced`` or ``centroid``.
        unknown_thresholds: per-class similarity floor (see module docstring), used as given;
            None computes them from the gallery now (shifted by ``unknown_shift``); an empty
            dict disables ``unknown``.
        unknown_on: ``vote`` (the rule reads what the vote read) or ``row`` (the winning
            class's nearest gallery row whatever the vote).
    """

    def __init__(self, gallery, k: int | None = None, vote: str = "weighted", unknown_thresholds: dict[str, float] | None = None,
                 gap_k: int | None = None, unknown_on: str = "vote", unknown_shift: float = 0.0):
        if len(gallery) == 0:
            raise AidetectError("the gallery is empty; enroll reference images first with `aidetect enroll --generator NAME DIR`")
        if vote not in VOTES:
            raise AidetectError(f"--vote {vote!r}: choose one of {', '.join(VOTES)}")
        if unknown_on not in UNKNOWN_ON:
            raise AidetectError(f"unknown_on {unknown_on!r}: choose one of {', '.join(UNKNOWN_ON)}")
        self.gallery = gallery
        self.class_names = sorted(gallery.classes())
        self.codes = np.searchsorted(self.class_names, gallery.labels())
        self.class_sizes = np.bincount(self.codes, minlength=len(self.class_names))
        self.k = choose_k(gallery.classes(), k)
        self.vote = vote
        #: the unknown rule reads the winning class's nearest row (True) or its mean (False)
        self.unknown_reads_rows = unknown_reads_rows(vote, unknown_on)
        self.unknown_shift = float(unknown_shift)
        #: each side's k nearest for the similarity gap: the k it was calibrated with, else the vote's
        self.gap_k = int(gap_k) if gap_k else self.k
        # Real and AI rows are searched apart (one pass over each, the same products as one search
        # over all): the similarity gap needs each side's k nearest, which the k nearest overall
        # need not hold. None: the gallery lacks one side, and only the overall search runs.
        real = self.codes == self.class_names.index(REAL) if REAL in self.class_names else None
        self._sides = None if real is None or real.all() else (np.flatnonzero(real), np.flatnonzero(~real))
        self._given_thresholds = unknown_thresholds
        self._statistics: tuple[dict[str, float], dict[str, float]] | None = None
        self._sums: tuple[np.ndarray, np.ndarray] | None = None
        self._means: np.ndarray | None = None
        self._floors: dict[str, float] | None = None

    def _class_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """One pass over the gallery serves both the class means and their unknown floors."""
        if self._sums is None:
            self._sums = class_sums(self.gallery, len(self.class_names), self.codes)
        return self._sums

    @property
    def means(self) -> np.ndarray:
        """[C, D] unit class means, in ``class_names`` order (computed on first use, then kept)."""
        if self._means is None:
            self._means = class_means(self.gallery, self.class_names, self.codes, sums=self._class_sums())
        return self._means

    @property
    def unknown_thresholds(self) -> dict[str, float]:
        """Per-class similarity floor of the unknown rule (computed on first use, then kept): on
        the nearest row of the winning class for the votes over neighbours and with
        ``unknown_on="row"``, else on the class mean for ``centroid`` (:func:`class_mean_floors`)."""
        if self._given_thresholds is not None:
            return self._given_thresholds
        if self._floors is None:
            if self.unknown_reads_rows:
                floors = self._loo()[0]
            else:
                floors = class_mean_floors(self.gallery, self.class_names, self.codes, sums=self._class_sums())
            self._floors = shift_floors(floors, self.unknown_shift)
        return self._floors

    @property
    def class_spreads(self) -> dict[str, float]:
        """Per-class median distance of members to their nearest other member (evidence's unit)."""
        return self._loo()[1]

    def _loo(self) -> tuple[dict[str, float], dict[str, float]]:
        if self._statistics is None:
            self._statistics = cached_leave_one_out_statistics(self.gallery)
        return self._statistics

    def predict(self, embeddings: np.ndarray, top: int | None = None) -> list[Prediction]:
        """embeddings [Q, D] unit rows → one :class:`Prediction` per row, with ``top`` neighbours (default k)."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if len(embeddings) == 0:
            return []
        n_search = max(self.k, top or 0)
        sides = None
        if self._sides is None:
            sims, idx = self.gallery.search(embeddings, n_search)
        else:
            sims, idx, sides = self._search_sides(embeddings, n_search)
        knn_sims, knn_idx = sims[:, : self.k], idx[:, : self.k]
        if self.vote == "centroid":
            mean_cosines = np.asarray(embeddings, dtype=np.float32) @ self.means.T
            votes = shares_from_cosines(mean_cosines, self.class_sizes)
            order = np.argsort(-votes, axis=1)
            if self.unknown_reads_rows:
                nearest = self._nearest_row_of(embeddings, order[:, 0], sims, idx)
            else:  # the similarity to the winning class's mean, what the vote read
                nearest = np.take_along_axis(mean_cosines, order[:, :1], axis=1)[:, 0]
        else:
            votes = class_votes(knn_sims, self.codes[knn_idx], len(self.class_names), self.vote, self.class_sizes)
            order = np.argsort(-votes, axis=1)
            # The nearest member of the winning class is its first neighbour in the top k (the search
            # is exact and a vote over neighbours always has its winner there): no second search runs.
            nearest = self._nearest_row_of(embeddings, order[:, 0], knn_sims, knn_idx)
        real_code = self.class_names.index(REAL) if REAL in self.class_names else None
        only_real = self.class_names == [REAL]
        paths = self.gallery.paths
        predictions = []
        for q in range(len(embeddings)):
            best = int(order[q, 0])
            second = int(order[q, 1]) if len(self.class_names) > 1 else None
            vote_label = self.class_names[best]
            total = votes[q].sum()
            confidence = float(votes[q, best] / total)
            near = float(nearest[q])
            threshold = self.unknown_thresholds.get(vote_label)
            label = UNKNOWN if threshold is not None and near < threshold else vote_label
            # no real class, or nothing but it: no vote share measures AI against real (as the gap)
            score_ai = None if real_code is None or only_real else float(1.0 - votes[q, real_code] / total)
            shown = top if top is not None else self.k
            neighbors = [
                Neighbor(self.class_names[self.codes[i]], float(s), paths[i], int(i))
                for s, i in zip(sims[q, :shown], idx[q, :shown])
            ]
            predictions.append(
                Prediction(
                    label=label,
                    vote_label=vote_label,
                    confidence=round(confidence, 6),
                    runner_up=self.class_names[second] if second is not None and votes[q, second] > 0 else None,
                    runner_up_confidence=float(votes[q, second] / total) if second is not None else 0.0,
                    score_ai=score_ai,
                    nearest_in_class=near,
                    neighbors=neighbors,
                    ai_similarity_gap=None if sides is None else sides[q].ai_mean - sides[q].real_mean,
                    gap_sides=None if sides is None else sides[q],
                )
            )
        return predictions

    def _nearest_row_of(self, embeddings: np.ndarray, winners: np.ndarray, sims: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """[Q] similarity of each query to the nearest gallery row of its winning class: from its
        searched neighbours (``sims``/``idx``, nearest first) where one of them is of that class,
        else from a search among the class's rows (a class mean can win with none of its rows near)."""
        winner_rows = self.codes[idx] == winners[:, None]
        nearest = np.where(winner_rows, sims, -np.inf).max(axis=1)
        missing = np.flatnonzero(~winner_rows.any(axis=1))
        for code in np.unique(winners[missing]):
            queries = missing[winners[missing] == code]
            found, _ = self.gallery.search(embeddings[queries], 1, rows=np.flatnonzero(self.codes == code))
            nearest[queries] = found[:, 0]
        return nearest

    def _search_sides(self, embeddings: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, list[GapSides]]:
        """The ``n`` nearest rows overall (as :meth:`Gallery.search` orders them) and what the
        similarity gap of each query is made of, from one search among the real rows and one among
        the others."""
        real_rows, ai_rows = self._sides
        per_side = max(n, self.gap_k)
        real_sims, real_idx = self.gallery.search(embeddings, per_side, rows=real_rows)
        ai_sims, ai_idx = self.gallery.search(embeddings, per_side, rows=ai_rows)
        k = self.gap_k
        ai_means = ai_sims[:, :k].mean(axis=1, dtype=np.float64)
        real_means = real_sims[:, :k].mean(axis=1, dtype=np.float64)
        paths = self.gallery.paths

        def first(side_sims, side_idx, q) -> Neighbor:
            row = int(side_idx[q, 0])
            return Neighbor(self.class_names[self.codes[row]], float(side_sims[q, 0]), paths[row], row)

        sides = [GapSides(k, float(ai_means[q]), float(real_means[q]),
                          first(ai_sims, ai_idx, q), first(real_sims, real_idx, q)) for q in range(len(ai_means))]
        idx = np.concatenate([real_idx[:, :n], ai_idx[:, :n]], axis=1)
        # The candidates' similarities once more, each the same dot product wherever its row sits:
        # the two searches ran over blocks of different widths, which may round an embedding stored
        # on both sides differently, and a tie must go to the lower row as in one search.
        rows = np.asarray(self.gallery.embeddings[idx.ravel()], dtype=np.float32).reshape(*idx.shape, -1)
        sims = np.einsum("qd,qnd->qn", np.asarray(embeddings, dtype=np.float32), rows)
        # Descending similarity, ties to the lower row: the order of one search over the whole gallery.
        order = np.lexsort((idx, -sims), axis=1)[:, : min(n, len(self.gallery))]
        return np.take_along_axis(sims, order, axis=1), np.take_along_axis(idx, order, axis=1), sides


def leave_one_out_thresholds(
    gallery, quantile: float = UNKNOWN_QUANTILE, gap_fraction: float = UNKNOWN_GAP_FRACTION, max_queries: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Per class, the similarity below which a query is too far from the class to belong to it
    (see :func:`leave_one_out_statistics`)."""
    return leave_one_out_statistics(gallery, quantile, gap_fraction, max_queries, seed)[0]


def leave_one_out_statistics(
    gallery, quantile: float = UNKNOWN_QUANTILE, gap_fraction: float = UNKNOWN_GAP_FRACTION, max_queries: int = 1000, seed: int = 0
) -> tuple[dict[str, float], dict[str, float]]:
    """(thresholds, spreads): per class, the unknown rule's similarity floor and the median distance
    (1 − similarity) of its members to their nearest other member.

    In distances (1 − similarity), the threshold of class c is the larger of
    (a) the (1 − ``quantile``) quantile of its members' distances to their
    nearest other member (leave-one-out), and (b) ``gap_fraction`` × the median
    distance from its members to the nearest member of any other class, capped at
    ``UNKNOWN_GAP_CAP`` × (a). (a) alone is a little strict for tight clusters;
    (b) lets images that sit between the class and its neighbours belong to it,
    but no farther than 4 × (a): uncapped, between well-separated classes it
    accepted images 70–1000 class spreads away (an unseen synthetic generator,
    tests/test_inference.py).
    The spread is the unit evidence is shown in: a neighbour 0.5 spreads away is
    nearer than most of the class's own members are to each other.
    Classes with fewer than 5 members get neither. At most ``max_queries`` members
    per class are used (seeded), so this stays fast for galleries of 100k per class.
    """
    rng = np.random.default_rng(seed)
    labels = gallery.labels()
    thresholds: dict[str, float] = {}
    spreads: dict[str, float] = {}
    for name in sorted(gallery.classes()):
        members = np.flatnonzero(labels == name)
        others = np.flatnonzero(labels != name)
        if len(members) < 5:
            continue
        queries = members if len(members) <= max_queries else np.sort(rng.choice(members, max_queries, replace=False))
        q = np.asarray(gallery.embeddings[queries], dtype=np.float32)
        # Leave each query out of its own class (exact duplicates elsewhere still count).
        within = nearest_other_similarity(q, gallery.embeddings[members], np.searchsorted(members, queries))
        loo_distance = float(np.quantile(1.0 - within, 1.0 - quantile))
        gap = 0.0
        if len(others):
            gap = float(np.median(1.0 - nearest_similarity(q, gallery.embeddings[others])))
        # The gap term keeps a tight class from calling its own new images unknown, but capped:
        # between well-separated classes half the gap is a region hundreds of the class's own
        # spreads wide, and an unseen generator mapped there was attributed, not unknown.
        thresholds[name] = 1.0 - max(loo_distance, min(gap_fraction * gap, UNKNOWN_GAP_CAP * loo_distance))
        spreads[name] = max(float(np.median(1.0 - within)), 1e-6)
    return thresholds, spreads


_STATISTICS_VERSION = 1


def _statistics_cache(gallery) -> Path | None:
    """Where the unknown rule's statistics of this gallery content are kept (None: not cacheable)."""
    content = getattr(gallery, "content_hash", None)
    if content is None:
        return None
    key = f"{content()[:32]}-v{_STATISTICS_VERSION}-q{UNKNOWN_QUANTILE}-g{UNKNOWN_GAP_FRACTION}-c{UNKNOWN_GAP_CAP}"
    return aidetect_home() / "cache" / "unknown-rule" / f"{key}.json"


def cached_leave_one_out_statistics(gallery) -> tuple[dict[str, float], dict[str, float]]:
    """:func:`leave_one_out_statistics`, kept in the aidetect home by the gallery's content hash:
    they cost 0.5-1 s per command for a 6,640-row gallery and depend only on its content.
    A cache that cannot be read or written is ignored (computed again)."""
    path = _statistics_cache(gallery)
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            thresholds, spreads = data["thresholds"], data["spreads"]
            if all(isinstance(v, float) for v in list(thresholds.values()) + list(spreads.values())):
                return {str(k): v for k, v in thresholds.items()}, {str(k): v for k, v in spreads.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    statistics = leave_one_out_statistics(gallery)
    if path is not None:
        try:
            atomic_write_json(path, {"thresholds": statistics[0], "spreads": statistics[1]})
        except (OSError, AidetectError):
            pass
    return statistics
