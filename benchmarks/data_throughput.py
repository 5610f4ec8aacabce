"""Training and embedding images/s end to end beside the model alone, with and without the pixel cache.

    python benchmarks/data_throughput.py --device cpu --image-size 128 --batch-size 32 --per-kind 48   # this machine
    python benchmarks/data_throughput.py --device cuda --workers 15 --per-kind 1500                      # a GPU machine

One run, side by side (issue #18):
  (a) the model alone: random tensors through a training step (benchmarks/train_throughput.py);
  (b) ``aidetect train`` end to end on a GenImage-shaped tree, decoding every epoch;
  (c) the same with ``--pixel-cache`` from empty: epoch 1 writes it as it decodes, later epochs read it;
  (d) embedding the tree's train split, decoding vs from the cache;
  (e) the data path alone in one process: decoding, decoding while writing the cache, reading it.
Printed: images/s of each, (b)/(a) and (c)/(a) from the second epoch, and the first epoch's time
with the cache against without it. The tree (made once, reused) has the files
GenImage has: 512×512 PNG per generator (with a faint per-generator periodic trace), 500×375
JPEG q90 real photos-like files, 8 generators, in GenImage's folders. ``--out`` writes the
figures as JSON too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

SUBSETS = [("ADM", "imagenet_ai_0508_adm"), ("BigGAN", "imagenet_ai_0419_biggan"), ("glide", "imagenet_glide"),
           ("Midjourney", "imagenet_midjourney"), (None, "imagenet_ai_0419_sdv4"), (None, "imagenet_ai_0424_sdv5"),
           (None, "imagenet_ai_0419_vqdm"), (None, "imagenet_ai_0424_wukong")]


def _write_file(job) -> None:
    from PIL import Image

    root, gi, parent, subset, split, kind, i = job
    rng = np.random.default_rng([gi, 0 if split == "train" else 1, 0 if kind == "ai" else 1, i])
    w, h = (512, 512) if kind == "ai" else (500, 375)
    small = rng.uniform(30, 225, size=(h // 16, w // 16, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    img += rng.normal(0, 6, size=img.shape)  # sensor-like noise: files as large as photographs
    if kind == "ai":
        yy, xx = np.mgrid[0:h, 0:w]
        img += 4 * np.sin(2 * np.pi * ((gi + 2) * xx / 16 + (gi % 3 + 1) * yy / 16))[..., None]
    img = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    folder = Path(root) / (parent or "") / subset / split / kind
    if kind == "ai":
        img.save(folder / f"{i:05d}.png")
    else:
        img.save(folder / f"{i:05d}.JPEG", quality=90)


def make_tree(root: Path, per_kind: int, val_per_kind: int, procs: int) -> int:
    """The GenImage-shaped tree (skipped when its marker says it has these sizes)."""
    marker = root / "tree.json"
    wanted = {"per_kind": per_kind, "val_per_kind": val_per_kind}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return sum(1 for _ in root.rglob("*.*")) - 1
    jobs = []
    for gi, (parent, subset) in enumerate(SUBSETS):
        for split, n in (("train", per_kind), ("val", val_per_kind)):
            for kind in ("ai", "nature"):
                (root / (parent or "") / subset / split / kind).mkdir(parents=True, exist_ok=True)
                jobs += [(str(root), gi, parent, subset, split, kind, i) for i in range(n)]
    with Pool(procs) as pool:
        pool.map(_write_file, jobs, chunksize=16)
    marker.write_text(json.dumps(wanted))
    return len(jobs)


def model_only(device, batch: int, size: int, steps: int) -> float:
    sys.path.insert(0, str(Path(__file__).parent))
    from train_throughput import run

    ips, _ = run(device, batch, size, steps, optimised=True)
    return ips


def _epochs(history: list[dict]) -> str:
    """Each epoch's images/s and the seconds of it spent waiting for batches."""
    return ", ".join(f"epoch {h['epoch']} {h['images_per_s']:.0f}/s ({h['data_wait_s']:.1f} of {h['seconds']:.1f} s waiting "
                     "for data)" for h in history)


def train_options(tree: Path, out: Path, args, cache: Path | None):
    """What ``aidetect train --recipe R --image-size S --batch-size B --epochs E --workers W`` runs."""
    from aidetect.recipes import RECIPE_OPTIONS, apply_recipe
    from aidetect.training import TrainOptions

    given = {name: None for name in RECIPE_OPTIONS} | {"image_size": args.image_size}
    return TrainOptions(
        data=str(tree), out=str(out), **apply_recipe(args.recipe, given), batch_size=args.batch_size,
        epochs=args.epochs, workers=args.workers, device=args.device, gallery_per_class=2, bn_batches=1,
        patience=100, pixel_cache=str(cache) if cache else None, seed=0,
    )


def train_run(tree: Path, out: Path, args, cache: Path | None) -> list[dict]:
    from aidetect.training import train

    return train(train_options(tree, out, args, cache)).history


def embed_rate(tree: Path, model_dir: Path, args, cache: Path | None) -> float:
    import torch

    from aidetect.data.discovery import discover
    from aidetect.embedding import embed_files
    from aidetect.models.model_dir import load_model

    model = load_model(model_dir, device=args.device)
    files = [s.path for s in discover(str(tree)).train]
    from aidetect.data.pixel_cache import PixelCache

    pixel_cache = PixelCache(cache) if cache else None
    began = time.perf_counter()
    embed_files(model.encoder, model.config.preprocess, files, workers=args.workers, device=torch.device(args.device),
                batch_size=args.current_embed_batch, hash_files=False, progress=None, pixel_cache=pixel_cache)
    return len(files) / (time.perf_counter() - began)


def data_path_rates(tree: Path, args, scratch: Path) -> dict:
    """The data path alone, in this process, side by side: items/s decoding, decoding while writing
    the cache through, and reading the cache (what a worker does per item, without the model)."""
    from aidetect.data.dataset import ImageFileDataset
    from aidetect.data.discovery import discover
    from aidetect.data.pixel_cache import PixelCache

    options = train_options(tree, scratch / "unused", args, None)
    files = [s.path for s in discover(str(tree)).train]
    # One process decodes 60-250 files/s: four passes over a 16,000-file tree would take most of a
    # device call, so the passes run over an even sample of both kinds (PNG and JPEG).
    if args.data_path_files and len(files) > args.data_path_files:
        files = files[:: len(files) // args.data_path_files][: args.data_path_files]
    folder = scratch / "data-path-cache"
    shutil.rmtree(folder, ignore_errors=True)
    rates = {}
    # a first decoding pass is thrown away: the one measured must not pay for warming up
    passes = (("warm-up", None), ("decode", None), ("decode_and_write", PixelCache(folder)), ("read_cache", PixelCache(folder)))
    for name, cache in passes:
        dataset = ImageFileDataset(files, None, options.preprocess, train=True, augment=options.augment, pixel_cache=cache,
                                   as_uint8=True)
        began = time.perf_counter()
        for i in range(len(dataset)):
            dataset[(0, i)]
        if cache is not None:
            cache.commit_pending()
        rates[name] = len(files) / (time.perf_counter() - began)
    del rates["warm-up"]
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recipe", default="thesis", choices=["thesis", "fingerprint"])
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=186)
    parser.add_argument("--embed-batch", type=int, nargs="*", default=[None],
                        help="embedding batch sizes to measure (0 or none: the product's default)")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--per-kind", type=int, default=1500, help="train files per generator and per kind (ai, nature)")
    parser.add_argument("--val-per-kind", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--model-steps", type=int, default=20)
    parser.add_argument("--skip-data-path", action="store_true", help="skip (e), the one-process data path passes")
    parser.add_argument("--data-path-files", type=int, default=800,
                        help="files (an even sample of the train split) that (e)'s one-process passes read; 0: all")
    parser.add_argument("--tree", type=Path, default=None, help="where the tree is made or found (default: a temp folder)")
    parser.add_argument("--scratch", type=Path, default=None, help="where runs and the cache go (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the second epoch is the steady state")
    val = args.val_per_kind if args.val_per_kind is not None else max(2, args.per_kind // 10)

    import torch

    torch.manual_seed(0)
    device = torch.device(args.device)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="aidetect-throughput-"))
    tree = args.tree or scratch / "tree"
    began = time.perf_counter()
    files = make_tree(tree, args.per_kind, val, os.cpu_count() or 2)
    print(f"tree: {files} files under {tree} ({time.perf_counter() - began:.0f} s)", flush=True)
    # Read every file once, so that no run below pays for a cold page cache the others do not.
    for path in tree.rglob("*.*"):
        path.read_bytes()

    results: dict = {"device": str(device), "torch": torch.__version__, "cpu_count": os.cpu_count(),
                     "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None, "args": vars(args) | {
                         "tree": str(tree), "scratch": str(scratch), "out": str(args.out) if args.out else None}}
    if not args.skip_data_path:
        results["data_path"] = data_path_rates(tree, args, scratch)
        print("(e) data path alone, one process: " + ", ".join(f"{k} {v:.0f}/s" for k, v in results["data_path"].items()),
              flush=True)
    results["model_only"] = model_only(device, args.batch_size, args.image_size, args.model_steps)
    print(f"(a) model only: {results['model_only']:.0f} images/s", flush=True)

    shutil.rmtree(scratch / "direct", ignore_errors=True)
    direct = train_run(tree, scratch / "direct", args, None)
    print("(b) end to end, decoding: " + _epochs(direct), flush=True)

    cache_dir = scratch / "pixel-cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    shutil.rmtree(scratch / "cached", ignore_errors=True)
    cached = train_run(tree, scratch / "cached", args, cache_dir)
    results["cache_bytes"] = sum(p.stat().st_size for p in cache_dir.rglob("shard-*.bin"))
    print("(c) end to end, pixel cache (written through in epoch 1): " + _epochs(cached)
          + f"; {results['cache_bytes'] / 2**30:.2f} GiB", flush=True)

    keys = ("epoch", "images_per_s", "seconds", "data_wait_s", "batchnorm_s", "validation_s")
    results["train_direct"] = [{k: h.get(k) for k in keys} for h in direct]
    results["train_cached"] = [{k: h.get(k) for k in keys} for h in cached]
    results["embed"] = []
    for batch in args.embed_batch:
        args.current_embed_batch = batch
        row = {"batch": batch, "direct": embed_rate(tree, scratch / "direct", args, None),
               "cached": embed_rate(tree, scratch / "direct", args, cache_dir)}
        results["embed"].append(row)
        print(f"(d) embed, batch {batch or 'default'}: decoding {row['direct']:.0f}/s, cached {row['cached']:.0f}/s", flush=True)
    results["embed_direct"], results["embed_cached"] = results["embed"][0]["direct"], results["embed"][0]["cached"]

    steady_direct, steady_cached = direct[-1]["images_per_s"], cached[-1]["images_per_s"]
    first_direct, first_cached = direct[0]["seconds"], cached[0]["seconds"]
    results["ratios"] = {
        "direct_over_model": steady_direct / results["model_only"],
        "cached_over_model": steady_cached / results["model_only"],
        "first_epoch_cached_over_direct": first_cached / first_direct,
    }
    print()
    print(f"device {device}{' (' + results['gpu'] + ')' if results['gpu'] else ''}, {os.cpu_count()} CPUs, "
          f"--workers {args.workers}, {args.recipe} recipe, {args.image_size} px, batch {args.batch_size}")
    print("| what | images/s | of model only |")
    print("|---|---|---|")
    print(f"| (a) model only | {results['model_only']:.0f} | 1.00 |")
    print(f"| (b) train, decoding, last epoch | {steady_direct:.0f} | {results['ratios']['direct_over_model']:.2f} |")
    print(f"| (c) train, pixel cache, last epoch | {steady_cached:.0f} | {results['ratios']['cached_over_model']:.2f} |")
    print(f"| (d) embed, decoding | {results['embed_direct']:.0f} | |")
    print(f"| (d) embed, pixel cache | {results['embed_cached']:.0f} | |")
    for row in results["embed"][1:]:
        print(f"| (d) embed, batch {row['batch']}, decoding / pixel cache | {row['direct']:.0f} / {row['cached']:.0f} | |")
    if "data_path" in results:
        rates = results["data_path"]
        print(f"| (e) data path alone (1 process): decode / decode + write the cache / read the cache | "
              f"{rates['decode']:.0f} / {rates['decode_and_write']:.0f} / {rates['read_cache']:.0f} | |")
        # What writing through adds to an epoch, in seconds per image, against what the epoch costs per image
        added = 1 / rates["decode_and_write"] - 1 / rates["decode"]
        results["ratios"]["write_through_share_of_epoch"] = added * steady_direct
        print(f"writing the cache through adds {1000 * added:.2f} ms per image: {100 * added * steady_direct:.1f} % of an "
              f"epoch at (b)'s rate")
    print(f"first epoch: {first_direct:.1f} s decoding, {first_cached:.1f} s writing the cache as it decodes: "
          f"{results['ratios']['first_epoch_cached_over_direct']:.2f}× (goal on the 2-core CPU: <= 1.10)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
