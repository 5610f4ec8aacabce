"""Build the offline "zoo" benchmark: real photos + real offline generators, labelled by folder.

    python benchmarks/zoo/build.py --out /work/zoo [--photos ../shared/data/photos]
        [--seed 0] [--windows-per-photo 3] [--classes real bicubic ...] [--jobs 2]
        [--taesd-dir ../shared/data/taesd]

writes ``OUT/{train,val,test}/<class>/<photo>_w<k>.png`` (aidetect's folders layout)
plus ``OUT/zoo-build.json`` (the parameters, photo list and package versions) and
``OUT/zoo-manifest.tsv`` (one row per slot: split, photo, window box, seeded choices).

- Splits are by source photo (seeded; 70/15/15 of the photos by default). Photos
  that show the same scene (exact copies, near-duplicates found by a small
  high-pass fingerprint, and the known pairs of ``KNOWN_RELATED``) form one group,
  and a group goes to one split, so no photo, nor a copy of it, feeds two splits.
- Each photo gives ``--windows-per-photo`` seeded 256x256 windows (fewer when the
  photo is too small for distinct ones; photos under 256 px are left out). Every
  class writes one file per window, named after the window, see zoo_generators.py.
- Every file is a plain RGB PNG (no metadata, compress_level=6), written to a
  hidden temp name and renamed, so the format carries no label and a killed build
  leaves no half-written PNG. Files already there are skipped: rerun the same
  command to resume. A rebuild with the same seed is byte-identical (same machine
  and package versions).
- Generators run in ``--jobs`` processes with one thread each.
- The five ``taesd-*`` classes read their weights from ``--taesd-dir``; every
  file is checked against its SHA256SUMS before the build starts (and again, on
  the bytes loaded, in each worker). Their mean reconstruction PSNR against the
  window is recorded in ``zoo-build.json`` (``stats``).

Docs: docs/zoo-data.md. Generators: zoo_generators.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos"
# Spawned worker processes get this sys.path, so they can import zoo_generators too.
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

import zoo_generators as zg  # noqa: E402
import zoo_taesd  # noqa: E402  (numpy only at import; torch when a model is built)

SPLITS = ("train", "val", "test")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
FORMAT = "aidetect-zoo/1"

# Photos of shared/data/photos that show the same scene or object but that the
# fingerprint below does not catch (other crop, scale or viewpoint). Each group
# goes to one split. Names are file stems; absent names are ignored.
KNOWN_RELATED = [
    ("cset14_face", "cset5_head"),  # the same portrait in Set14 and Set5
    ("cset14_baboon", "opencvdoc_baboon"),  # the mandrill, two crops
    ("cset14_monarch", "cset5_butterfly"),  # Set5's butterfly is a crop of the monarch
    ("opencvdoc_aero1", "opencvdoc_aero3"),  # one aerial scene, two views
    ("opencvdoc_aloeL", "opencvdoc_aloeR"),  # stereo pair
    ("opencvdoc_graf1", "opencvdoc_graf3"),  # one graffiti, two viewpoints
    ("opencvdoc_leuvenA", "opencvdoc_leuvenB"),  # one street, two exposures
    ("opencvdoc_left", "opencvdoc_right"),  # stereo pair
    ("opencvdoc_rubberwhale1", "opencvdoc_rubberwhale2"),  # optical-flow frames
]
NEAR_DUPLICATE_THRESHOLD = 0.5  # correlation of 48x48 high-pass fingerprints


# --------------------------------------------------------------------------- photos


@dataclass
class Photo:
    name: str
    path: Path
    sha256: str
    width: int
    height: int
    group: str = ""
    split: str = ""


def _fingerprint(rgb: np.ndarray, n: int = 48) -> np.ndarray:
    """A unit vector of the photo's high-pass detail at n x n: near-copies correlate ~1."""
    from PIL import Image, ImageFilter

    im = Image.fromarray(rgb).convert("L").resize((n, n), Image.BOX)
    a = np.asarray(im, dtype=np.float64)
    b = np.asarray(im.filter(ImageFilter.GaussianBlur(3)), dtype=np.float64)
    v = (a - b).ravel()
    v -= v.mean()
    return v / (np.linalg.norm(v) + 1e-9)


def scan_photos(folder: Path, window: int, log) -> tuple[list[Photo], list[str], list[tuple[str, ...]]]:
    """The usable photos (sorted by name), notes on those left out, and the related groups."""
    if not folder.is_dir():
        raise SystemExit(f"error: photo folder not found: {folder}")
    files = sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS
    )
    if not files:
        raise SystemExit(f"error: no images in {folder}")
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})
        raise SystemExit(f"error: photos with the same name and different extensions: {dup}")
    photos, excluded, prints, by_hash = [], [], [], {}
    for p in files:
        data = p.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in by_hash:
            excluded.append(f"{p.name}: identical copy of {by_hash[digest]}")
            continue
        by_hash[digest] = p.name
        rgb = zg.load_rgb(p)
        h, w = rgb.shape[:2]
        if min(h, w) < window:
            excluded.append(f"{p.name}: {w}x{h} is smaller than the {window}x{window} window")
            continue
        photos.append(Photo(p.name, p, digest, w, h))
        prints.append(_fingerprint(rgb))
    for note in excluded:
        log(f"  left out {note}")

    # Union-find over near-duplicates and KNOWN_RELATED.
    parent = list(range(len(photos)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    if len(photos) > 1:
        f = np.stack(prints)
        corr = f @ f.T
        for i, j in zip(*np.nonzero(np.triu(corr, 1) > NEAR_DUPLICATE_THRESHOLD)):
            union(int(i), int(j))
    index = {Path(p.name).stem: i for i, p in enumerate(photos)}
    for group in KNOWN_RELATED:
        present = [index[s] for s in group if s in index]
        for i in present[1:]:
            union(present[0], i)
    members = defaultdict(list)
    for i, p in enumerate(photos):
        members[find(i)].append(i)
    groups = []
    for idx in members.values():
        key = photos[idx[0]].name  # photos are sorted, so this is the smallest name
        for i in idx:
            photos[i].group = key
        if len(idx) > 1:
            groups.append(tuple(photos[i].name for i in idx))
    return photos, excluded, sorted(groups)


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def assign_splits(photos: list[Photo], seed: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """Seeded split of the photo groups: test first, then val, the rest train."""
    n = len(photos)
    n_test = _round_half_up(n * test_fraction)
    n_val = _round_half_up(n * val_fraction)
    if n >= 3:  # every split gets at least one photo when there are enough
        n_test, n_val = max(1, n_test), max(1, n_val)
    groups = defaultdict(list)
    for p in photos:
        groups[p.group].append(p)
    order = sorted(groups, key=lambda g: (zg.derive_seed(seed, "split", g, bits=62), g))
    count = {s: 0 for s in SPLITS}
    for g in order:
        split = "test" if count["test"] < n_test else "val" if count["val"] < n_val else "train"
        for p in groups[g]:
            p.split = split
        count[split] += len(groups[g])
    return count


def window_positions(photo: Photo, seed: int, n: int, window: int) -> list[tuple[int, int]]:
    """Up to n seeded distinct (left, top) positions, spread out where the photo allows."""
    rs = np.random.RandomState(zg.derive_seed(seed, "windows", photo.name))
    nx, ny = photo.width - window + 1, photo.height - window + 1
    want = min(n, nx * ny)
    chosen: list[tuple[int, int]] = []

    def overlap(a, b) -> float:
        dx = max(0, window - abs(a[0] - b[0]))
        dy = max(0, window - abs(a[1] - b[1]))
        return dx * dy / (window * window)

    while len(chosen) < want:
        best, best_score = None, None
        for _ in range(64):  # prefer a candidate overlapping the others by at most half
            cand = (int(rs.randint(nx)), int(rs.randint(ny)))
            if cand in chosen:
                continue
            score = max((overlap(cand, c) for c in chosen), default=0.0)
            if best is None or score < best_score:
                best, best_score = cand, score
            if score <= 0.5:
                break
        if best is None:  # tiny photo: take the first free position in order
            best = next((x, y) for y in range(ny) for x in range(nx) if (x, y) not in chosen)
        chosen.append(best)
    return chosen


# --------------------------------------------------------------------------- main


def _fmt_time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="output folder (created; reused to resume)")
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help=f"folder of real photos (default: {DEFAULT_PHOTOS})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--windows-per-photo", type=int, default=3, help="256x256 windows per photo (default 3)")
    ap.add_argument(
        "--classes", nargs="+", default=None,
        help=f"classes to build (space- or comma-separated; default all): {', '.join(zg.CLASSES)}",
    )
    ap.add_argument("--jobs", type=int, default=2, help="generator processes, one thread each (default 2)")
    ap.add_argument("--val-fraction", type=float, default=0.15, help="share of photos for val (default 0.15)")
    ap.add_argument("--test-fraction", type=float, default=0.15, help="share of photos for test (default 0.15)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan (photos, splits, windows) and write nothing")
    ap.add_argument("--progress-every", type=float, default=30.0, help="seconds between progress lines")
    ap.add_argument("--taesd-dir", type=Path, default=zg.DEFAULT_TAESD_DIR,
                    help=f"TAESD weights with their SHA256SUMS, for the taesd-* classes (default: {zg.DEFAULT_TAESD_DIR})")
    args = ap.parse_args(argv)
    if args.windows_per_photo < 1:
        ap.error("--windows-per-photo must be at least 1")
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    if not (0 <= args.val_fraction < 1 and 0 <= args.test_fraction < 1 and args.val_fraction + args.test_fraction < 1):
        ap.error("--val-fraction and --test-fraction must be in [0, 1) and sum to less than 1")
    if args.classes is None:
        args.classes = list(zg.CLASSES)
    else:
        names = [c.strip().lower() for item in args.classes for c in item.split(",") if c.strip()]
        unknown = [c for c in names if c not in zg.CLASSES]
        if unknown:
            ap.error(f"unknown class(es) {unknown}; known: {', '.join(zg.CLASSES)}")
        args.classes = [c for c in zg.CLASSES if c in set(names)]  # canonical order
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(msg, flush=True)

    missing = {c: zg.missing_packages(c) for c in args.classes}
    missing = {c: m for c, m in missing.items() if m}
    if missing:
        pkgs = sorted({p for m in missing.values() for p in m})
        lines = "\n".join(f"  {c}: needs {', '.join(m)}" for c, m in missing.items())
        log(f"error: packages missing for some classes:\n{lines}\n"
            f"install the zoo extra (pip install -e '.[zoo]', or pip install {' '.join(pkgs)}), "
            f"or choose other classes with --classes")
        return 2
    args.taesd_weights = {}
    latent = [c for c in args.classes if c in zg.LATENT_CLASSES]
    if latent:
        try:
            args.taesd_weights = zoo_taesd.verify(args.taesd_dir.resolve(), latent)
        except zoo_taesd.WeightsError as exc:
            log(f"error: {exc}")
            return 2

    out: Path = args.out.resolve()
    if args.dry_run:
        return _build(args, out, t_start, log)
    return run_locked(out, ".zoo-build.lock", log, lambda: _build(args, out, t_start, log))


def run_locked(out: Path, lock_name: str, log, build) -> int:
    """``build()`` while holding ``out/lock_name``; 2 at once when another build holds it."""
    out.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout

    lock = FileLock(str(out / lock_name))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log(f"error: another build is running into {out} (lock {out / lock_name})")
        return 2
    try:
        return build()
    finally:
        lock.release()


def latent_stats(out: Path, slots: list, photo_of: dict) -> dict[str, dict]:
    """Per latent-decoder class: PSNR (dB) of each file on disk against its real window.

    ``psnr_db_mean`` is the mean over files of the per-file PSNR. Empty when no
    such class has files here.
    """
    present = {c: [s for s in slots if (out / s.split / c / f"{s.stem}.png").is_file()] for c in zg.LATENT_CLASSES}
    present = {c: v for c, v in present.items() if v}
    if not present:
        return {}
    from PIL import Image

    values: dict[str, dict[str, list[float]]] = {c: defaultdict(list) for c in present}
    by_photo = defaultdict(list)
    for s in slots:
        by_photo[str(photo_of[s.stem].path)].append(s)
    for path, photo_slots in by_photo.items():
        rgb = None
        for s in photo_slots:
            for c in present:
                f = out / s.split / c / f"{s.stem}.png"
                if not f.is_file():
                    continue
                if rgb is None:
                    rgb = zg.load_rgb(Path(path))
                win = rgb[s.top : s.top + zg.WINDOW, s.left : s.left + zg.WINDOW]
                with Image.open(f) as im:
                    values[c][s.split].append(zoo_taesd.psnr(win, np.asarray(im.convert("RGB"))))
    stats = {}
    for c in present:
        allv = [v for split in SPLITS for v in values[c][split]]
        stats[c] = {
            "files": len(allv),
            "psnr_db_mean": round(float(np.mean(allv)), 3),
            "psnr_db_min": round(float(np.min(allv)), 3),
            "psnr_db_max": round(float(np.max(allv)), 3),
            "psnr_db_mean_per_split": {sp: round(float(np.mean(values[c][sp])), 3) for sp in SPLITS if values[c][sp]},
            "measure": "mean over files of the PSNR (peak 255) of the PNG against its real 256x256 window",
        }
    return stats


def _build(args, out: Path, t_start: float, log) -> int:
    window = zg.WINDOW
    log(f"zoo build -> {out}")
    log(f"photos: {args.photos}")
    photos, excluded, groups = scan_photos(args.photos.resolve(), window, log)
    split_photos = assign_splits(photos, args.seed, args.val_fraction, args.test_fraction)
    log(f"{len(photos)} photos used ({len(excluded)} left out), {len(groups)} groups of related photos; "
        f"photos per split: " + ", ".join(f"{s} {split_photos[s]}" for s in SPLITS))

    photos_by_name = {p.name: p for p in photos}
    slots: list[zg.Slot] = []
    photo_of: dict[str, Photo] = {}
    for p in photos:
        for k, (left, top) in enumerate(window_positions(p, args.seed, args.windows_per_photo, window)):
            slot = zg.Slot.make(args.seed, p.split, p.name, k, left, top)
            slots.append(slot)
            photo_of[slot.stem] = p
    if args.dry_run:
        per = defaultdict(int)
        for s in slots:
            per[s.split] += 1
        log(f"dry run: {len(slots)} windows per class (" + ", ".join(f"{s} {per[s]}" for s in SPLITS)
            + f"), {len(args.classes)} classes: {len(slots) * len(args.classes)} files")
        log(f"classes: {', '.join(args.classes)}")
        if args.taesd_weights:
            log(f"taesd weights: {len(args.taesd_weights)} files in {args.taesd_dir.resolve()} match SHA256SUMS")
        for g in groups:
            log(f"  related, one split ({photos_by_name[g[0]].split}): {', '.join(g)}")
        return 0
    stems = [s.stem for s in slots]
    if len(set(stems)) != len(stems):
        raise SystemExit("error: two photos give the same output name; rename one")
    # Test and validation windows first: a build stopped early (or still running) already gives
    # a complete evaluation set; the order changes no file's content.
    slots.sort(key=lambda s: ({"test": 0, "val": 1, "train": 2}[s.split], s.stem))

    # Parameters that fix the content: a folder built with others cannot be resumed.
    photo_list = "\n".join(f"{p.name}\t{p.sha256}" for p in photos)
    params = {
        "format": FORMAT,
        "seed": args.seed,
        "windows_per_photo": args.windows_per_photo,
        "window": window,
        "val_fraction": args.val_fraction,
        "test_fraction": args.test_fraction,
        "photo_list_sha256": hashlib.sha256(photo_list.encode()).hexdigest(),
    }
    meta_path = out / "zoo-build.json"
    versions = zg.package_versions()
    if meta_path.exists():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        diff = [k for k in params if old.get("params", {}).get(k) != params[k]]
        if diff:
            log(f"error: {out} was built with other parameters (different {', '.join(diff)}); "
                f"use another --out or delete it")
            return 2
        changed = sorted(k for k in set(versions) | set(old.get("packages", {}))
                         if versions.get(k) != old.get("packages", {}).get(k))
        if changed:
            log(f"warning: package versions changed since this folder was started ({', '.join(changed)}): "
                f"files written before and after may differ from a fresh build")
        old_w = old.get("taesd_weights", {})
        changed_w = sorted(k for k in args.taesd_weights if k in old_w and old_w[k] != args.taesd_weights[k])
        if changed_w:
            log(f"warning: taesd weights changed since this folder was started ({', '.join(changed_w)}): "
                f"files written before and after differ from a fresh build")
    meta = {
        "params": params,
        "photos": {
            "count": len(photos),
            "per_split": split_photos,
            "left_out": excluded,
            "related_groups": [list(g) for g in groups],
        },
        "slots": len(slots),
        "classes": {c: zg.CLASSES[c][2] for c in zg.CLASSES},
        "packages": versions,
        "taesd_weights": dict(args.taesd_weights),
        "png": {"mode": "RGB", "compress_level": 6, "optimize": False, "metadata": "none"},
    }
    if not meta_path.exists():
        _write_atomic(meta_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    header = ["file", "split", "photo", "group", "window", "left", "top", "size",
              "style_index", "eye_colour", "faces_seed", "eyes_seed"]
    rows = ["\t".join(header)]
    for s in slots:
        rows.append("\t".join(str(v) for v in (
            f"{s.stem}.png", s.split, s.photo, photo_of[s.stem].group, s.window, s.left, s.top, window,
            s.style_index, zg.EYE_COLOURS[s.eye_colour], s.faces_seed, s.eyes_seed)))
    _write_atomic(out / "zoo-manifest.tsv", "\n".join(rows) + "\n")

    # Leftovers of a killed build (the lock says no other build is writing here).
    for tmp in out.rglob(".*.tmp"):
        tmp.unlink()
    for split in SPLITS:
        for c in args.classes:
            (out / split / c).mkdir(parents=True, exist_ok=True)

    tasks = []
    n_existing = 0
    for s in slots:
        todo = [c for c in args.classes if not (out / s.split / c / f"{s.stem}.png").exists()]
        n_existing += len(args.classes) - len(todo)
        if todo:
            tasks.append((str(out), str(photo_of[s.stem].path), asdict(s), todo))
    n_images = sum(len(t[3]) for t in tasks)
    log(f"{len(slots)} windows x {len(args.classes)} classes ({', '.join(args.classes)}): "
        f"{n_existing} files already there, {n_images} to write with {args.jobs} process(es)")

    per_class_time: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    t_gen = time.perf_counter()
    if tasks:
        done_slots, done_images, last = 0, 0, time.perf_counter()
        taesd_dir = str(args.taesd_dir.resolve())
        if args.jobs == 1:
            zg.configure_worker(taesd_dir)
            results = map(zg.render_slot, tasks)
            pool = None
        else:
            # spawn: fresh interpreters, so no thread pool state is inherited by fork.
            pool = mp.get_context("spawn").Pool(args.jobs, initializer=zg.configure_worker, initargs=(taesd_dir,))
            results = pool.imap_unordered(zg.render_slot, tasks, chunksize=1)
        try:
            for _stem, times, errs in results:
                done_slots += 1
                done_images += len(times)
                for c, t in times.items():
                    per_class_time[c].append(t)
                for e in errs:
                    log(f"  FAILED {e}")
                errors.extend(errs)
                now = time.perf_counter()
                if now - last >= args.progress_every or done_slots == len(tasks):
                    last = now
                    el = now - t_gen
                    eta = el / done_slots * (len(tasks) - done_slots)
                    log(f"progress: {done_slots}/{len(tasks)} windows ({100 * done_slots / len(tasks):.1f}%), "
                        f"{done_images}/{n_images} files written, elapsed {_fmt_time(el)}, eta {_fmt_time(eta)}")
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()

    # Counts of what is on disk now (all class folders, also those of earlier runs).
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {s: 0 for s in SPLITS})
    for split in SPLITS:
        d = out / split
        if d.is_dir():
            for cdir in sorted(d.iterdir()):
                if cdir.is_dir():
                    counts[cdir.name][split] = sum(1 for f in cdir.iterdir() if f.suffix == ".png" and not f.name.startswith("."))
    log("")
    log(f"{'class':<18} {'train':>6} {'val':>6} {'test':>6} {'total':>6}   mean s/image (this run)")
    totals = {s: 0 for s in SPLITS}
    for c in sorted(counts, key=lambda c: (list(zg.CLASSES).index(c) if c in zg.CLASSES else 99, c)):
        row = counts[c]
        for s in SPLITS:
            totals[s] += row[s]
        t = per_class_time.get(c)
        mean = f"{np.mean(t):.3f}" if t else "-"
        log(f"{c:<18} {row['train']:>6} {row['val']:>6} {row['test']:>6} {sum(row.values()):>6}   {mean}")
    log(f"{'all':<18} {totals['train']:>6} {totals['val']:>6} {totals['test']:>6} {sum(totals.values()):>6}")

    # Reconstruction PSNR of the latent-decoder classes: every file on disk against its window.
    stats = latent_stats(out, slots, photo_of)
    if stats:
        log("")
        log(f"{'class':<18} {'files':>6}   PSNR against the window, dB: mean (min - max)")
        for c, st in stats.items():
            log(f"{c:<18} {st['files']:>6}   {st['psnr_db_mean']:.2f} ({st['psnr_db_min']:.2f} - {st['psnr_db_max']:.2f})")
    meta_now = json.loads(meta_path.read_text(encoding="utf-8"))
    meta_now.setdefault("taesd_weights", {}).update(args.taesd_weights)
    meta_now["stats"] = {**meta_now.get("stats", {}), **stats}
    _write_atomic(meta_path, json.dumps(meta_now, indent=2, sort_keys=True) + "\n")
    elapsed = time.perf_counter() - t_start
    log(f"wrote {sum(len(v) for v in per_class_time.values())} files in {_fmt_time(elapsed)} "
        f"({elapsed:.1f} s, {args.jobs} process(es)); {n_existing} were already there")
    if errors:
        log(f"{len(errors)} file(s) FAILED (see above); rerun the same command to retry them")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
