"""Time :func:`aidetect.data.discovery.discover` on a GenImage-shaped tree of empty files.

    python benchmarks/discovery_benchmark.py --files 1300000 --tmp /tmp

builds ``--files`` empty files spread over the 8 GenImage subsets (``train/`` and
``val/``, ``ai/`` and ``nature/``, val/ about 1/28 of each subset as in GenImage),
times ``detect_layout`` and ``discover`` (best of ``--repeat``), compares
``discover`` with a bare ``os.walk`` over the same tree (the floor any Python
walker pays), prints files/s and the ratio, and removes the tree unless
``--keep``. The directory entries are in the page cache after building the tree,
so this measures the warm-cache case (a second ``discover`` on a real dataset).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aidetect.data.discovery import GENIMAGE_SUBSETS, detect_layout, discover  # noqa: E402

# Subset folder -> GenImage's parent folder when the subsets sit one level down.
NESTED_PARENTS = {
    "imagenet_ai_0508_adm": "ADM",
    "imagenet_ai_0419_biggan": "BigGAN",
    "imagenet_glide": "glide",
    "imagenet_midjourney": "Midjourney",
    "imagenet_ai_0419_sdv4": "stable_diffusion_v_1_4",
    "imagenet_ai_0424_sdv5": "stable_diffusion_v_1_5",
    "imagenet_ai_0419_vqdm": "VQDM",
    "imagenet_ai_0424_wukong": "wukong",
}


def build_tree(root: str, n_files: int, nested: bool) -> int:
    """Create ``n_files`` empty image files in a GenImage layout under ``root``; return how many."""
    per_folder = max(1, n_files // (len(GENIMAGE_SUBSETS) * 2))  # per subset and ai/nature
    n_val = max(1, per_folder // 28)
    made = 0
    flags = os.O_CREAT | os.O_WRONLY | os.O_EXCL
    for subset in GENIMAGE_SUBSETS:
        base = os.path.join(root, NESTED_PARENTS[subset], subset) if nested else os.path.join(root, subset)
        for split, count in (("train", per_folder - n_val), ("val", n_val)):
            for folder, pattern in (("ai", "{}_{:06d}.png"), ("nature", "n01440764_{}_{:06d}.JPEG")):
                directory = os.path.join(base, split, folder)
                os.makedirs(directory)
                for i in range(count):
                    os.close(os.open(os.path.join(directory, pattern.format(subset[-4:], i)), flags, 0o644))
                made += count
    return made


def bare_walk(root: str) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def best_of(repeat: int, fn):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="how many empty image files to create")
    parser.add_argument("--tmp", default=tempfile.gettempdir(), help="folder to build the tree in (a fresh subfolder)")
    parser.add_argument("--nested", action="store_true", help="put subsets one level down (ADM/imagenet_ai_0508_adm)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--keep", action="store_true", help="leave the tree on disk")
    args = parser.parse_args(argv)

    root = tempfile.mkdtemp(prefix="aidetect-discovery-bench-", dir=args.tmp)
    try:
        start = time.perf_counter()
        made = build_tree(root, args.files, args.nested)
        print(f"built {made:,} empty files in {time.perf_counter() - start:.1f} s under {root}"
              f" ({'nested' if args.nested else 'plain'} GenImage layout)", flush=True)

        t_detect, layout = best_of(args.repeat, lambda: detect_layout(root))
        t_walk, walked = best_of(args.repeat, lambda: bare_walk(root))
        t_disc, splits = best_of(args.repeat, lambda: discover(root))
        assert layout == "genimage" and walked == made, (layout, walked, made)
        kept = sum(sum(c.values()) for c in splits.counts().values())

        print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"detect_layout: {t_detect * 1000:.1f} ms")
        print(f"os.walk (floor): {t_walk:.2f} s, {walked / t_walk:,.0f} files/s")
        print(f"discover: {t_disc:.2f} s, {made / t_disc:,.0f} files/s "
              f"({kept:,} samples kept after balancing real), {t_disc / t_walk:.2f}x os.walk")
        print(f"counts: {splits.counts()}")
    finally:
        if not args.keep:
            start = time.perf_counter()
            shutil.rmtree(root)
            print(f"removed the tree in {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
