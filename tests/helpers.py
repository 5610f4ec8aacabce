"""Helpers shared by tests: tiny on-disk datasets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from aidetect.settings import GENIMAGE_GENERATORS, REAL

# Canonical generator -> (GenImage subset folder, the parent folder GenImage's
# downloads put it in when the subsets sit one level down).
GENIMAGE_FOLDERS: dict[str, tuple[str, str]] = {
    "adm": ("imagenet_ai_0508_adm", "ADM"),
    "biggan": ("imagenet_ai_0419_biggan", "BigGAN"),
    "glide": ("imagenet_glide", "glide"),
    "midjourney": ("imagenet_midjourney", "Midjourney"),
    "sd14": ("imagenet_ai_0419_sdv4", "stable_diffusion_v_1_4"),
    "sd15": ("imagenet_ai_0424_sdv5", "stable_diffusion_v_1_5"),
    "vqdm": ("imagenet_ai_0419_vqdm", "VQDM"),
    "wukong": ("imagenet_ai_0424_wukong", "wukong"),
}

ImageWriter = Callable[[Path, str, int], None]


def _empty_file(path: Path, label: str, index: int) -> None:
    path.touch()


def make_genimage_tree(
    root: str | os.PathLike,
    n_train: int = 10,
    n_val: int = 4,
    nested: bool = False,
    image_writer: ImageWriter | None = None,
    generators: Iterable[str] = GENIMAGE_GENERATORS,
    n_real_train: int | None = None,
    n_real_val: int | None = None,
) -> Path:
    """Build a tiny GenImage tree under ``root`` and return ``root``.

    For each generator: ``<subset>/{train,val}/{ai,nature}/`` (``nested``: inside
    GenImage's parent folder, e.g. ``ADM/imagenet_ai_0508_adm/``) with
    ``n_train``/``n_val`` ``ai`` images and ``n_real_train``/``n_real_val``
    (default: the same numbers) ``nature`` images. ``ai`` files are named
    ``<gen>_<split>_<i>.png`` and ``nature`` files ``n01440764_<gen>_<split>_<i>.JPEG``, as in
    GenImage (upper-case extension included). ``image_writer(path, label,
    index)`` writes each file, ``label`` being the canonical class (``real`` for
    ``nature``) and ``index`` a counter per label over the whole tree; the
    default writes empty files.
    """
    root = Path(root)
    write = image_writer or _empty_file
    n_real_train = n_train if n_real_train is None else n_real_train
    n_real_val = n_val if n_real_val is None else n_real_val
    counters: dict[str, int] = {}
    for gen in generators:
        subset, parent = GENIMAGE_FOLDERS[gen]
        base = root / parent / subset if nested else root / subset
        for split, n_ai, n_real in (("train", n_train, n_real_train), ("val", n_val, n_real_val)):
            for folder, label, count, pattern in (
                ("ai", gen, n_ai, f"{gen}_{split}_{{i:04d}}.png"),
                ("nature", REAL, n_real, f"n01440764_{gen}_{split}_{{i:04d}}.JPEG"),
            ):
                directory = base / split / folder
                directory.mkdir(parents=True, exist_ok=True)
                for i in range(count):
                    index = counters.get(label, 0)
                    counters[label] = index + 1
                    write(directory / pattern.format(i=i), label, index)
    return root


def load_script(relative_path: str, name: str):
    """A script of the repository (e.g. ``benchmarks/zoo/export.py``) imported as module ``name``.

    Loaded by path (benchmarks/ is not a package) and kept in sys.modules, so a second call gives
    the same module and pickling its classes (multiprocessing) finds them.
    """
    import importlib.util
    import sys

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def train_tiny_cli(args: list[str]):
    """``aidetect train`` with the tiny encoder on 32-px images, small batches, CPU (the CLI's result)."""
    from typer.testing import CliRunner

    from aidetect.cli.main import app

    return CliRunner().invoke(app, ["train", "--arch", "tiny", "--image-size", "32", "--batch-size", "16", "--workers", "0",
                                    "--gallery-per-class", "10", "--device", "cpu", *args])


def assert_attributes_folder(model: Path, folder: Path, label: str, count: int) -> None:
    """``aidetect attribute --json`` on ``folder``: ``count`` records, none failed, most named ``label``."""
    import json

    import numpy as np
    from typer.testing import CliRunner

    from aidetect.cli.main import app

    records = json.loads(CliRunner().invoke(app, ["attribute", "--model", str(model), "--json", str(folder)]).stdout)
    assert len(records) == count and all(r["error"] is None for r in records)
    assert np.mean([r["label"] == label for r in records]) > 0.5
