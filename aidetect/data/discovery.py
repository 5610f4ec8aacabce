"""Find the images of a dataset on disk and split them into train/val/test.

Three layouts are recognised (docs/data-layouts.md describes them in full):

- ``genimage``: the GenImage subsets (``imagenet_ai_0508_adm`` …), directly under
  the root or one level down, each with ``train/`` and ``val/`` holding ``ai/``
  and ``nature/``. GenImage's ``val/`` is our *test* split; our validation
  split is carved from ``train/``.
- ``forensynths``: CNNDetection's ``train/<lsun class>/{0_real,1_fake}``,
  ``val/...`` and ``test/<gen>/[<class>/]{0_real,1_fake}``.
- ``folders``: ``ROOT/<class>/...`` or ``ROOT/{train,val,test}/<class>/...``.

Every random choice (carving a split, downsampling ``real``, ``max_per_class``)
is made on *sorted* paths with a generator seeded from ``(seed, purpose, split,
class)``, so the result depends only on the files present and the seed: not on
the order the filesystem lists them in, nor on which other classes exist or
were filtered out. The generator is NumPy's legacy ``RandomState`` (Mersenne
Twister), whose stream NumPy keeps frozen across releases.

No image is opened and nothing is ``stat``-ed per file: a directory walk with
:func:`os.scandir` uses the file type the directory listing already gives.
This module imports no torch.
"""

from __future__ import annotations

import os
from collections import Counter
from itertools import repeat
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from aidetect.data.images import IMAGE_EXTENSIONS
from aidetect.data.sampling import sample_rows, seeded_rng
from aidetect.errors import AidetectError
from aidetect.labels import REAL
from aidetect.settings import PROGAN

__all__ = [
    "DataSplits",
    "GENIMAGE_SUBSETS",
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "SPLITS",
    "Sample",
    "detect_layout",
    "discover",
    "probe_classes",
]

LAYOUTS: tuple[str, ...] = ("auto", "genimage", "forensynths", "folders")
SPLITS: tuple[str, ...] = ("train", "val", "test")

# str.endswith wants a tuple; the set itself is defined once, in aidetect.data.images.
_SUFFIXES: tuple[str, ...] = tuple(sorted(IMAGE_EXTENSIONS))

# GenImage subset folder (lower-cased) -> canonical generator name (aidetect.settings).
GENIMAGE_SUBSETS: dict[str, str] = {
    "imagenet_ai_0508_adm": "adm",
    "imagenet_ai_0419_biggan": "biggan",
    "imagenet_glide": "glide",
    "imagenet_midjourney": "midjourney",
    "imagenet_ai_0419_sdv4": "sd14",
    "imagenet_ai_0424_sdv5": "sd15",
    "imagenet_ai_0419_vqdm": "vqdm",
    "imagenet_ai_0424_wukong": "wukong",
}

# The 20 LSUN/PASCAL classes of ForenSynths' train/ and val/. Used only to tell a
# user who points --data at ForenSynths/train (instead of its parent) what to do.
_LSUN_CLASSES = frozenset(
    "airplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse "
    "motorbike person pottedplant sheep sofa train tvmonitor".split()
)
_REAL_DIR, _FAKE_DIR = "0_real", "1_fake"

# Folders layout without split folders: this share of each class becomes test.
FOLDERS_TEST_FRACTION = 0.1
# How many entries of a root child to look at when searching it for a nested
# GenImage subset (nested parents such as ADM/ hold a handful of entries; a class
# folder of the folders layout may hold 100k files, which detection must not list).
_PROBE_ENTRIES = 1000


@dataclass(frozen=True)
class Sample:
    """One image file and its canonical class name."""

    path: str  # absolute or root-joined path string
    label: str  # canonical class name (lower case)


@dataclass
class DataSplits:
    """The samples of a dataset, split into train / val / test.

    ``options`` records the arguments of :func:`discover` and ``sources`` which
    folders the samples came from; both go into :meth:`summary`, which the model
    config stores so a run can be traced back to its data.
    """

    layout: str
    root: str
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    options: dict = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[Sample]:
        if name not in SPLITS:
            raise AidetectError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def classes(self) -> list[str]:
        """Sorted union of the labels over the three splits."""
        return sorted({s.label for name in SPLITS for s in getattr(self, name)})

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split: {class: n}}``, classes sorted; a split with no samples maps to ``{}``."""
        return {name: dict(sorted(Counter(s.label for s in getattr(self, name)).items())) for name in SPLITS}

    def summary(self) -> dict:
        """JSON-able description: layout, root, options (seed …), sources, counts."""
        return {
            "layout": self.layout,
            "root": self.root,
            "classes": self.classes(),
            "counts": self.counts(),
            **self.options,
            "sources": list(self.sources),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- walking


def _scan_images(top: str, visited: set[tuple[int, int]], out: list[str]) -> None:
    """Append to ``out`` the image files under ``top``, recursively.

    Hidden files and folders (name starting with ``.``) are skipped. Symlinked
    folders are followed, but each directory (by ``st_dev, st_ino``) is listed
    once per discovery, which stops symlink loops and double counting. Only
    directories are ``stat``-ed; files are classified from the listing's d_type.
    """
    exts = _SUFFIXES
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            st = os.stat(directory)
            key = (st.st_dev, st.st_ino)
            if key in visited:
                continue
            visited.add(key)
            with os.scandir(directory) as it:
                entries = [e for e in it if e.name[0] != "."]
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            # Unreadable or vanished folders (e.g. a dangling link) hold nothing usable.
            continue
        # Comprehensions keep the per-file work in C calls: the cached d_type
        # (no stat unless the entry is a symlink), then the lower-cased suffix test.
        out.extend([e.path for e in entries if e.is_file() and e.name.lower().endswith(exts)])
        stack.extend([e.path for e in entries if e.is_dir()])


def _subdir_list(directory: str, limit: int | None = None) -> list[tuple[str, str]]:
    """Non-hidden child folders of ``directory`` as sorted ``(lower-cased name, path)`` pairs.

    With ``limit``, stop after that many entries (for cheap probing). Missing or
    unreadable folders give ``[]``.
    """
    found: list[tuple[str, str]] = []
    try:
        with os.scandir(directory) as it:
            for n, entry in enumerate(it):
                if limit is not None and n >= limit:
                    break
                if entry.name[0] != "." and entry.is_dir():
                    found.append((entry.name.lower(), entry.path))
    except OSError:
        return []
    return sorted(found)


def _subdirs(directory: str, limit: int | None = None) -> dict[str, str]:
    """Like :func:`_subdir_list` as ``{lower-cased name: path}``; of names differing only in case, the first sorted wins."""
    found: dict[str, str] = {}
    for name, path in _subdir_list(directory, limit):
        found.setdefault(name, path)
    return found


def _has_image_files(directory: str) -> bool:
    try:
        with os.scandir(directory) as it:
            return any(e.name[0] != "." and e.name.lower().endswith(_SUFFIXES) and e.is_file() for e in it)
    except OSError:
        return False


# --------------------------------------------------------------------------- seeded choices


def _n_of(n: int, fraction: float) -> int:
    """How many of ``n`` items make ``fraction`` of them: round half up."""
    return int(n * fraction + 0.5)


def _carve(paths: list[str], fractions: Sequence[float], seed: int, purpose: str, label: str) -> list[list[str]]:
    """Split ``paths`` (sorted) into ``len(fractions) + 1`` sorted parts.

    Part ``i`` gets ``round(n * fractions[i])`` items (half up); the last part
    gets the rest. The draw is a seeded permutation of the sorted paths.
    """
    n = len(paths)
    sizes = [_n_of(n, f) for f in fractions]
    if sum(sizes) > n:  # only possible with fractions summing to > 1
        raise AidetectError(f"split fractions {list(fractions)} take more than all the images; use fractions below 1")
    order = seeded_rng(seed, purpose, label).permutation(n) if n else np.empty(0, dtype=np.int64)
    bounds = np.cumsum([0, *sizes, n - sum(sizes)])
    # Sorting indices into a sorted list keeps each part sorted without comparing strings.
    return [_take(paths, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _take(paths: list[str], indices: np.ndarray) -> list[str]:
    return [paths[i] for i in np.sort(indices).tolist()]


def _sample(paths: list[str], k: int, seed: int, purpose: str, split: str, label: str) -> list[str]:
    """A seeded sample of ``k`` of ``paths`` (sorted; all of them when ``k >= len``), sorted."""
    if k >= len(paths):
        return paths
    return _take(paths, sample_rows(len(paths), k, seed, purpose, split, label))


# --------------------------------------------------------------------------- layout detection


def _genimage_subsets(root: str) -> list[tuple[str, str]]:
    """``(generator, subset folder)`` pairs under ``root``, directly or one level down.

    ``root`` itself may be a single subset folder. A subset folder that holds
    neither ``train/`` nor ``val/`` but a same-named folder (a zip extracted
    into a folder of its own name) is replaced by that inner folder.
    """
    found: list[tuple[str, str]] = []
    base = os.path.basename(os.path.normpath(root)).lower()
    if base in GENIMAGE_SUBSETS:
        found.append((GENIMAGE_SUBSETS[base], root))
    else:
        children = _subdirs(root)
        for name, path in sorted(children.items()):
            if name in GENIMAGE_SUBSETS:
                found.append((GENIMAGE_SUBSETS[name], path))
        for name, path in sorted(children.items()):
            if name in GENIMAGE_SUBSETS:
                continue
            for inner_name, inner in sorted(_subdirs(path, limit=_PROBE_ENTRIES).items()):
                if inner_name in GENIMAGE_SUBSETS:
                    found.append((GENIMAGE_SUBSETS[inner_name], inner))
    resolved = []
    for label, path in found:
        kids = _subdirs(path, limit=_PROBE_ENTRIES)
        if "train" not in kids and "val" not in kids:
            same = kids.get(os.path.basename(path).lower())
            if same is not None:
                path = same
        resolved.append((label, path))
    return resolved


def _real_fake_dirs(directory: str, max_depth: int, limit: int | None = _PROBE_ENTRIES) -> list[tuple[str, str]]:
    """``(relative parent, 0_real|1_fake folder)`` pairs at most ``max_depth`` levels below ``directory``.

    ``limit`` bounds each listing (see :func:`_subdirs`) so that probing a class
    folder full of images stays cheap; collection passes None.
    """
    out: list[tuple[str, str]] = []
    frontier = [("", directory)]
    for _ in range(max_depth):
        nxt = []
        for rel, path in frontier:
            for name, child in _subdir_list(path, limit):
                if name in (_REAL_DIR, _FAKE_DIR):
                    out.append((rel, child))
                else:
                    nxt.append((f"{rel}/{name}" if rel else name, child))
        frontier = nxt
    return out


def _forensynths_split_dirs(root: str) -> dict[str, str]:
    """ForenSynths split folders of ``root`` that hold ``0_real``/``1_fake`` folders."""
    kids = _subdirs(root)
    found = {}
    for split in SPLITS:
        path = kids.get(split)
        if path is None:
            continue
        depth = 3 if split == "test" else 2
        if _real_fake_dirs(path, depth):
            found[split] = path
    return found


def _is_forensynths_testset(root: str) -> bool:
    """``root/<gen>/[<class>/]{0_real,1_fake}`` without train/ or val/: a stand-alone test set."""
    kids = _subdirs(root)
    return bool(kids) and any(_real_fake_dirs(path, 2) for path in kids.values())


def _folder_split_dirs(root: str) -> dict[str, str]:
    kids = _subdirs(root)
    return {split: kids[split] for split in SPLITS if split in kids and _subdirs(kids[split])}


def _check_root(root: str | os.PathLike) -> str:
    path = os.path.abspath(os.fspath(root))
    if not os.path.exists(path):
        raise AidetectError(f"data root {path} does not exist; pass --data the folder that holds your images")
    if not os.path.isdir(path):
        raise AidetectError(f"data root {path} is a file, not a folder; pass --data the folder that holds your images")
    return path


def _detect(path: str) -> str:
    if _genimage_subsets(path):
        return "genimage"
    if _forensynths_split_dirs(path):
        return "forensynths"
    kids = _subdirs(path)
    if kids and set(kids) <= _LSUN_CLASSES and any(_real_fake_dirs(p, 1) for p in kids.values()):
        raise AidetectError(
            f"{path} looks like one split of ForenSynths (LSUN class folders holding 0_real/1_fake); "
            f"pass --data its parent folder, which holds train/, val/ and test/"
        )
    if _is_forensynths_testset(path):
        return "forensynths"
    if kids:
        return "folders"
    if _has_image_files(path):
        raise AidetectError(
            f"{path} holds images but no class folders; move them into {path}/<class>/ "
            f"(or {path}/train/<class>/ …) so each image has a label"
        )
    raise AidetectError(
        f"{path} holds no recognisable dataset; expected GenImage subset folders (imagenet_ai_0508_adm/ …), "
        f"ForenSynths train/<class>/{{0_real,1_fake}}/, or class folders <class>/ with images"
    )


def detect_layout(root: str | os.PathLike) -> str:
    """The layout of the dataset under ``root``: ``genimage``, ``forensynths`` or ``folders``.

    Tried in that order: GenImage subset folders (directly under ``root`` or one
    level down, or ``root`` itself a subset); ForenSynths split folders holding
    ``0_real``/``1_fake`` (or a stand-alone ForenSynths test set
    ``root/<gen>/[<class>/]{0_real,1_fake}``); otherwise any class folders.
    Raises :class:`AidetectError` when nothing matches.
    """
    return _detect(_check_root(root))


def probe_classes(root: str | os.PathLike, layout: str = "auto") -> tuple[str, list[str]]:
    """The layout under ``root`` and the classes its folders name, without listing a single image.

    For checks before any work (does the data hold the generators a setting trains on?):
    the folders are those :func:`discover` reads and are labelled as it labels them, but
    a class whose folders hold no image is still named here; :func:`discover` has the
    last word. Raises like :func:`discover` for a missing root or an unrecognised layout.
    """
    if layout not in LAYOUTS:
        raise AidetectError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    path = _check_root(root)
    chosen = _detect(path) if layout == "auto" else layout
    classes: set[str] = set()
    if chosen == "genimage":
        subsets = _genimage_subsets(path)
        if not subsets:
            raise _not_genimage(path)
        for label, subset in subsets:
            kids = _subdirs(subset)
            for split in ("train", "val"):
                parts = _subdirs(kids[split]) if split in kids else {}
                classes.update(cls for folder, cls in (("ai", label), ("nature", REAL)) if folder in parts)
    elif chosen == "forensynths":
        split_dirs = _forensynths_split_dirs(path) or ({"test": path} if _is_forensynths_testset(path) else {})
        if not split_dirs:
            raise _not_forensynths(path)
        for split, split_dir in split_dirs.items():
            for rel, folder in _real_fake_dirs(split_dir, 3 if split == "test" else 2, limit=None):
                if os.path.basename(folder).lower() == _REAL_DIR:
                    classes.add(REAL)
                else:
                    classes.add(rel.split("/")[0] if split == "test" and rel else PROGAN)
    else:
        split_dirs = _folder_split_dirs(path)
        for directory in split_dirs.values() if split_dirs else [path]:
            classes.update(name for name, _ in _subdir_list(directory))
    return chosen, sorted(classes)


# --------------------------------------------------------------------------- per-layout collection


def _not_genimage(root: str) -> AidetectError:
    return AidetectError(
        f"{root} does not look like GenImage: expected subset folders such as imagenet_ai_0508_adm/ "
        f"(directly under it or one level down) holding train/ and val/; check --data or use --layout auto"
    )


def _not_forensynths(root: str) -> AidetectError:
    return AidetectError(
        f"{root} does not look like ForenSynths: expected train/<class>/{{0_real,1_fake}}/ "
        f"(and val/, test/<gen>/[<class>/]{{0_real,1_fake}}/); check --data or use --layout auto"
    )

# A collection is {split: {label: [paths]}} plus the source folders and notes.
_Collected = dict[str, dict[str, list[str]]]


def _wanted(label: str, keep: frozenset[str] | None) -> bool:
    return keep is None or label in keep


def _collect_genimage(root: str, keep, visited) -> tuple[_Collected, list[str], list[str]]:
    subsets = _genimage_subsets(root)
    if not subsets:
        raise _not_genimage(root)
    # GenImage's val/ is our test split; our val is carved from its train/ later.
    raw: _Collected = {"train": {}, "test": {}}
    sources = []
    for label, subset in subsets:
        sources.append(os.path.relpath(subset, root))
        kids = _subdirs(subset)
        for their_split, our_split in (("train", "train"), ("val", "test")):
            split_dir = kids.get(their_split)
            if split_dir is None:
                continue
            parts = _subdirs(split_dir)
            for folder, cls in (("ai", label), ("nature", REAL)):
                if folder in parts and _wanted(cls, keep):
                    _scan_images(parts[folder], visited, raw[our_split].setdefault(cls, []))
    return raw, sources, []


def _collect_forensynths(root: str, keep, visited) -> tuple[_Collected, list[str], list[str]]:
    split_dirs = _forensynths_split_dirs(root)
    notes = []
    if not split_dirs:
        if _is_forensynths_testset(root):
            split_dirs = {"test": root}
            notes.append("stand-alone ForenSynths test set: no train or val split")
        else:
            raise _not_forensynths(root)
    raw: _Collected = {}
    sources = []
    for split, split_dir in split_dirs.items():
        raw[split] = {}
        depth = 3 if split == "test" else 2
        for rel, folder in _real_fake_dirs(split_dir, depth, limit=None):
            if os.path.basename(folder).lower() == _REAL_DIR:
                label = REAL
            elif split == "test":
                # test/<gen>/[<class>/]1_fake: the generator is the first folder under test/.
                label = rel.split("/")[0] if rel else PROGAN
            else:
                label = PROGAN
            if _wanted(label, keep):
                sources.append(os.path.relpath(folder, root))
                _scan_images(folder, visited, raw[split].setdefault(label, []))
    return raw, sources, notes


def _collect_class_dirs(directory: str, keep, visited) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    # Folders whose names differ only in case ("Real", "real") make one class.
    for name, path in _subdir_list(directory):
        if _wanted(name, keep):
            _scan_images(path, visited, out.setdefault(name, []))
    return out


def _collect_folders(root: str, keep, visited) -> tuple[_Collected, list[str], list[str]]:
    split_dirs = _folder_split_dirs(root)
    if split_dirs:
        raw = {split: _collect_class_dirs(path, keep, visited) for split, path in split_dirs.items()}
        return raw, [os.path.relpath(p, root) for p in split_dirs.values()], []
    if not _subdirs(root):
        raise AidetectError(
            f"{root} has no class folders; expected {root}/<class>/ (or {root}/train/<class>/ …) holding the images"
        )
    return {"all": _collect_class_dirs(root, keep, visited)}, ["."], []


# --------------------------------------------------------------------------- discover


def _check_args(layout: str, seed, val_fraction: float, test_fraction: float, max_per_class) -> None:
    if layout not in LAYOUTS:
        raise AidetectError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AidetectError(f"seed must be a non-negative integer, got {seed!r}")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= float(value) < 1.0:
            raise AidetectError(f"{name} must be in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1.0:
        raise AidetectError(f"val_fraction + test_fraction must stay below 1, got {val_fraction + test_fraction}")
    if max_per_class is not None and (not isinstance(max_per_class, (int, np.integer)) or isinstance(max_per_class, bool) or max_per_class < 1):
        raise AidetectError(f"max_per_class must be a positive integer or None, got {max_per_class!r}")


def discover(
    root: str | os.PathLike,
    layout: str = "auto",
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    max_per_class: int | None = None,
    classes: Iterable[str] | None = None,
    balance_real: bool = True,
    test_fraction: float = FOLDERS_TEST_FRACTION,
) -> DataSplits:
    """Find the labelled images under ``root`` and split them into train/val/test.

    ``layout``: one of :data:`LAYOUTS` (``auto`` detects it). ``seed`` drives
    every random choice. ``val_fraction``: share of each class carved from
    train when the data has no validation split of its own (always for
    GenImage). ``test_fraction``: share of each class carved as test, only for
    ``ROOT/<class>/`` folders without split folders. ``classes``: keep only
    these labels (None: all); a name absent from the data is an error.
    ``balance_real`` (GenImage and ForenSynths only): in each split, ``real``
    keeps at most as many images as the largest generator class of that split.
    ``max_per_class``: at most this many images per class and split (seeded),
    applied last, for quick runs.

    Raises :class:`AidetectError` for a missing root, an unrecognised or
    mismatched layout, unknown ``classes`` or a dataset with no images.
    """
    _check_args(layout, seed, val_fraction, test_fraction, max_per_class)
    path = _check_root(root)
    chosen = _detect(path) if layout == "auto" else layout
    if isinstance(classes, str):
        classes = [classes]
    keep = None if classes is None else frozenset(str(c).lower() for c in classes)
    visited: set[tuple[int, int]] = set()
    collect = {"genimage": _collect_genimage, "forensynths": _collect_forensynths, "folders": _collect_folders}[chosen]
    raw, sources, notes = collect(path, keep, visited)

    for by_label in raw.values():
        for paths in by_label.values():
            paths.sort()  # every seeded choice below starts from sorted paths
    splits: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    if "all" in raw:  # ROOT/<class>/ without split folders: carve test and val from each class
        for label, paths in raw["all"].items():
            test, val, train = _carve(paths, (test_fraction, val_fraction), seed, "folders-carve", label)
            splits["train"][label], splits["val"][label], splits["test"][label] = train, val, test
        notes.append(f"no split folders: test and val carved per class ({test_fraction:g} and {val_fraction:g})")
    else:
        for split, by_label in raw.items():
            splits[split] = dict(by_label)
        if "val" not in raw and any(splits.get("train", {}).values()):
            for label, paths in list(splits["train"].items()):
                val, train = _carve(paths, (val_fraction,), seed, "val-carve", label)
                splits["train"][label], splits["val"][label] = train, val
            notes.append(f"val carved from train ({val_fraction:g} per class)")

    for split in SPLITS:  # drop empty classes so classes() lists only labels with images
        splits[split] = {label: paths for label, paths in splits[split].items() if paths}

    found = {label for by_label in splits.values() for label in by_label}
    if not found:
        what = f"of the classes {', '.join(sorted(keep))} " if keep is not None else ""
        raise AidetectError(
            f"found no image files {what}under {path} (layout {chosen}; extensions {' '.join(_SUFFIXES)}); "
            f"check --data and --layout"
        )
    if keep is not None and keep - found:
        raise AidetectError(
            f"classes {', '.join(sorted(keep - found))} are not in the data under {path} "
            f"(found: {', '.join(sorted(found))}); check the class names"
        )

    if balance_real and chosen in ("genimage", "forensynths"):
        for split in SPLITS:
            by_label = splits[split]
            generators = [len(p) for label, p in by_label.items() if label != REAL]
            if REAL in by_label and generators and len(by_label[REAL]) > max(generators):
                by_label[REAL] = _sample(by_label[REAL], max(generators), seed, "balance-real", split, REAL)

    if max_per_class is not None:
        cap = int(max_per_class)
        for split in SPLITS:
            for label in splits[split]:
                splits[split][label] = _sample(splits[split][label], cap, seed, "max-per-class", split, label)

    result: dict[str, list[Sample]] = {split: [] for split in SPLITS}
    for split in SPLITS:
        for label in sorted(splits[split]):
            result[split].extend(map(Sample, splits[split][label], repeat(label)))
    options = {
        "seed": int(seed),
        "val_fraction": float(val_fraction),
        "test_fraction": float(test_fraction) if "all" in raw else None,
        "max_per_class": None if max_per_class is None else int(max_per_class),
        "classes_filter": None if keep is None else sorted(keep),
        "balance_real": bool(balance_real),
        "layout_requested": layout,
    }
    return DataSplits(chosen, path, result["train"], result["val"], result["test"], options, sorted(sources), notes)
