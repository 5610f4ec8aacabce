"""The one exact search engine: cosine top-k and nearest similarity over float16 rows.

Every similarity loop of the package goes through here: gallery queries, the
unknown rule's per-class nearest member and its leave-one-out thresholds.
No torch import: :func:`_matmul` borrows torch's BLAS only when torch is loaded.
"""

from __future__ import annotations

import sys

import numpy as np

# The gallery is converted to float32 in blocks of 4k-64k rows (at most 32 MiB
# for D=128), and queries are chunked so one similarity block holds <= 4M floats (16 MiB,
# cache-friendly: measured ~10% faster than 64 MiB blocks at 1000 queries).
_SEARCH_BLOCK_MIN = 4096
_SEARCH_BLOCK_MAX = 65536
_SIM_BLOCK_ELEMENTS = 1 << 22


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``a @ b`` into ``out``. Uses torch's BLAS when torch is already loaded (every command that
    embeds images has it): on this project's machine it ran the search's products about 1.6x faster
    than numpy's OpenBLAS. The arrays are shared, not copied. This module never imports torch itself."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "from_numpy"):
        torch.matmul(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))
        return out
    return np.matmul(a, b, out=out)


def knn_search(q: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """q float32 [Q, D], gallery float16 [N, D] → (sims float32 [Q, k'], idx int64 [Q, k'])."""
    n_q = q.shape[0]
    n = gallery.shape[0]
    kk = min(k, n)
    best_sim = np.full((n_q, kk), -np.inf, dtype=np.float32)
    best_idx = np.full((n_q, kk), -1, dtype=np.int64)
    if kk == 0 or n_q == 0:
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
