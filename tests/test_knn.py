"""The k-NN rules on hand-made galleries with known answers (aidetect.gallery.knn)."""

import numpy as np
import pytest

from aidetect.gallery import Gallery
from aidetect.gallery.knn import (
    DEFAULT_K,
    SMALL_GALLERY_K,
    KNNClassifier,
    choose_k,
    class_votes,
    leave_one_out_thresholds,
    vote_weights,
)
from aidetect.errors import AidetectError
from aidetect.labels import UNKNOWN


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def gallery_of(embeddings, labels):
    g = Gallery.create("f" * 16, embeddings.shape[1])
    shas = [f"{i:064x}" for i in range(len(labels))]
    g.add_labelled(embeddings, labels, [f"/g/{i}.png" for i in range(len(labels))], shas)
    return g


def clusters(centres: dict[str, list[float]], per_class: int, spread: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    embeddings, labels = [], []
    for name, centre in centres.items():
        embeddings.append(unit(np.asarray(centre) + rng.normal(0, spread, (per_class, len(centre)))))
        labels += [name] * per_class
    return np.concatenate(embeddings), labels


CENTRES = {"real": [1, 0, 0, 0], "gen_a": [0, 1, 0, 0], "gen_b": [0, 0, 1, 0]}


def test_k_rule():
    assert choose_k({"a": 100, "b": 21}) == DEFAULT_K == 11
    assert choose_k({"a": 100, "b": 20}) == SMALL_GALLERY_K == 3
    assert choose_k({"a": 100, "b": 20}, k=7) == 7  # an explicit k wins
    assert choose_k({"a": 2}, k=50) == 2  # never more than the gallery


def test_majority_weights_are_equal_and_weighted_favour_the_nearest():
    sims = np.array([[0.9, 0.8, 0.1]])
    np.testing.assert_allclose(vote_weights(sims, "majority"), [[1 / 3] * 3])
    weighted = vote_weights(sims, "weighted")
    assert weighted.sum() == pytest.approx(1.0)
    # softmax(s / 0.07): the ratio of two weights is exp(Δs / 0.07)
    assert weighted[0, 0] / weighted[0, 1] == pytest.approx(np.exp(0.1 / 0.07), rel=1e-5)
    with pytest.raises(ValueError):
        vote_weights(sims, "bogus")


def test_majority_tie_goes_to_the_higher_summed_similarity():
    # two neighbours each for classes 0 and 1; class 1's are nearer
    sims = np.array([[0.5, 0.5, 0.9, 0.9]])
    codes = np.array([[0, 0, 1, 1]])
    votes = class_votes(sims, codes, 2, "majority")
    assert votes[0, 1] > votes[0, 0]
    assert votes[0, 1] == pytest.approx(0.5, abs=1e-6)


def test_vote_on_separated_clusters_gives_the_true_class_and_the_ai_score():
    embeddings, labels = clusters(CENTRES, 30, 0.05)
    knn = KNNClassifier(gallery_of(embeddings, labels))
    queries, truth = clusters(CENTRES, 5, 0.05, seed=1)
    predictions = knn.predict(queries)
    assert [p.label for p in predictions] == truth
    for p, t in zip(predictions, truth):
        assert p.confidence > 0.99
        assert p.score_ai == pytest.approx(0.0 if t == "real" else 1.0, abs=1e-6)


def test_score_ai_is_the_vote_share_outside_real():
    # 2 real and 1 gen_a neighbour at equal similarity, majority vote, k = 3
    embeddings = unit([[1, 0.01, 0], [1, -0.01, 0], [1, 0, 0.01]])
    knn = KNNClassifier(gallery_of(embeddings, ["real", "real", "gen_a"]), k=3, vote="majority", unknown_thresholds={})
    (p,) = knn.predict(unit([[1, 0, 0]]))
    assert p.vote_label == "real"
    assert p.score_ai == pytest.approx(1 / 3, abs=1e-6)
    assert p.runner_up == "gen_a" and p.runner_up_confidence == pytest.approx(1 / 3, abs=1e-6)


def test_no_real_class_means_no_ai_score():
    embeddings, labels = clusters({"gen_a": [1, 0, 0], "gen_b": [0, 1, 0]}, 10, 0.05)
    (p,) = KNNClassifier(gallery_of(embeddings, labels)).predict(embeddings[:1])
    assert p.score_ai is None


def test_unknown_rule_rejects_a_far_cluster_and_keeps_members():
    embeddings, labels = clusters(CENTRES, 40, 0.05)
    knn = KNNClassifier(gallery_of(embeddings, labels))
    near, _ = clusters(CENTRES, 10, 0.05, seed=2)
    far, _ = clusters({"new": [0, 0, 0, 1]}, 10, 0.05, seed=3)
    assert np.mean([p.label == UNKNOWN for p in knn.predict(near)]) <= 0.2
    far_predictions = knn.predict(far)
    assert all(p.label == UNKNOWN for p in far_predictions)
    assert all(p.vote_label in CENTRES for p in far_predictions)  # the vote is still reported


def test_leave_one_out_threshold_follows_its_definition():
    embeddings, labels = clusters({"a": [1, 0, 0], "b": [0, 1, 0]}, 20, 0.1)
    g = gallery_of(embeddings, labels)
    thresholds = leave_one_out_thresholds(g, quantile=0.05, gap_fraction=0.5)
    stored = np.asarray(g.embeddings, dtype=np.float32)  # the gallery keeps float16
    a = stored[:20]
    sims = a @ a.T
    np.fill_diagonal(sims, -np.inf)
    loo = np.quantile(1 - sims.max(axis=1), 0.95)
    gap = np.median(1 - (a @ stored[20:].T).max(axis=1))
    assert thresholds["a"] == pytest.approx(1 - max(loo, min(0.5 * gap, 4 * loo)), abs=1e-3)


def test_the_gap_term_is_capped_for_well_separated_classes():
    # Tight, far-apart classes: half the gap is huge; the floor stays within 4 leave-one-out distances.
    embeddings, labels = clusters({"a": [1, 0, 0], "b": [0, 1, 0]}, 30, 0.05)
    g = gallery_of(embeddings, labels)
    thresholds = leave_one_out_thresholds(g)
    a = np.asarray(g.embeddings, dtype=np.float32)[:30]
    sims = a @ a.T
    np.fill_diagonal(sims, -np.inf)
    loo = np.quantile(1 - sims.max(axis=1), 0.95)
    assert 1 - thresholds["a"] == pytest.approx(4 * loo, rel=1e-2)
    between = unit([[1, 0.5, 0]])  # far from a's members, far nearer to a than to b
    knn = KNNClassifier(gallery_of(embeddings, labels))
    assert knn.predict(between)[0].label == "unknown"


def test_leave_one_out_keeps_exact_duplicates_in_other_rows():
    base, labels = clusters({"a": [1, 0, 0]}, 6, 0.1)
    embeddings = np.concatenate([base, base[:1]])  # row 6 duplicates row 0
    g = gallery_of(embeddings, labels + ["a"])
    thresholds = leave_one_out_thresholds(g, quantile=0.0, gap_fraction=0.0)
    # quantile 0 → the largest leave-one-out distance; row 0's nearest other is its duplicate (distance 0)
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -np.inf)
    assert thresholds["a"] == pytest.approx(1 - (1 - sims.max(axis=1)).max(), abs=1e-3)


def test_small_classes_get_no_unknown_threshold():
    embeddings, labels = clusters({"a": [1, 0, 0], "b": [0, 1, 0]}, 4, 0.05)
    assert leave_one_out_thresholds(gallery_of(embeddings, labels)) == {}


def test_unknown_rule_statistics_are_cached_by_gallery_content(tmp_path, monkeypatch):
    from aidetect.gallery import knn as knn_module

    monkeypatch.setenv("AIDETECT_HOME", str(tmp_path))
    embeddings, labels = clusters(CENTRES, 20, 0.05)
    g = gallery_of(embeddings, labels)
    fresh = knn_module.leave_one_out_statistics(g)
    assert knn_module.cached_leave_one_out_statistics(g) == fresh
    path = knn_module._statistics_cache(g)
    assert path.is_file()
    calls = []
    monkeypatch.setattr(knn_module, "leave_one_out_statistics", lambda *a, **k: calls.append(1) or fresh)
    assert KNNClassifier(g).unknown_thresholds == fresh[0] and calls == []  # read from the cache
    path.write_text("{not json")
    assert knn_module.cached_leave_one_out_statistics(g) == fresh and calls == [1]  # a broken cache is recomputed


def _mixed_gallery(seed=0):
    """A gallery of real and three generators in random order, with exact duplicates across classes (ties)."""
    rng = np.random.default_rng(seed)
    embeddings = unit(rng.normal(size=(300, 8)))
    labels = list(rng.choice(["real", "gen_a", "gen_b", "gen_c"], size=300))
    embeddings[10] = embeddings[200]  # the same embedding under two labels: a tie the order must settle
    labels[10], labels[200] = "real", "gen_a"
    return gallery_of(embeddings, labels), unit(rng.normal(size=(40, 8)))


def test_searching_real_and_ai_rows_apart_finds_the_neighbours_of_one_search():
    gallery, queries = _mixed_gallery()
    # the two rows holding the duplicate (the gallery orders rows by class)
    i, j = np.flatnonzero(np.isin(gallery.sha256s, [f"{10:064x}", f"{200:064x}"]))
    queries = np.concatenate([queries, gallery.embeddings[j : j + 1].astype(np.float32)])  # hits the tie exactly
    knn = KNNClassifier(gallery, k=11, unknown_thresholds={})
    sims, idx = gallery.search(queries, 25)
    for q, p in enumerate(knn.predict(queries, top=25)):
        assert [n.index for n in p.neighbors] == idx[q].tolist()
        np.testing.assert_allclose([n.similarity for n in p.neighbors], sims[q], atol=1e-6)  # recomputed per pair
    assert [n.index for n in knn.predict(queries[-1:], top=2)[0].neighbors] == [i, j]  # ties to the lower row


def test_search_restricted_to_rows_is_a_search_of_those_rows():
    gallery, queries = _mixed_gallery(1)
    full = queries @ gallery.embeddings.astype(np.float32).T
    # one class's rows (consecutive: read as a view) and every third row (gathered)
    for rows in (np.flatnonzero(gallery.labels() == "gen_b"), np.arange(0, len(gallery), 3)):
        sims, idx = gallery.search(queries, 7, rows=rows)
        for q in range(len(queries)):
            expected = rows[np.argsort(-full[q, rows], kind="stable")[:7]]
            assert idx[q].tolist() == expected.tolist()
            np.testing.assert_allclose(sims[q], full[q, expected], atol=1e-6)
    rows = np.flatnonzero(gallery.labels() == "gen_b")
    few = gallery.search(queries, 500, rows=rows[:3])  # fewer rows than k: all of them
    assert few[1].shape == (len(queries), 3) and set(few[1][0]) == set(rows[:3])


def test_similarity_gap_is_the_mean_of_each_sides_k_nearest():
    gallery, queries = _mixed_gallery(2)
    knn = KNNClassifier(gallery, k=5, unknown_thresholds={})
    sims = queries @ gallery.embeddings.astype(np.float32).T
    real = gallery.labels() == "real"
    for q, p in enumerate(knn.predict(queries, top=0)):
        expected = np.sort(sims[q, ~real])[::-1][:5].mean() - np.sort(sims[q, real])[::-1][:5].mean()
        assert p.ai_similarity_gap == pytest.approx(expected, abs=1e-6)


def test_no_gap_without_both_real_and_ai_rows():
    embeddings, labels = clusters({"gen_a": [1, 0, 0, 0], "gen_b": [0, 1, 0, 0]}, 10, 0.05)
    p = KNNClassifier(gallery_of(embeddings, labels)).predict(embeddings[:1])[0]
    assert p.ai_similarity_gap is None and p.score_ai is None
    embeddings, labels = clusters({"real": [1, 0, 0, 0]}, 10, 0.05)
    p = KNNClassifier(gallery_of(embeddings, labels)).predict(embeddings[:1])[0]
    assert p.ai_similarity_gap is None and p.score_ai is None  # nothing AI-generated to be nearer to


def test_the_gap_ranks_real_images_the_vote_share_ties_at_one():
    """The case behind the gap (docs/inference.md): a real image whose k nearest neighbours are all
    AI-generated has a vote share of 1.0, like the AI images, yet lies nearer the real rows than they do."""
    def at(degrees, n, rng):
        a = np.radians(degrees + rng.normal(0, 0.3, n))
        return unit(np.stack([np.cos(a), np.sin(a), rng.normal(0, 0.002, n)], axis=1))

    rng = np.random.default_rng(0)
    gallery = gallery_of(np.concatenate([at(0, 20, rng), at(20, 200, rng)]), ["real"] * 20 + ["gen_a"] * 200)
    real_queries, ai_queries = at(12, 10, rng), at(20, 10, rng)
    knn = KNNClassifier(gallery, k=11, unknown_thresholds={})
    real_p, ai_p = knn.predict(real_queries), knn.predict(ai_queries)
    assert all(p.score_ai == 1.0 for p in real_p + ai_p)  # the vote share cannot tell them apart
    assert max(p.ai_similarity_gap for p in real_p) < min(p.ai_similarity_gap for p in ai_p)


def test_the_gap_keeps_its_calibrated_k_whatever_the_votes_k():
    gallery, queries = _mixed_gallery(3)
    sims = queries @ gallery.embeddings.astype(np.float32).T
    real = gallery.labels() == "real"
    for vote_k in (3, 11, 31):
        p = KNNClassifier(gallery, k=vote_k, gap_k=5, unknown_thresholds={}).predict(queries[:1], top=0)[0]
        expected = np.sort(sims[0, ~real])[::-1][:5].mean() - np.sort(sims[0, real])[::-1][:5].mean()
        assert p.ai_similarity_gap == pytest.approx(expected, abs=1e-6)


def test_balanced_vote_keeps_a_small_class_that_a_large_neighbour_outvotes():
    """The case behind ``--vote balanced``: 12 enrolled images of a new generator, 8° around the
    query, beside a class of 300 of which 8 members sit 5° from it. Those 8 fill most of the 11
    nearest, so the weighted and majority votes name the large class; weighed by class size (8 of
    300 against 3 of 12), the balanced vote names the new one."""
    rng = np.random.default_rng(4)

    def around_z(degrees, n):
        polar = np.radians(np.full(n, float(degrees)) + rng.normal(0, 0.2, n))
        azimuth = rng.uniform(0, 2 * np.pi, n)
        return unit(np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1))

    gallery = gallery_of(np.concatenate([around_z(5, 8), around_z(30, 292), around_z(8, 12), around_z(120, 30)]),
                         ["gen_big"] * 300 + ["gen_new"] * 12 + ["real"] * 30)
    query = unit([[0, 0, 1]])
    for vote in ("weighted", "majority"):
        (p,) = KNNClassifier(gallery, k=11, vote=vote, unknown_thresholds={}).predict(query)
        assert p.vote_label == "gen_big"
    (p,) = KNNClassifier(gallery, k=11, vote="balanced", unknown_thresholds={}).predict(query)
    assert p.vote_label == "gen_new" and p.runner_up == "gen_big"
    assert [n.label for n in p.neighbors].count("gen_big") == 8  # the evidence is the same 11 nearest


def test_balanced_vote_follows_its_definition():
    gallery, queries = _mixed_gallery(5)
    labels = gallery.labels()
    names = sorted(set(labels))
    sizes = {c: int(np.sum(labels == c)) for c in names}
    assert len(set(sizes.values())) > 1  # classes of different sizes, or the test shows nothing
    knn = KNNClassifier(gallery, k=5, vote="balanced", unknown_thresholds={})
    sims = queries @ gallery.embeddings.astype(np.float32).T
    for q, p in enumerate(knn.predict(queries)):
        nearest = np.argsort(-sims[q], kind="stable")[:5]
        weights = np.exp((sims[q, nearest] - sims[q, nearest].max()) / 0.07)
        weights = weights / np.array([sizes[labels[i]] for i in nearest])
        shares = {c: weights[labels[nearest] == c].sum() / weights.sum() for c in names}
        best = max(shares, key=shares.get)
        assert p.vote_label == best and p.confidence == pytest.approx(shares[best], abs=1e-5)
        assert p.score_ai == pytest.approx(1 - shares["real"], abs=1e-5)


def test_balanced_vote_equals_weighted_when_classes_are_the_same_size():
    embeddings, labels = clusters(CENTRES, 20, 0.3, seed=7)
    gallery = gallery_of(embeddings, labels)
    queries, _ = clusters(CENTRES, 10, 0.3, seed=8)
    weighted = KNNClassifier(gallery, vote="weighted", unknown_thresholds={}).predict(queries)
    balanced = KNNClassifier(gallery, vote="balanced", unknown_thresholds={}).predict(queries)
    for w, b in zip(weighted, balanced):
        assert (w.vote_label, w.runner_up) == (b.vote_label, b.runner_up)
        assert w.confidence == pytest.approx(b.confidence, abs=1e-6)


def test_centroid_vote_follows_its_definition():
    """Each class votes once, by its unit-length mean: shares = softmax(cosine to each mean / 0.07)."""
    gallery, queries = _mixed_gallery(5)
    labels = gallery.labels()
    names = sorted(set(labels))
    rows = gallery.embeddings.astype(np.float64)
    means = unit(np.stack([rows[labels == c].mean(axis=0) for c in names]))
    knn = KNNClassifier(gallery, k=5, vote="centroid", unknown_thresholds={})
    np.testing.assert_allclose(knn.means, means, atol=1e-6)
    weighted = KNNClassifier(gallery, k=5, vote="weighted", unknown_thresholds={}).predict(queries)
    for q, (p, w) in enumerate(zip(knn.predict(queries), weighted)):
        logits = means @ queries[q].astype(np.float64) / 0.07
        shares = np.exp(logits - logits.max())
        shares = dict(zip(names, shares / shares.sum()))
        best = max(shares, key=shares.get)
        assert p.vote_label == best and p.confidence == pytest.approx(shares[best], abs=1e-5)
        assert p.score_ai == pytest.approx(1 - shares["real"], abs=1e-5)
        # the evidence is the k nearest rows whatever the vote
        assert [n.index for n in p.neighbors] == [n.index for n in w.neighbors]


def crowded_out_gallery():
    """(gallery, query): a new generator of 12 rows spread on a 25° ring around the query, beside a
    tight class of 300 centred 10° from it (which fills the query's 11 nearest) and 30 real rows."""
    rng = np.random.default_rng(11)

    def around(axis, degrees, spread, n):
        polar = np.radians(np.abs(np.full(n, float(degrees)) + rng.normal(0, spread, n)))
        azimuth = rng.uniform(0, 2 * np.pi, n)
        local = np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1)
        # rotate z onto ``axis`` (a rotation about the y axis)
        tilt = np.radians(axis)
        rotate = np.array([[np.cos(tilt), 0, np.sin(tilt)], [0, 1, 0], [-np.sin(tilt), 0, np.cos(tilt)]])
        return unit(local @ rotate.T)

    gallery = gallery_of(np.concatenate([around(10, 0, 2, 300), around(0, 25, 1, 12), around(120, 0, 5, 30)]),
                         ["gen_big"] * 300 + ["gen_new"] * 12 + ["real"] * 30)
    return gallery, unit([[0, 0, 1]])


def test_centroid_vote_keeps_a_spread_class_whose_rows_are_crowded_out():
    """The case behind ``--vote centroid``: a new generator enrolled from 12 images spread 25° around
    the query, beside a tight class of 300 centred 10° from it. The large class fills all 11 nearest,
    so the row votes name it; the new class's mean points at the query, so the centroid vote names
    the new class, and the unknown rule reads the image's similarity to that class's mean."""
    gallery, query = crowded_out_gallery()
    for vote in ("weighted", "majority", "balanced"):
        (p,) = KNNClassifier(gallery, k=11, vote=vote, unknown_thresholds={}).predict(query)
        assert p.vote_label == "gen_big"
    (p,) = KNNClassifier(gallery, k=11, vote="centroid", unknown_thresholds={}).predict(query)
    assert p.vote_label == "gen_new" and p.runner_up == "gen_big"
    assert "gen_new" not in [n.label for n in p.neighbors]  # the winner has no row among the 11
    new_rows = gallery.embeddings[gallery.labels() == "gen_new"].astype(np.float64)
    mean = new_rows.mean(axis=0) / np.linalg.norm(new_rows.mean(axis=0))
    assert p.nearest_in_class == pytest.approx(float(mean @ query[0]), abs=1e-5)
    assert p.nearest_in_class > float((new_rows @ query[0]).max())  # nearer the mean than any row
    # with the class's own floor on the mean the image belongs (it sits at the mean); a floor above it makes it unknown
    assert p.label == "gen_new"
    (strict,) = KNNClassifier(gallery, k=11, vote="centroid",
                              unknown_thresholds={"gen_new": p.nearest_in_class + 1e-3}).predict(query)
    assert strict.label == UNKNOWN and strict.vote_label == "gen_new"


def test_centroid_vote_judged_by_the_nearest_row_searches_the_winners_rows_when_none_is_near():
    """``unknown_on="row"``: the centroid vote names the class, the rule reads that class's nearest
    gallery row against its row floor, searched among the class's rows when none is among the k
    nearest; the votes over neighbours read the same row either way."""
    from aidetect.gallery.knn import leave_one_out_thresholds

    gallery, query = crowded_out_gallery()
    new = gallery.embeddings[gallery.labels() == "gen_new"].astype(np.float64)
    on_mean = KNNClassifier(gallery, k=11, vote="centroid")
    on_row = KNNClassifier(gallery, k=11, vote="centroid", unknown_on="row")
    (p_mean,), (p_row,) = on_mean.predict(query), on_row.predict(query)
    assert p_mean.vote_label == p_row.vote_label == "gen_new"
    assert "gen_new" not in [n.label for n in p_row.neighbors]  # so its nearest row needed its own search
    assert p_row.nearest_in_class == pytest.approx(float((new @ query[0]).max()), abs=1e-6)
    assert p_mean.nearest_in_class != pytest.approx(p_row.nearest_in_class, abs=1e-3)
    assert on_row.unknown_thresholds == leave_one_out_thresholds(gallery) != on_mean.unknown_thresholds
    # the query sits at gen_new's mean but 25° from each of its rows, which lie nearer each other than that:
    # the mean rule keeps it, the row rule calls it unknown
    assert p_mean.label == "gen_new" and p_row.label == UNKNOWN
    assert p_row.nearest_in_class < on_row.unknown_thresholds["gen_new"]
    weighted = KNNClassifier(gallery, k=11, vote="weighted")
    assert weighted.unknown_reads_rows and KNNClassifier(gallery, vote="weighted", unknown_on="row").unknown_thresholds == weighted.unknown_thresholds
    with pytest.raises(AidetectError, match="unknown_on"):
        KNNClassifier(gallery, unknown_on="mean")


def test_the_shift_moves_every_floor_computed_from_the_gallery_and_no_given_one():
    embeddings, labels = clusters(CENTRES, 20, 0.3, seed=6)
    gallery = gallery_of(embeddings, labels)
    for vote, on in (("weighted", "vote"), ("centroid", "vote"), ("centroid", "row")):
        plain = KNNClassifier(gallery, vote=vote, unknown_on=on).unknown_thresholds
        shifted = KNNClassifier(gallery, vote=vote, unknown_on=on, unknown_shift=-0.05).unknown_thresholds
        assert shifted == {c: pytest.approx(f - 0.05) for c, f in plain.items()}
        capped = KNNClassifier(gallery, vote=vote, unknown_on=on, unknown_shift=1.0).unknown_thresholds
        assert set(capped.values()) == {1.0}  # never above 1: an exact copy of a gallery row is never turned away
    given = {"gen_a": 0.5}
    assert KNNClassifier(gallery, unknown_thresholds=given, unknown_shift=0.3).unknown_thresholds == given


def test_class_mean_floors_follow_their_definition():
    """Per class of 5 rows or more, in distances (1 − cosine): the larger of (a) the 95 % quantile
    of each member's distance to the unit mean of the class's other members and (b) half the median
    distance from its members to the nearest other class mean, (b) capped at 4 × (a); the centroid
    vote's unknown rule uses them."""
    from aidetect.gallery.knn import class_mean_floors

    embeddings, labels = clusters(CENTRES, 20, 0.3, seed=3)
    embeddings, labels = np.concatenate([embeddings, unit(np.ones((3, 4)))]), labels + ["tiny"] * 3
    gallery = gallery_of(embeddings, labels)
    knn = KNNClassifier(gallery, vote="centroid")
    floors = class_mean_floors(gallery, knn.class_names, knn.codes)
    assert set(floors) == set(CENTRES) and knn.unknown_thresholds == floors  # "tiny" has under 5 rows
    leave_one_out_only = class_mean_floors(gallery, knn.class_names, knn.codes, gap_fraction=0.0)
    rows = gallery.embeddings.astype(np.float64)
    all_means = {name: rows[gallery.labels() == name].mean(axis=0) for name in set(labels)}
    widened = 0
    for name, floor in floors.items():
        members = rows[gallery.labels() == name]
        others = members.sum(axis=0)[None, :] - members
        cosine = (members * others).sum(axis=1) / (np.linalg.norm(others, axis=1) * np.linalg.norm(members, axis=1))
        a = 1.0 - float(np.quantile(cosine, 0.05))
        assert leave_one_out_only[name] == pytest.approx(1.0 - a, abs=1e-6)
        other_means = np.stack([m / np.linalg.norm(m) for other, m in all_means.items() if other != name])
        unit_members = members / np.linalg.norm(members, axis=1, keepdims=True)
        b = 0.5 * float(np.median(1.0 - (unit_members @ other_means.T).max(axis=1)))
        assert floor == pytest.approx(1.0 - max(a, min(b, 4.0 * a)), abs=1e-6)
        widened += floor < leave_one_out_only[name] - 1e-9
    assert widened  # the gap term moved at least one floor here, so the check above tested it
    # the votes over neighbours keep their floors on the nearest row
    assert KNNClassifier(gallery, vote="weighted").unknown_thresholds != floors


def test_centroid_vote_gives_a_class_with_no_rows_no_share():
    """A gallery file may name a class with no rows (its mean is zeros): it must take no share,
    not the share of a cosine of 0."""
    from aidetect.gallery.knn import shares_from_cosines

    means = unit([[1, 0, 0], [0, 1, 0]])
    means = np.concatenate([means, np.zeros((1, 3), dtype=np.float32)])
    queries = unit([[-1, -1, 0.1], [0.2, 1, 0]])  # the first is nearer the zero mean (cosine 0) than either class
    shares = shares_from_cosines(queries @ means.T, np.array([5, 5, 0]))
    assert (shares[:, 2] == 0).all()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares_from_cosines(queries @ means.T)[0, 2] > 0.9  # without the sizes the empty class would win


def test_centroid_unknown_rule_keeps_a_tight_class_near_images_and_turns_away_far_ones():
    """A tight class far from the others: an image a little beyond what its own members spread to
    (a re-encoded image of it) keeps its class under the gap term, where the leave-one-out floor
    alone turned it away; an image past 4 × that spread is `unknown` either way."""
    from aidetect.gallery.knn import class_mean_floors

    embeddings, labels = clusters(CENTRES, 40, 0.02, seed=5)  # tight, far-apart classes
    gallery = gallery_of(embeddings, labels)
    knn = KNNClassifier(gallery, vote="centroid")
    strict = KNNClassifier(gallery, vote="centroid",
                           unknown_thresholds=class_mean_floors(gallery, knn.class_names, knn.codes, gap_fraction=0.0))
    a = 1.0 - strict.unknown_thresholds["gen_a"]

    def at_distance(d: float) -> np.ndarray:  # a unit vector at distance d (1 − cosine) from gen_a's mean
        mean = knn.means[knn.class_names.index("gen_a")].astype(np.float64)
        side = np.array([0, 0, 0, 1.0]) - mean @ np.array([0, 0, 0, 1.0]) * mean
        side /= np.linalg.norm(side)
        return (((1 - d) * mean + np.sqrt(1 - (1 - d) ** 2) * side)[None, :]).astype(np.float32)

    near = at_distance(2.0 * a)
    assert strict.predict(near)[0].label == UNKNOWN
    assert knn.predict(near)[0].label == "gen_a"
    far = at_distance(5.0 * a)
    assert knn.predict(far)[0].label == UNKNOWN and knn.predict(far)[0].vote_label == "gen_a"
