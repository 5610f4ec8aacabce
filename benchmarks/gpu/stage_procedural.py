"""Stage the zoo's train photos for the procedural pre-training device call (issue #17, levers 2+3).

    python benchmarks/gpu/stage_procedural.py [--photos ../shared/data/photos] [--format jpeg|webp|png]
        [--jpeg-quality 95] [--budget-mib 25] [--total-mib 60] [--jobs 1] [--check-zoo /work/zoo]

Run here, before ``run(command="bash benchmarks/gpu/pretrain_procedural.sh", carry=[".gpu-carry"], ...)``
(docs/training.md). The device machine gets the git checkout and nothing beside it, so the photos
that ``benchmarks/zoo/procedural.py`` cuts its windows from must travel in an ignored folder:
``.gpu-carry/photos/`` (``/.gpu-carry/`` is in .gitignore) with ``.gpu-carry/STAGED.json``
(what was staged, from which files, how). The device builds with
``procedural.py --photos .gpu-carry/photos --photos-are-train``.

**Train photos only.** The photo list and its split are procedural.py's ``train_photos``, i.e.
``benchmarks/zoo/build.py``'s own ``scan_photos`` and ``assign_splits`` (imported, not copied),
with the zoo's seed and fractions (the same options and defaults as procedural.py). No val or
test photo of the zoo is written, so none can travel; STAGED.json lists each staged file with
the name and SHA-256 of the photo it came from, and the hash of the whole photo list as
procedural.py computes it (``photo_list_sha256``), which ties the staging to a zoo build;
``--check-zoo DIR`` (procedural.py's own check) stops unless a zoo build's ``zoo-build.json``
and ``zoo-manifest.tsv`` name the same photo list and the same train photos.

**Why half resolution, and what it changes.** A call carries at most 64 MiB and the checkout is
about 32 MiB, so the photos get a 25 MiB budget (``--budget-mib``; ``--total-mib 60`` also
checks checkout + carry). The 222 train photos are 34 MiB as their original JPEGs and about
79 megapixels: too much at full resolution in any form. Each photo is therefore halved
(exactly 2x: PIL's antialiased bicubic, the builder's own filter, over the largest even-sized
box, so an odd last row/column is dropped). What the builder then does with it:

- procedural.py cuts a 128x128 window and bicubic-downscales it by the network's factor
  F = 2, 4 or 8 before the network up-samples it back. So the network's input is always a
  >= 2x downscale of the window: the top octave of the window never reaches the network except
  through the filter's leakage, and from a halved photo the input is a (2F)x downscale of the
  original instead of an Fx one. The up-sampling traces, which are what the classes differ by,
  are the network's either way; the photo's own finest detail (sensor noise, its JPEG grid) was
  already mostly averaged away by the Fx downscale.
- Content scale: a 128-px window of a halved photo shows the scene of a 256-px window of the
  original (the field of view of the zoo's own 256-px windows), so each window holds more,
  smaller structures, and the LR input is a little softer (two antialiasing filters in series).
- The per-image colour map is fitted to the 128-px window of the halved photo (12 numbers, no
  spatial information): a smoother target than native pixels, same fit.
- Fewer distinct windows: a quarter of the positions per photo (the smallest photos, 256 px,
  admit one 128-px window). A class draws 10 windows from 222 photos, so this barely matters.

**Why JPEG at quality 95 (4:4:4), not lossless.** Halved, the photos are 19.7 megapixels: about
32 MiB as PNG and 23.5-26.6 MiB as lossless WebP (libwebp method 5-6, extrapolated from two
subsamples of 56 and 28 photos), over or at the budget with no room for the checkout to grow,
and lossless WebP takes ~5 s a photo here. JPEG quality 95 with no chroma subsampling takes
11.6 MiB (all 222, 8 s). What it changes: the halved pixels move by 1.9/255 RMS (all 222,
printed by every run); measured on 28 photos against their lossless halves, the builder's F=2
network input (after its own bicubic downscale) moves by 0.74/255 and its output PNGs (through
three procedural networks) by 0.64/255 RMS, max 1.8, about twice the output's own 8-bit
rounding (0.29). The error is the same for every class, so it is no label; it adds an 8-px JPEG
grid at half resolution (the originals are JPEGs with their own grid at full resolution).
Quality 97 (14.1 MiB) gave 0.59/255 at the output: little gain; quality 98 is 15.4 MiB and 100
is 22.7 MiB. Either way the device decodes the same bytes this machine would, so a build there
equals one here over this folder. ``--format webp`` (lossless, each file checked bit for bit
after writing) or ``png`` is there for a checkout small enough to afford it.

Prints the carry's size and the checkout's (what travels), and refuses (exit 1, the new files
removed, an earlier staging left as it was) when the photos exceed ``--budget-mib`` or
checkout + carry exceed ``--total-mib``. Deterministic for one Pillow (libjpeg, libwebp) version.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROCEDURAL = REPO / "benchmarks" / "zoo" / "procedural.py"
FORMAT = "aidetect-procedural-staged/1"
EXT = {"webp": ".webp", "png": ".png", "jpeg": ".jpg"}
MIB = 1 << 20


def _load_procedural():
    """benchmarks/zoo/procedural.py as a module (it loads build.py, whose split functions it uses)."""
    name = "aidetect_procedural"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PROCEDURAL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def halve(rgb):
    """An HxWx3 uint8 photo at exactly half size: PIL's antialiased bicubic over the even-sized box."""
    import numpy as np
    from PIL import Image

    h, w = rgb.shape[:2]
    im = Image.fromarray(rgb).resize((w // 2, h // 2), Image.BICUBIC, box=(0, 0, 2 * (w // 2), 2 * (h // 2)))
    return np.asarray(im, dtype=np.uint8)


def encode(rgb, fmt: str, jpeg_quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    im = Image.fromarray(rgb)
    if fmt == "webp":
        im.save(buf, format="WEBP", lossless=True, quality=100, method=6, exact=True)
    elif fmt == "png":
        im.save(buf, format="PNG", compress_level=9)
    else:
        im.save(buf, format="JPEG", quality=jpeg_quality, subsampling=0, optimize=True)
    return buf.getvalue()


def stage_one(task: tuple) -> dict:
    """Worker: halve, encode and write one photo; decode it back to check (or measure) the loss."""
    import numpy as np
    from PIL import Image

    src, dest, fmt, jpeg_quality = task
    P = _load_procedural()
    P.zg.configure_single_thread()
    rgb = P.zg.load_rgb(Path(src))  # EXIF orientation applied, as the builder reads photos
    half = halve(rgb)
    data = encode(half, fmt, jpeg_quality)
    Path(dest).write_bytes(data)
    with Image.open(io.BytesIO(data)) as im:
        back = np.asarray(im.convert("RGB"), dtype=np.uint8)
    rms = float(np.sqrt(np.mean((back.astype(np.float64) - half) ** 2)))
    if fmt != "jpeg" and rms != 0.0:
        raise RuntimeError(f"{dest}: lossless {fmt} did not decode to the same pixels (rms {rms})")
    return {"file": Path(dest).name, "size": [int(half.shape[1]), int(half.shape[0])], "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "rms_vs_halved": round(rms, 4),
            "source_size": [int(rgb.shape[1]), int(rgb.shape[0])]}


def checkout_bytes(repo: Path) -> tuple[int, int]:
    """(bytes, files) of what a device call sends besides carry: tracked and untracked-not-ignored files."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout
    total = files = 0
    for rel in {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}:
        path = repo / rel
        if path.is_symlink() or path.is_file():
            total += os.lstat(path).st_size
            files += 1
    return total, files


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def parse_args(argv=None) -> argparse.Namespace:
    P = _load_procedural()
    zd = P._ZOO_DEFAULTS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=P.zoo_build.DEFAULT_PHOTOS,
                    help=f"the zoo's photo folder (default: {P.zoo_build.DEFAULT_PHOTOS})")
    ap.add_argument("--out", type=Path, default=REPO / ".gpu-carry", help="the carry folder (default: .gpu-carry, git-ignored)")
    ap.add_argument("--format", choices=sorted(EXT), default="jpeg", help="jpeg (default), webp or png (both lossless)")
    ap.add_argument("--jpeg-quality", type=int, default=95, help="with --format jpeg (4:4:4; default 95)")
    ap.add_argument("--budget-mib", type=float, default=25.0, help="most the staged photos may take (default 25)")
    ap.add_argument("--total-mib", type=float, default=60.0,
                    help="most checkout + carry may take (default 60; the device's limit is 64)")
    ap.add_argument("--jobs", type=int, default=1, help="encoding processes (default 1)")
    ap.add_argument("--check-zoo", type=Path, default=None, metavar="DIR",
                    help="a zoo build folder (read only): stop unless its photo list and train photos match (procedural.py's check)")
    ap.add_argument("--zoo-seed", type=int, default=zd.seed, help=f"the zoo build's --seed (default {zd.seed})")
    ap.add_argument("--zoo-val-fraction", type=float, default=zd.val_fraction, help=f"default {zd.val_fraction}")
    ap.add_argument("--zoo-test-fraction", type=float, default=zd.test_fraction, help=f"default {zd.test_fraction}")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    if not 1 <= args.jpeg_quality <= 100:
        ap.error("--jpeg-quality must be in [1, 100]")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    P = _load_procedural()
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(msg, flush=True)

    out = args.out.resolve()
    if out.parent == REPO and subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", out.name + "/"], check=False).returncode != 0:
        log(f"error: {out} is not ignored by git: it would travel twice (add /{out.name}/ to .gitignore)")
        return 2
    train, photos = P.train_photos(args.photos, args.zoo_seed, args.zoo_val_fraction, args.zoo_test_fraction, log)
    if not train:
        log("error: the zoo split leaves no train photos")
        return 2
    photo_list_sha256 = hashlib.sha256("\n".join(f"{p.name}\t{p.sha256}" for p in photos).encode()).hexdigest()
    if args.check_zoo is not None:
        problem = P._check_zoo(args.check_zoo.resolve(), {
            "photo_list_sha256": photo_list_sha256, "zoo_seed": args.zoo_seed,
            "zoo_val_fraction": args.zoo_val_fraction, "zoo_test_fraction": args.zoo_test_fraction}, train, log)
        if problem:
            log(f"error: {problem}")
            return 2
    log(f"{len(train)} of {len(photos)} photos are the zoo's train split (build.py's scan_photos + assign_splits, "
        f"seed {args.zoo_seed}, val {args.zoo_val_fraction}, test {args.zoo_test_fraction}); "
        f"halving them into {out / 'photos'} as {args.format}")

    new = out / "photos.new"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    tasks = [(str(p.path), str(new / (Path(p.name).stem + EXT[args.format])), args.format, args.jpeg_quality) for p in train]
    if args.jobs == 1:
        results = list(map(stage_one, tasks))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            results = list(pool.map(stage_one, tasks))
    for p, r in zip(train, results):
        r.update(source=p.name, source_sha256=p.sha256)

    photo_bytes = tree_bytes(new)
    co_bytes, co_files = checkout_bytes(REPO)
    meta = {
        "format": FORMAT,
        "what": "the zoo's train photos only, halved (exactly 2x, PIL bicubic over the even-sized box) for "
                "benchmarks/zoo/procedural.py --photos-are-train on a device machine; see benchmarks/gpu/stage_procedural.py",
        "zoo_split": {"seed": args.zoo_seed, "val_fraction": args.zoo_val_fraction, "test_fraction": args.zoo_test_fraction,
                      "photos_scanned": len(photos), "train_photos": len(train),
                      "photo_list_sha256": photo_list_sha256,
                      "checked_against_zoo": str(args.check_zoo.resolve()) if args.check_zoo else None},
        "encoding": {"format": args.format, **({"jpeg_quality": args.jpeg_quality, "subsampling": "4:4:4"}
                                               if args.format == "jpeg" else {"lossless": True})},
        "scale": 0.5,
        "packages": {"pillow": __import__("PIL").__version__},
        "bytes": photo_bytes,
        "photos": results,
    }
    carry_bytes = photo_bytes + len(json.dumps(meta, indent=1)) + 1
    total = co_bytes + carry_bytes
    rms = [r["rms_vs_halved"] for r in results]
    log(f"staged {len(results)} photos: {photo_bytes / MIB:.2f} MiB ({photo_bytes} bytes; budget {args.budget_mib} MiB), "
        f"{sum(r['size'][0] * r['size'][1] for r in results) / 1e6:.1f} megapixels, "
        f"{'bit-exact' if max(rms) == 0 else f'rms error {sum(rms) / len(rms):.2f}/255 (max {max(rms):.2f})'} "
        f"after decoding")
    log(f"checkout that travels: {co_bytes / MIB:.2f} MiB ({co_files} files); checkout + carry: {total / MIB:.2f} MiB "
        f"(limit here {args.total_mib} MiB, the device's 64 MiB)")
    problems = []
    if photo_bytes > args.budget_mib * MIB:
        problems.append(f"the photos take {photo_bytes / MIB:.2f} MiB, over the {args.budget_mib} MiB budget")
    if total > args.total_mib * MIB:
        problems.append(f"checkout + carry take {total / MIB:.2f} MiB, over {args.total_mib} MiB")
    if problems:
        shutil.rmtree(new)
        log(f"refused: {'; '.join(problems)}. Nothing new was kept"
            + (f"; the earlier staging in {out} is unchanged" if (out / 'photos').exists() else "")
            + (". Try --format jpeg." if args.format != "jpeg" else ". Lower --jpeg-quality."))
        return 1
    shutil.rmtree(out / "photos", ignore_errors=True)
    new.rename(out / "photos")
    (out / "STAGED.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    log(f"carry {out}: {tree_bytes(out) / MIB:.2f} MiB in {len(results) + 1} files; done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
