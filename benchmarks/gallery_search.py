"""Gallery search at GenImage scale, beside scikit-learn's brute-force NearestNeighbors, in one run.

    python benchmarks/gallery_search.py                    # 9 x 145,800 = 1,312,200 embeddings of 128 dims
    python benchmarks/gallery_search.py --rows 100000      # quicker

Prints queries/s for 1,000 queries at k = 11 (numpy BLAS and torch BLAS paths),
the baseline's queries/s, the ratio, load time and resident memory. Goals on
the 2-core machine: >= 500 queries/s, load <= 2 s, gallery memory <= 400 MB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=9 * 145_800)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=11)
    parser.add_argument("--baseline-rows", type=int, default=None, help="rows for the scikit-learn baseline (default: all)")
    args = parser.parse_args()

    from aidetect.gallery import Gallery

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    classes = 9
    per_class = args.rows // classes
    gallery = Gallery.create("0" * 16, args.dim)
    for c in range(classes):
        rows = slice(c * per_class, (c + 1) * per_class if c < classes - 1 else args.rows)
        n = len(range(*rows.indices(args.rows)))
        gallery.add(vectors[rows], f"class{c}", [f"/data/class{c}/{i:07d}.png" for i in range(n)],
                    [f"{c:02x}{i:062x}" for i in range(n)])
    folder = Path(tempfile.mkdtemp())
    path = folder / "gallery.npz"
    gallery.save(path)
    size_mb = path.stat().st_size / 2**20
    del gallery

    base = rss_mb()
    began = time.perf_counter()
    loaded = Gallery.load(path, mmap=True)
    load_s = time.perf_counter() - began
    _ = loaded.search(queries[:10], args.k)
    after_load = rss_mb()

    began = time.perf_counter()
    sims_np, idx_np = loaded.search(queries, args.k)
    numpy_qps = args.queries / (time.perf_counter() - began)
    searching = rss_mb()

    import torch  # noqa: F401  (its presence switches the products to torch's BLAS)

    began = time.perf_counter()
    sims_t, idx_t = loaded.search(queries, args.k)
    torch_qps = args.queries / (time.perf_counter() - began)
    assert np.array_equal(idx_np, idx_t) or np.allclose(sims_np, sims_t, atol=1e-5)
    peak = rss_mb()

    from sklearn.neighbors import NearestNeighbors

    n_base = args.baseline_rows or args.rows
    reference = loaded.embeddings[:n_base].astype(np.float32)
    began = time.perf_counter()
    knn = NearestNeighbors(n_neighbors=args.k, algorithm="brute", metric="cosine").fit(reference)
    fit_s = time.perf_counter() - began
    began = time.perf_counter()
    _, idx_sk = knn.kneighbors(queries)
    sk_qps = args.queries / (time.perf_counter() - began) * (n_base / args.rows)  # scaled to the full gallery
    if n_base == args.rows:
        agreement = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(idx_sk, idx_t)]))
    else:
        agreement = float("nan")

    print(f"gallery: {args.rows:,} x {args.dim} float16, {size_mb:.0f} MB on disk; {os.cpu_count()} CPUs")
    print(f"load (memory-mapped, checked): {load_s:.2f} s; resident memory: gallery {after_load - base:.0f} MB, "
          f"after a 1,000-query search {searching - base:.0f} MB (importing torch then adds {peak - searching:.0f} MB)")
    print(f"aidetect search, numpy BLAS : {numpy_qps:8.1f} queries/s (1,000 queries, k={args.k})")
    print(f"aidetect search, torch BLAS : {torch_qps:8.1f} queries/s")
    print(f"sklearn brute-force cosine  : {sk_qps:8.1f} queries/s (fit {fit_s:.2f} s{'' if n_base == args.rows else f', measured on {n_base:,} rows and scaled'})")
    print(f"ratio aidetect (torch) / sklearn: {torch_qps / sk_qps:.2f}x; neighbour agreement with sklearn: {agreement:.4f}")
    path.unlink()
    folder.rmdir()


if __name__ == "__main__":
    sys.exit(main())
