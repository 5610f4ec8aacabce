"""The optional faiss engine gives the numpy engine's neighbours (issue 18, item 4).

faiss-cpu is not a dependency (the ``[faiss]`` extra): the comparisons skip without it; the
engine choice and its messages are tested either way.
"""

from __future__ import annotations

import numpy as np
import pytest

import aidetect.gallery.search as gallery_search
from aidetect.errors import AidetectError
from aidetect.gallery import Gallery
from aidetect.gallery.search import ENGINE_ENV, knn_search, search_engine

DIM = 24


def unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def assert_same_neighbours(gallery16: np.ndarray, q: np.ndarray, a, b) -> None:
    """Similarities within 1e-5; indices equal except where the two similarities tie."""
    (sa, ia), (sb, ib) = a, b
    assert sa.shape == sb.shape and ia.dtype == ib.dtype == np.int64 and sb.dtype == np.float32
    np.testing.assert_allclose(sa, sb, rtol=0, atol=1e-5)
    full = q @ gallery16.astype(np.float32).T
    differ = np.argwhere(ia != ib)
    for row, col in differ:  # a swapped pair must be a tie in exact arithmetic too
        assert abs(full[row, ia[row, col]] - full[row, ib[row, col]]) <= 1e-6
    assert len(differ) <= ia.size // 100


needs_faiss = pytest.mark.skipif(gallery_search._faiss() is None, reason="faiss-cpu is not installed")


@needs_faiss
@pytest.mark.parametrize("n_q", [1, 7, 64])  # faiss: one kernel below 20 queries, BLAS from 20
@pytest.mark.parametrize("k", [1, 11])
@pytest.mark.parametrize("block", [256, 1000, 65536])  # several blocks, an overlapping last one, one block
def test_faiss_gives_the_numpy_neighbours(monkeypatch, n_q, k, block):
    monkeypatch.setattr(gallery_search, "_FAISS_BLOCK", block)
    monkeypatch.setattr(gallery_search, "_SEARCH_BLOCK_MIN", 128)
    monkeypatch.setattr(gallery_search, "_SEARCH_BLOCK_MAX", 128)
    g16 = unit(2300, seed=1).astype(np.float16)
    q = unit(n_q, seed=2)
    numpy_result = knn_search(q, g16, k, engine="numpy")
    faiss_result = knn_search(q, g16, k, engine="faiss")
    assert_same_neighbours(g16, q, numpy_result, faiss_result)
    # and both are the brute-force answer
    full = q @ g16.astype(np.float32).T
    np.testing.assert_array_equal(faiss_result[1], np.argsort(-full, axis=1, kind="stable")[:, :k])


@needs_faiss
def test_faiss_through_the_gallery_and_its_ties(monkeypatch):
    monkeypatch.setattr(gallery_search, "_FAISS_BLOCK", 8)
    base = unit(1, seed=3)
    g = Gallery.create("m", DIM)
    g.add(np.repeat(base, 30, axis=0), "a", ["/"] * 30, [f"{i:064x}" for i in range(30)])
    for n_q in (1, 25):  # both of faiss's kernels
        sims, idx = g.search(np.repeat(base, n_q, axis=0), 5, engine="faiss")
        assert idx.tolist() == [[0, 1, 2, 3, 4]] * n_q  # identical rows: ties go to the lower index
        assert np.all(sims == sims[0, 0])  # every block has one shape: identical rows, identical similarities
    # the last block overlaps the one before: its top-k may be all old rows, and a new row still wins
    e = unit(21, seed=4)
    q = unit(1, seed=5)
    e = e[np.argsort(-(e @ q[0]))]
    e[[0, 20]] = e[[20, 0]]  # the best row is the last
    g = Gallery.create("m", DIM)
    g.add(e, "a", ["/"] * 21, [f"{i:064x}" for i in range(21)])
    assert g.search(q, 3, engine="faiss")[1].tolist() == g.search(q, 3, engine="numpy")[1].tolist()
    assert g.search(q, 3, engine="faiss")[1][0, 0] == 20


@needs_faiss
def test_the_environment_chooses_the_engine(monkeypatch):
    g = Gallery.create("m", DIM)
    g.add(unit(50, seed=6), "a", ["/"] * 50, [f"{i:064x}" for i in range(50)])
    calls = []
    real = gallery_search._faiss_search
    monkeypatch.setattr(gallery_search, "_faiss_search", lambda *a: calls.append(1) or real(*a))
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert search_engine() == "faiss"
    g.search(unit(2), 3)
    assert calls == [1]  # auto: faiss when it is installed
    monkeypatch.setenv(ENGINE_ENV, "numpy")
    assert search_engine() == "numpy"
    g.search(unit(2), 3)
    assert calls == [1]  # forced numpy: faiss is not called
    g.search(unit(2), 3, engine="faiss")  # the parameter wins over the environment
    assert calls == [1, 1]


def test_engine_choice_without_faiss(monkeypatch):
    monkeypatch.setattr(gallery_search, "_faiss_module", False)  # as if faiss were not installed
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert search_engine() == "numpy" == search_engine("auto") == search_engine("numpy")
    with pytest.raises(AidetectError, match="faiss is not installed"):
        search_engine("faiss")
    monkeypatch.setenv(ENGINE_ENV, "FAISS")
    with pytest.raises(AidetectError, match="pip install faiss-cpu"):
        knn_search(unit(1), unit(5).astype(np.float16), 2)
    with pytest.raises(AidetectError, match="not a search engine"):
        search_engine("annoy")
    monkeypatch.setenv(ENGINE_ENV, "numpy")
    sims, idx = knn_search(unit(1), unit(5).astype(np.float16), 2)
    assert idx.shape == (1, 2)
