"""The one exact search engine: cosine top-k and nearest similarity over float16 rows.

Every similarity loop of the package goes through here: gallery queries, the
unknown rule's per-class nearest member and its leave-one-out thresholds.
No torch import: :func:`_matmul` borrows torch's BLAS only when torch is loaded.

Two exact back ends give the same neighbours: products through BLAS with aidetect's
own top-k filter ("numpy"), and faiss's flat inner-product kernel ("faiss", the one
``faiss.IndexFlatIP`` runs, fed a float32 block of the float16 gallery at a time so
no float32 copy of the gallery is ever held), used when faiss-cpu is installed
(``pip install aidetect[faiss]``). Neither is approximate. ``AIDETECT_SEARCH_ENGINE``
(``numpy``, ``faiss`` or ``auto``, the default) or ``engine=`` chooses; similarities
of the two agree to float32 rounding (about 1e-7).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from aidetect.errors import AidetectError

# The gallery is converted to float32 in blocks of 4k-64k rows (at most 32 MiB
# for D=128), and queries are chunked so one similarity block holds <= 4M floats (16 MiB,
# cache-friendly: measured ~10% faster than 64 MiB blocks at 1000 queries).
_SEARCH_BLOCK_MIN = 4096
_SEARCH_BLOCK_MAX = 65536
_SIM_BLOCK_ELEMENTS = 1 << 22
# faiss tiles a block itself (1024 rows at a time); a block only bounds the float32 copy
_FAISS_BLOCK = 65536


#: Environment variable that chooses the engine: "numpy" (BLAS products, never faiss), "faiss"
#: (an error when faiss is not installed) or "auto" / unset (faiss when it can be imported).
ENGINE_ENV = "AIDETECT_SEARCH_ENGINE"
ENGINES = ("auto", "numpy", "faiss")
_faiss_module = None  # None: not tried yet; False: not importable


def _faiss():
    """The faiss module, or None when it is not installed (imported once, on the first search)."""
    global _faiss_module
    if _faiss_module is None:
        try:
            import faiss  # optional (the [faiss] extra); imported here so start-up never pays for it
        except ImportError:
            _faiss_module = False
        else:
            _faiss_module = faiss if hasattr(faiss, "knn") and hasattr(faiss, "METRIC_INNER_PRODUCT") else False
    return _faiss_module or None


def search_engine(engine: str | None = None) -> str:
    """The engine :func:`knn_search` uses: ``"faiss"`` or ``"numpy"``.

    ``engine``: "auto", "numpy" or "faiss"; None reads :data:`ENGINE_ENV` (default "auto":
    faiss when it is installed). Asking for faiss where it is not installed is an error.
    """
    choice = (os.environ.get(ENGINE_ENV) or "auto") if engine is None else engine
    choice = str(choice).strip().lower()
    if choice not in ENGINES:
        raise AidetectError(
            f"{choice!r} is not a search engine; use one of {', '.join(ENGINES)} (set {ENGINE_ENV} or pass engine=)."
        )
    if choice == "numpy":
        return "numpy"
    if _faiss() is not None:
        return "faiss"
    if choice == "faiss":
        raise AidetectError(
            f"The faiss search engine was asked for but faiss is not installed; run `pip install faiss-cpu` "
            f"(or `pip install aidetect[faiss]`), or unset {ENGINE_ENV}."
        )
    return "numpy"


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``a @ b`` into ``out``. Uses torch's BLAS when torch is already loaded (every command that
    embeds images has it): on this project's machine it ran the search's products about 1.6x faster
    than numpy's OpenBLAS. The arrays are shared, not copied. This module never imports torch itself."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "from_numpy"):
        torch.matmul(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))
        return out
    return np.matmul(a, b, out=out)


def knn_search(q: np.ndarray, gallery: np.ndarray, k: int, *, engine: str | None = None,
               rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """q float32 [Q, D], gallery float16 [N, D] → (sims float32 [Q, k'], idx int64 [Q, k']).

    Rows in descending similarity, ties to the lower index. ``engine``: see :func:`search_engine`.
    ``rows``: search only these rows of ``gallery`` (ascending int64 indices; e.g. one class's),
    a block at a time, so no copy of the subset is ever held; indices returned are gallery rows.
    """
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        sims, idx = knn_search(q, _RowSubset(gallery, rows), k, engine=engine)
        return sims, np.where(idx >= 0, rows[np.maximum(idx, 0)], -1)
    n_q = q.shape[0]
    n = gallery.shape[0]
    kk = min(k, n)
    best_sim = np.full((n_q, kk), -np.inf, dtype=np.float32)
    best_idx = np.full((n_q, kk), -1, dtype=np.int64)
    if kk == 0 or n_q == 0:
        return best_sim, best_idx
    if search_engine(engine) == "faiss":
        _faiss_search(_faiss(), np.ascontiguousarray(q, dtype=np.float32), gallery, kk, best_sim, best_idx)
        return best_sim, best_idx
    # Few queries: large gallery blocks (less Python overhead). Many queries: smaller
    # blocks against all queries at once, which keeps BLAS busy and the block in cache.
    g_block = int(np.clip(_SIM_BLOCK_ELEMENTS // n_q, _SEARCH_BLOCK_MIN, _SEARCH_BLOCK_MAX))
    g_block = min(g_block, n)
    q_chunk = max(1, min(n_q, _SIM_BLOCK_ELEMENTS // g_block))
    # Preallocated work buffers: allocating 64 MiB per block makes the kernel map and
    # zero fresh pages every time, which costs about as much as the comparisons.
    buffer = np.empty((g_block, gallery.shape[1]), dtype=np.float32)
    sims_buf = np.empty(q_chunk * g_block, dtype=np.float32)
    mask_buf = np.empty(q_chunk * g_block, dtype=bool)
    filled = False  # every query already holds kk real neighbours
    for g0 in range(0, n, g_block):
        b = min(g_block, n - g0)
        block = buffer[:b]
        np.copyto(block, gallery[g0 : g0 + b], casting="same_kind")  # float16 → float32
        if b < g_block:
            # The last block is zero-padded to the full width and the products cut back:
            # one matrix shape for every block means one BLAS kernel, so identical
            # embeddings get bit-identical similarities wherever they sit.
            buffer[b:] = 0.0
        for q0 in range(0, n_q, q_chunk):
            q1 = min(n_q, q0 + q_chunk)
            nq = q1 - q0
            # [nq, b]; BLAS reads the transposed view, no copy
            full = _matmul(q[q0:q1], buffer.T, sims_buf[: nq * g_block].reshape(nq, g_block))
            sims = full[:, :b] if b < g_block else full
            mask = mask_buf[: nq * b].reshape(nq, b)
            cur_sim = best_sim[q0:q1]
            cur_idx = best_idx[q0:q1]
            kb = min(kk, b)
            if filled:
                thresh = cur_sim[:, kk - 1 : kk]
                # strict: an equal similarity in a later block has a higher index and loses the tie.
                # flatnonzero is far faster than 2-D nonzero on a mostly-False mask.
                flat = np.flatnonzero(np.greater(sims, thresh, out=mask))
                if flat.size > nq * kk * 4:
                    # many candidates (e.g. a gallery sorted by similarity): cap at the block's top-kb
                    kth = np.partition(sims, b - kb, axis=1)[:, b - kb : b - kb + 1]
                    flat = np.flatnonzero(mask & (sims >= kth))
            else:
                kth = np.partition(sims, b - kb, axis=1)[:, b - kb : b - kb + 1]
                # ties at the boundary: the merge keeps the lowest index
                flat = np.flatnonzero(np.greater_equal(sims, kth, out=mask))
            if flat.size == 0:
                continue
            rows, cols = np.divmod(flat, b)
            _merge_topk(cur_sim, cur_idx, rows, sims.reshape(-1)[flat], cols + g0)
        if not filled:
            filled = bool(np.all(best_idx[:, kk - 1] >= 0))
    return best_sim, best_idx


class _RowSubset:
    """``gallery[rows]`` as :func:`knn_search` reads it (shape and slices), each slice taken when read."""

    def __init__(self, gallery: np.ndarray, rows: np.ndarray) -> None:
        self.gallery, self.rows = gallery, rows
        self.shape = (len(rows), gallery.shape[1])

    def __getitem__(self, part: slice) -> np.ndarray:
        rows = self.rows[part]
        if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
            # consecutive rows (a gallery keeps each class's rows together): a view, not a gathered copy
            return self.gallery[rows[0] : rows[-1] + 1]
        return self.gallery[rows]


def _faiss_search(faiss, q: np.ndarray, gallery: np.ndarray, kk: int, best_sim: np.ndarray, best_idx: np.ndarray) -> None:
    """:func:`knn_search` through faiss's exact flat inner-product kernel, into ``best_sim``/``best_idx``.

    The gallery goes to faiss in float32 blocks of one size (so one kernel shape computes every
    row's similarity: the last block is the gallery's last ``g_block`` rows, overlapping the one
    before, and only its new rows are merged). faiss keeps the first of tied rows, as the merge
    does; the merge orders each row by similarity, then index.
    """
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads") and hasattr(faiss, "omp_set_num_threads"):
        faiss.omp_set_num_threads(int(torch.get_num_threads()))  # the commands' --threads covers faiss too
    n_q, n = q.shape[0], gallery.shape[0]
    g_block = min(max(_FAISS_BLOCK, kk), n)
    buffer = np.empty((g_block, gallery.shape[1]), dtype=np.float32)
    rows = np.repeat(np.arange(n_q, dtype=np.int64), kk)
    for g0 in range(0, n, g_block):
        start = min(g0, n - g_block)
        np.copyto(buffer, gallery[start : start + g_block], casting="same_kind")  # float16 → float32
        sims, idx = faiss.knn(q, buffer, kk, metric=faiss.METRIC_INNER_PRODUCT)
        sims, idx = sims.reshape(-1), idx.reshape(-1)
        # rows before g0 (the overlap) were merged with the previous block; -1: no result (NaN)
        fresh = idx >= g0 - start
        if fresh.all():
            _merge_topk(best_sim, best_idx, rows, sims, idx + start)
        elif fresh.any():
            _merge_topk(best_sim, best_idx, rows[fresh], sims[fresh], idx[fresh] + start)


def _merge_topk(cur_sim, cur_idx, rows, vals, idxs) -> None:
    """Merge candidates (rows, vals, idxs) into the per-row top lists in place.

    Order: similarity descending, then index ascending; padding (-inf, -1) sorts last.
    """
    kk = cur_sim.shape[1]
    touched, inverse = np.unique(rows, return_inverse=True)
    n_t = touched.size
    all_rows = np.concatenate([np.repeat(np.arange(n_t), kk), inverse.reshape(-1)])
    all_sim = np.concatenate([cur_sim[touched].reshape(-1), vals.astype(np.float32, copy=False)])
    all_idx = np.concatenate([cur_idx[touched].reshape(-1), idxs])
    # padding index -1 must sort after real indices among equal (-inf) similarities
    tie_idx = np.where(all_idx < 0, np.iinfo(np.int64).max, all_idx)
    order = np.lexsort((tie_idx, -all_sim, all_rows))
    counts = np.bincount(all_rows, minlength=n_t)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = order[starts[:, None] + np.arange(kk)[None, :]]
    cur_sim[touched] = all_sim[take]
    cur_idx[touched] = all_idx[take]


# --------------------------------------------------------------------------- npz i/o


def nearest_similarity(queries: np.ndarray, members: np.ndarray) -> np.ndarray:
    """max over ``members`` of query·member, [Q] float32; -inf when there are no members."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if len(members) == 0:
        return np.full(len(queries), -np.inf, dtype=np.float32)
    return knn_search(queries, members, 1)[0][:, 0]


def nearest_other_similarity(queries: np.ndarray, members: np.ndarray, own_rows: np.ndarray) -> np.ndarray:
    """Like :func:`nearest_similarity`, but query i ignores row ``own_rows[i]`` of ``members`` (itself).

    An exact duplicate of the query stored in another row still counts: only the row itself is left out.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if len(members) < 2:
        return np.full(len(queries), -np.inf, dtype=np.float32)
    sims, idx = knn_search(queries, members, 2)
    return np.where(idx[:, 0] == own_rows, sims[:, 1], sims[:, 0]).astype(np.float32)
