"""Procedural generators (issue #17, lever 2): a pre-training set of random up-sampling networks.

    python benchmarks/zoo/procedural.py --out /work/procedural [--classes 1000]
        [--per-class 8 2] [--seed 0] [--jobs 1] [--photos ../shared/data/photos [--photos-are-train]]

writes ``OUT/{train,val}/proc-NNNNN/<k>_<photo>.png`` (aidetect's folders layout with
given splits, like the zoo; ``aidetect train --data OUT`` reads it as is), plus
``OUT/procedural.json`` (the arguments, the photos used, and each class's network
recipe as a readable string) and ``OUT/procedural-manifest.tsv`` (one row per file:
split, class, photo, window box, network factor).

**One seed = one class.** Class ``i`` is one small network drawn from
``(--seed, i)``: a stem 3x3 conv, 1 to 3 up-sampling stages (x2 each; per stage one
of transposed convolution, nearest + conv, bilinear + conv, conv + pixel shuffle,
kernel 3, 4 or 5), one activation (ReLU, LeakyReLU(0.2), tanh or none) and one
normalisation (none, a fixed per-channel affine like a batch norm in eval mode, or
instance norm with a fixed affine) for the whole network, and a 3x3 conv to RGB.
Width 8, 16 or 32 channels. Every weight is drawn from NumPy's legacy
``RandomState`` (a frozen stream) seeded from ``(seed, i)`` and scaled by the
layer's fan-in and the activation's gain (He/Xavier-like), so activations keep a
stable range at any depth.

**What a file is.** A seeded 128x128 window (``--size``) of a real photo, downscaled by the
network's total factor F (2, 4 or 8; PIL's antialiased bicubic, as the zoo's
super-resolution classes) and up-sampled back to 128x128 by the network. The
network's raw RGB output is mapped to the window's colours by a per-image
least-squares affine colour map (3x3 matrix + offset: 12 numbers, no spatial
information), clipped to [0, 1], rounded to 8 bits and written as a plain RGB PNG
(no metadata, compress_level=6, through the zoo's own ``write_png``: hidden temp
name + rename). So the content is the photo's and the spatial traces are the
network's up-sampling fingerprint (cf. FingerprintNet, ECCV 2022; DNA-Det, AAAI 2022).

**Classes are generators only.** There is no ``real`` class: the set exists to
pre-train an encoder to tell up-sampling fingerprints apart, not to detect.

**No leakage into the zoo's val/test.** Only the photos of the zoo's *train* split
are used: the photos are scanned and split by ``benchmarks/zoo/build.py``'s own
``scan_photos`` and ``assign_splits`` (imported, not copied), with the zoo's seed
and fractions (``--zoo-seed``, ``--zoo-val-fraction``, ``--zoo-test-fraction``;
defaults are build.py's). ``--check-zoo DIR`` also compares the photo list with an
existing zoo build's ``zoo-build.json`` and ``zoo-manifest.tsv`` (read only).
``--photos-are-train`` instead takes a folder that already holds only train photos (as
``benchmarks/gpu/stage_procedural.py`` writes them for a GPU machine, split by these same
functions before it left): every photo of it of at least --size px is used, none is split off.
The procedural ``val`` split holds other windows of the same train photos (never
overlapping a train window of the same class on the same photo): it only drives
early stopping of pre-training.

Deterministic (a rebuild with the same arguments is byte-identical on one machine
with the same torch/NumPy/Pillow; each class depends only on the seed, its index
and the photos, not on --jobs or --classes), resumable (files already there are
skipped; rerun the same command after a kill; a folder started with another seed,
--per-class, zoo split or photo set is refused), one torch thread per process.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import multiprocessing as mp
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load_zoo_build():
    """benchmarks/zoo/build.py as a module (by path: a PyPI package is also called ``build``).

    Importing it puts this folder on sys.path, so ``zoo_generators`` imports too;
    it imports NumPy only (torch comes in the workers).
    """
    name = "aidetect_zoo_build"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


zoo_build = _load_zoo_build()
# After build.py: it puts this folder on sys.path, where zoo_generators lives.
import numpy as np
import zoo_generators as zg

FORMAT = "aidetect-procedural/1"
SIZE = 128  # default output side (--size); also the side of the photo window
SPLITS = ("train", "val")
MAX_CLASSES = 100_000  # class names have five digits: proc-00000 ... proc-99999
UP_KINDS = ("transposed", "nearest+conv", "bilinear+conv", "pixelshuffle")
KERNELS = (3, 4, 5)
ACTIVATIONS = ("relu", "leakyrelu", "tanh", "none")
NORMS = ("none", "affine", "instance")
WIDTHS = (8, 16, 32)
GAIN = {"relu": 2.0 ** 0.5, "leakyrelu": (2.0 / (1 + 0.2 ** 2)) ** 0.5, "tanh": 5.0 / 3.0, "none": 1.0}
PHOTO_CACHE_BYTES = 768 << 20  # decoded photos kept per process (all of shared/data/photos is ~330 MB)
_ZOO_DEFAULTS = zoo_build.parse_args(["--out", "unused"])  # parses only; touches no file


def class_name(i: int) -> str:
    return f"proc-{i:05d}"


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class Recipe:
    """One class's network: drawn from (seed, index) alone."""

    index: int
    width: int
    activation: str
    norm: str
    stages: tuple[tuple[str, int], ...]  # (up-sampling kind, kernel) per x2 stage
    weights_seed: int

    @property
    def factor(self) -> int:
        return 2 ** len(self.stages)

    @staticmethod
    def draw(seed: int, index: int) -> Recipe:
        rs = np.random.RandomState(zg.derive_seed(seed, "procedural/recipe", index))
        depth = int(rs.randint(1, 4))
        stages = tuple((UP_KINDS[rs.randint(len(UP_KINDS))], int(KERNELS[rs.randint(len(KERNELS))]))
                       for _ in range(depth))
        return Recipe(
            index=index,
            width=int(WIDTHS[rs.randint(len(WIDTHS))]),
            activation=ACTIVATIONS[rs.randint(len(ACTIVATIONS))],
            norm=NORMS[rs.randint(len(NORMS))],
            stages=stages,
            weights_seed=zg.derive_seed(seed, "procedural/weights", index),
        )

    def describe(self, size: int = SIZE) -> str:
        act = {"relu": "ReLU", "leakyrelu": "LeakyReLU(0.2)", "tanh": "tanh", "none": "no activation"}[self.activation]
        norm = {"none": "no norm", "affine": "fixed affine norm", "instance": "instance norm + fixed affine"}[self.norm]
        ups = " -> ".join(f"{kind} k{k}" for kind, k in self.stages)
        return (f"x{self.factor} ({size // self.factor} -> {size}): conv3 3->{self.width} -> {ups} -> conv3 {self.width}->3; "
                f"{act}, {norm}; weights seed {self.weights_seed}")


# --------------------------------------------------------------------------- networks (torch: workers only)


_TORCH_CONFIGURED: list[bool] = []


def _torch():
    """torch, limited to one thread in this process."""
    import torch

    if not _TORCH_CONFIGURED:
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set, or parallel work already started
            pass
        _TORCH_CONFIGURED.append(True)
    return torch


def build_network(recipe: Recipe):
    """The recipe's ``torch.nn.Module`` (eval mode), weights from NumPy's RandomState."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class SameConv(nn.Conv2d):
        """Stride-1 conv whose output has the input's size (even kernels: one more pixel right/bottom)."""

        def forward(self, x):
            k = self.kernel_size[0]
            return super().forward(F.pad(x, ((k - 1) // 2, k // 2, (k - 1) // 2, k // 2)))

    class Affine(nn.Module):
        """A fixed per-channel scale and shift (a batch norm in eval mode); optionally after instance norm."""

        def __init__(self, c: int, instance: bool):
            super().__init__()
            self.instance = instance
            self.scale = nn.Parameter(torch.ones(1, c, 1, 1))
            self.shift = nn.Parameter(torch.zeros(1, c, 1, 1))

        def forward(self, x):
            if self.instance:
                x = F.instance_norm(x, eps=1e-5)
            return x * self.scale + self.shift

    def act():
        return {"relu": nn.ReLU, "leakyrelu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh,
                "none": nn.Identity}[recipe.activation]()

    def norm(c: int):
        return nn.Identity() if recipe.norm == "none" else Affine(c, recipe.norm == "instance")

    c = recipe.width
    layers: list = [SameConv(3, c, 3, padding=0), norm(c), act()]
    # (kernel -> padding, output_padding) of a stride-2 transposed conv that doubles the side exactly.
    transposed_pad = {3: (1, 1), 4: (1, 0), 5: (2, 1)}
    for kind, k in recipe.stages:
        if kind == "transposed":
            p, op = transposed_pad[k]
            layers.append(nn.ConvTranspose2d(c, c, k, stride=2, padding=p, output_padding=op))
        elif kind == "pixelshuffle":
            layers += [SameConv(c, 4 * c, k, padding=0), nn.PixelShuffle(2)]
        else:
            mode = kind.split("+")[0]
            up = nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
            layers += [up, SameConv(c, c, k, padding=0)]
        layers += [norm(c), act()]
    layers.append(SameConv(c, 3, 3, padding=0))
    net = nn.Sequential(*layers).eval()

    rs = np.random.RandomState(recipe.weights_seed)
    gain = GAIN[recipe.activation]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                w = m.weight
                k = m.kernel_size[0]
                if isinstance(m, nn.ConvTranspose2d):
                    fan_in = w.shape[0] * k * k / 4.0  # stride 2: each output sees about a quarter of the taps
                else:
                    fan_in = w.shape[1] * k * k
                g = 1.0 if m is layers[-1] else gain
                w.copy_(torch.from_numpy(rs.normal(0.0, g / fan_in ** 0.5, size=tuple(w.shape)).astype(np.float32)))
                m.bias.copy_(torch.from_numpy(rs.normal(0.0, 0.05, size=tuple(m.bias.shape)).astype(np.float32)))
            elif isinstance(m, Affine):
                m.scale.copy_(torch.from_numpy(rs.uniform(0.5, 1.5, size=tuple(m.scale.shape)).astype(np.float32)))
                m.shift.copy_(torch.from_numpy(rs.normal(0.0, 0.2, size=tuple(m.shift.shape)).astype(np.float32)))
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def render(net, recipe: Recipe, window: np.ndarray) -> np.ndarray:
    """A square S x S x 3 uint8 window (S a multiple of 8) -> the network's S x S x 3 uint8 image of it."""
    from PIL import Image

    torch = _torch()
    side = window.shape[0]
    if window.shape != (side, side, 3) or window.dtype != np.uint8 or side % 8:
        raise ValueError(f"expected a square SxSx3 uint8 window with S a multiple of 8, got {window.shape} {window.dtype}")
    lr_side = side // recipe.factor
    lr = np.asarray(Image.fromarray(window).resize((lr_side, lr_side), Image.BICUBIC), dtype=np.float32) / 255.0
    x = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1) * 2.0 - 1.0))[None]
    with torch.no_grad():
        y = net(x)[0].numpy().astype(np.float64)  # 3 x side x side
    if y.shape != (3, side, side):
        raise RuntimeError(f"{class_name(recipe.index)}: network gave {y.shape}, expected (3, {side}, {side})")
    feats = np.concatenate([y.reshape(3, -1).T, np.ones((side * side, 1))], axis=1)
    target = window.reshape(-1, 3).astype(np.float64) / 255.0
    colour_map, *_ = np.linalg.lstsq(feats, target, rcond=None)  # 4 x 3: the colour map, no spatial information
    out = np.clip(feats @ colour_map, 0.0, 1.0).reshape(side, side, 3)
    return np.rint(out * 255.0).astype(np.uint8)


# --------------------------------------------------------------------------- photos and windows


def train_photos(folder: Path, zoo_seed: int, val_fraction: float, test_fraction: float, log=lambda m: None,
                 pre_split: bool = False, size: int = SIZE):
    """The zoo's train-split photos (``build.py``'s Photo objects), by build.py's own split.

    Scanned with the zoo's window (photos under 256 px are left out, as there) and split
    by photo groups with the zoo's seed and fractions. Returns (train photos, all photos).
    ``pre_split``: the folder holds train photos only (already split, e.g. staged at half
    resolution): scanned with this builder's own window (``size``) and all of them returned as train.
    """
    if pre_split:
        photos, _excluded, _groups = zoo_build.scan_photos(Path(folder).resolve(), size, log)
        for p in photos:
            p.split = "train"
        return list(photos), photos
    photos, _excluded, _groups = zoo_build.scan_photos(Path(folder).resolve(), zg.WINDOW, log)
    zoo_build.assign_splits(photos, zoo_seed, val_fraction, test_fraction)
    return [p for p in photos if p.split == "train"], photos


@dataclass(frozen=True)
class Item:
    """One output file of one class."""

    split: str
    file: str  # name inside OUT/<split>/<class>/
    photo: str  # photo file name
    path: str  # photo path
    left: int
    top: int


def class_items(seed: int, index: int, photos, n_train: int, n_val: int, size: int = SIZE) -> list[Item]:
    """The seeded ``size``-px windows of one class: n_train then n_val, no two overlapping on one photo.

    Depends only on (seed, index, the photo list, n_train, n_val, size).
    """
    rs = np.random.RandomState(zg.derive_seed(seed, "procedural/windows", index))
    boxes: list[tuple[int, int, int]] = []
    items = []
    for k in range(n_train + n_val):
        for _attempt in range(1000):  # after 1000 overlapping draws (too few photos), keep the last
            j = int(rs.randint(len(photos)))
            p = photos[j]
            left, top = int(rs.randint(p.width - size + 1)), int(rs.randint(p.height - size + 1))
            if not any(b[0] == j and abs(b[1] - left) < size and abs(b[2] - top) < size for b in boxes):
                break
        boxes.append((j, left, top))
        split = "train" if k < n_train else "val"
        items.append(Item(split, f"{k:03d}_{Path(p.name).stem}.png", p.name, str(p.path), left, top))
    return items


_PHOTO_CACHE: dict[str, np.ndarray] = {}


def _photo(path: str) -> np.ndarray:
    rgb = _PHOTO_CACHE.get(path)
    if rgb is None:
        if sum(a.nbytes for a in _PHOTO_CACHE.values()) > PHOTO_CACHE_BYTES:
            _PHOTO_CACHE.clear()
        rgb = _PHOTO_CACHE[path] = zg.load_rgb(Path(path))
    return rgb


def render_chunk(task: tuple) -> tuple[int, int, float, list[str]]:
    """Worker: write the missing files of a chunk of classes. Returns (classes, files written, seconds, errors)."""
    out_dir, size, entries = task
    zg.configure_single_thread()
    written, errors, t0 = 0, [], time.perf_counter()
    for recipe_fields, item_fields in entries:
        recipe = Recipe(**{**recipe_fields, "stages": tuple(tuple(s) for s in recipe_fields["stages"])})
        name = class_name(recipe.index)
        net = None
        for f in item_fields:
            item = Item(**f)
            path = Path(out_dir) / item.split / name / item.file
            if path.exists():
                continue
            try:
                if net is None:
                    net = build_network(recipe)
                rgb = _photo(item.path)
                window = rgb[item.top : item.top + size, item.left : item.left + size]
                zg.write_png(path, render(net, recipe, np.ascontiguousarray(window)))
                written += 1
            except Exception as exc:  # noqa: BLE001  (reported by the main process; the build goes on)
                errors.append(f"{name}/{item.split}/{item.file}: {type(exc).__name__}: {exc}")
    return len(entries), written, time.perf_counter() - t0, errors


# --------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="output folder (created; reused to resume)")
    ap.add_argument("--classes", type=int, default=1000, help="number of networks = classes (default 1000)")
    ap.add_argument("--per-class", type=int, nargs="+", default=[8, 2], metavar=("TRAIN", "VAL"),
                    help="files per class: TRAIN [VAL] (default 8 2; VAL defaults to 2)")
    ap.add_argument("--seed", type=int, default=0, help="draws the networks and the windows (default 0)")
    ap.add_argument("--size", type=int, default=SIZE,
                    help=f"side of each window and file, a multiple of 8 up to the zoo's window {zg.WINDOW} "
                         f"(default {SIZE}; 256 for an encoder that reads the zoo's whole 256-px images, e.g. --recipe welch)")
    ap.add_argument("--jobs", type=int, default=1, help="processes, one torch thread each (default 1)")
    ap.add_argument("--photos", type=Path, default=zoo_build.DEFAULT_PHOTOS,
                    help=f"the zoo's photo folder (default: {zoo_build.DEFAULT_PHOTOS})")
    ap.add_argument("--photos-are-train", action="store_true",
                    help="--photos already holds only the zoo's train photos (benchmarks/gpu/stage_procedural.py): "
                         "use all of at least --size px, split nothing")
    ap.add_argument("--zoo-seed", type=int, default=_ZOO_DEFAULTS.seed,
                    help=f"the zoo build's --seed, which fixes its photo split (default {_ZOO_DEFAULTS.seed})")
    ap.add_argument("--zoo-val-fraction", type=float, default=_ZOO_DEFAULTS.val_fraction,
                    help=f"the zoo build's --val-fraction (default {_ZOO_DEFAULTS.val_fraction})")
    ap.add_argument("--zoo-test-fraction", type=float, default=_ZOO_DEFAULTS.test_fraction,
                    help=f"the zoo build's --test-fraction (default {_ZOO_DEFAULTS.test_fraction})")
    ap.add_argument("--check-zoo", type=Path, default=None, metavar="DIR",
                    help="a zoo build folder (read only): stop unless its photo list and train photos match")
    ap.add_argument("--chunk", type=int, default=20, help="classes per work unit and progress line (default 20)")
    args = ap.parse_args(argv)
    if not 1 <= args.classes <= MAX_CLASSES:
        ap.error(f"--classes must be in [1, {MAX_CLASSES}]")
    if len(args.per_class) > 2:
        ap.error("--per-class takes TRAIN [VAL]")
    if len(args.per_class) == 1:
        args.per_class = [args.per_class[0], 2]
    if args.per_class[0] < 1 or args.per_class[1] < 0:
        ap.error("--per-class needs TRAIN >= 1 and VAL >= 0")
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    if not (8 <= args.size <= zg.WINDOW and args.size % 8 == 0):
        ap.error(f"--size must be a multiple of 8 from 8 to {zg.WINDOW} (the zoo's photos are scanned for {zg.WINDOW}-px windows)")
    if args.chunk < 1:
        ap.error("--chunk must be at least 1")
    if args.seed < 0:
        ap.error("--seed must be non-negative")
    if args.photos_are_train and args.check_zoo is not None:
        ap.error("--check-zoo compares the zoo's own photo folder; a --photos-are-train folder holds other files")
    vf, tf = args.zoo_val_fraction, args.zoo_test_fraction
    if not (0 <= vf < 1 and 0 <= tf < 1 and vf + tf < 1):
        ap.error("--zoo-val-fraction and --zoo-test-fraction must be in [0, 1) and sum to less than 1")
    return args


def _check_zoo(zoo: Path, params: dict, train: list, log) -> str | None:
    """None when the zoo folder agrees with our photo list and split, else the reason."""
    meta_path, manifest = zoo / "zoo-build.json", zoo / "zoo-manifest.tsv"
    if not meta_path.is_file() or not manifest.is_file():
        return f"{zoo} holds no zoo-build.json and zoo-manifest.tsv"
    zp = json.loads(meta_path.read_text(encoding="utf-8")).get("params", {})
    for ours, theirs in (("photo_list_sha256", "photo_list_sha256"), ("zoo_seed", "seed"),
                         ("zoo_val_fraction", "val_fraction"), ("zoo_test_fraction", "test_fraction")):
        if zp.get(theirs) != params[ours]:
            return f"{zoo}: {theirs} is {zp.get(theirs)!r}, ours {params[ours]!r}"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    col = lines[0].split("\t")
    zoo_train = {r[col.index("photo")] for r in (ln.split("\t") for ln in lines[1:]) if r[col.index("split")] == "train"}
    ours = {p.name for p in train}
    if zoo_train != ours:
        return f"{zoo}: train photos differ ({len(zoo_train - ours)} only there, {len(ours - zoo_train)} only here)"
    log(f"checked against {zoo}: same photo list, same {len(ours)} train photos")
    return None


def _fmt_time(s: float) -> str:
    return zoo_build._fmt_time(s)


def main(argv=None) -> int:
    args = parse_args(argv)  # before any file is read or written
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(msg, flush=True)

    out: Path = args.out.resolve()
    log(f"procedural build -> {out}")
    if args.photos_are_train:
        log(f"photos: {args.photos} (already the zoo's train photos only: nothing split off)")
    else:
        log(f"photos: {args.photos} (zoo split: seed {args.zoo_seed}, val {args.zoo_val_fraction}, "
            f"test {args.zoo_test_fraction}; train photos only)")
    train, photos = train_photos(args.photos, args.zoo_seed, args.zoo_val_fraction, args.zoo_test_fraction, log,
                                 pre_split=args.photos_are_train, size=args.size)
    if not train:
        log("error: the zoo split leaves no train photos")
        return 2
    photo_list = "\n".join(f"{p.name}\t{p.sha256}" for p in photos)
    n_train, n_val = args.per_class
    # Parameters that fix the content of a class: a folder started with others cannot be resumed.
    params = {
        "format": FORMAT,
        "seed": args.seed,
        "per_class_train": n_train,
        "per_class_val": n_val,
        "size": args.size,
        "zoo_seed": args.zoo_seed,
        "zoo_val_fraction": args.zoo_val_fraction,
        "zoo_test_fraction": args.zoo_test_fraction,
        "photo_list_sha256": hashlib.sha256(photo_list.encode()).hexdigest(),
    }
    if args.photos_are_train:  # only then: a default build's parameters (and resuming it) stay as they were
        params["photos_are_train"] = True
    if args.check_zoo is not None:
        problem = _check_zoo(args.check_zoo.resolve(), params, train, log)
        if problem:
            log(f"error: {problem}")
            return 2
    log(f"{len(train)} of {len(photos)} photos are the zoo's train split; "
        f"{args.classes} classes x ({n_train} train + {n_val} val) files of {args.size}x{args.size}")

    recipes = [Recipe.draw(args.seed, i) for i in range(args.classes)]
    items = [class_items(args.seed, i, train, n_train, n_val, args.size) for i in range(args.classes)]

    return zoo_build.run_locked(out, ".procedural.lock", log, lambda: _build(args, out, params, train, recipes, items, t_start, log))


def _build(args, out: Path, params: dict, train, recipes, items, t_start: float, log) -> int:
    meta_path = out / "procedural.json"
    classes_before = 0
    if meta_path.exists():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        diff = [k for k in params if old.get("params", {}).get(k) != params[k]]
        if diff:
            log(f"error: {out} was built with other parameters (different {', '.join(diff)}); "
                f"use another --out or delete it")
            return 2
        classes_before = len(old.get("classes", {}))
    from importlib.metadata import version

    import torch

    n_all = max(classes_before, args.classes)
    all_recipes = recipes + [Recipe.draw(args.seed, i) for i in range(len(recipes), n_all)]
    meta = {
        "params": params,
        "arguments": {"classes": n_all, "per_class": list(args.per_class), "seed": args.seed,
                      "photos": str(args.photos)},
        "what": "one class per random up-sampling network (no real class); a file is a real photo window "
                f"downscaled by the network's factor and up-sampled back to {args.size}x{args.size}; colours fitted "
                "per image by a least-squares affine colour map; see benchmarks/zoo/procedural.py",
        "photos": {"train_split_of_zoo": [p.name for p in train], "count": len(train)},
        "packages": {"torch": torch.__version__, "numpy": np.__version__, "pillow": version("pillow")},
        "png": {"mode": "RGB", "compress_level": 6, "optimize": False, "metadata": "none"},
        "classes": {class_name(r.index): r.describe(args.size) for r in all_recipes},
    }
    zoo_build._write_atomic(meta_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    rows = ["file\tsplit\tclass\tphoto\tleft\ttop\tsize\tfactor"]
    for r in all_recipes:
        its = items[r.index] if r.index < len(items) else class_items(args.seed, r.index, train, *args.per_class, args.size)
        for it in its:
            rows.append("\t".join(str(v) for v in (
                f"{it.split}/{class_name(r.index)}/{it.file}", it.split, class_name(r.index), it.photo,
                it.left, it.top, args.size, r.factor)))
    zoo_build._write_atomic(out / "procedural-manifest.tsv", "\n".join(rows) + "\n")

    for tmp in out.rglob(".*.tmp"):  # leftovers of a killed build (the lock says no one else writes here)
        tmp.unlink()
    splits = [s for s in SPLITS if (s == "train" or args.per_class[1] > 0)]
    pending, n_existing = [], 0
    for r, its in zip(recipes, items):
        for s in splits:
            (out / s / class_name(r.index)).mkdir(parents=True, exist_ok=True)
        todo = [it for it in its if not (out / it.split / class_name(r.index) / it.file).exists()]
        n_existing += len(its) - len(todo)
        if todo:
            pending.append((asdict(r), [asdict(it) for it in todo]))
    n_files = sum(len(e[1]) for e in pending)
    tasks = [(str(out), args.size, pending[i : i + args.chunk]) for i in range(0, len(pending), args.chunk)]
    log(f"{n_existing} files already there, {n_files} to write for {len(pending)} classes "
        f"in {len(tasks)} chunks of up to {args.chunk} classes, {args.jobs} process(es)")

    errors: list[str] = []
    t_gen = time.perf_counter()
    done_classes, done_files, cpu = 0, 0, 0.0
    if tasks:
        if args.jobs == 1:
            zg.configure_single_thread()
            results, pool = map(render_chunk, tasks), None
        else:
            # spawn: fresh interpreters, no thread-pool state inherited by fork.
            pool = mp.get_context("spawn").Pool(args.jobs, initializer=zg.configure_single_thread)
            results = pool.imap_unordered(render_chunk, tasks, chunksize=1)
        try:
            for n_cls, n_written, seconds, errs in results:
                done_classes += n_cls
                done_files += n_written
                cpu += seconds
                for e in errs:
                    log(f"  FAILED {e}")
                errors.extend(errs)
                el = time.perf_counter() - t_gen
                eta = el / done_classes * (len(pending) - done_classes)
                log(f"progress: {done_classes}/{len(pending)} classes ({100 * done_classes / len(pending):.1f}%), "
                    f"{done_files}/{n_files} files, elapsed {_fmt_time(el)}, eta {_fmt_time(eta)}")
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    elapsed = time.perf_counter() - t_start
    per_file = f", {cpu / done_files:.3f} s per file in the workers" if done_files else ""
    log(f"wrote {done_files} files in {_fmt_time(elapsed)} ({elapsed:.1f} s, {args.jobs} process(es){per_file}); "
        f"{n_existing} were already there")
    if errors:
        log(f"{len(errors)} file(s) FAILED (see above); rerun the same command to retry them")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
