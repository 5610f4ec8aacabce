"""The zoo's tiny latent autoencoders (benchmarks/zoo/zoo_taesd.py): all five TAESD pairs
reconstruct a real crop well, and weights whose SHA-256 does not match are refused.

Skipped when the weights folder (../shared/data/taesd beside the repository) is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "benchmarks" / "zoo"
TAESD_DIR = REPO.parent / "shared" / "data" / "taesd"
PHOTO = REPO.parent / "shared" / "data" / "photos" / "skimage_chelsea.jpg"

sys.path.insert(0, str(ZOO))
import zoo_taesd  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (TAESD_DIR / "SHA256SUMS").is_file(), reason=f"TAESD weights not found in {TAESD_DIR}"
)


def _crop() -> np.ndarray:
    """A 64x64 crop of a real photo, or a smooth synthetic image where the photos are absent."""
    if PHOTO.is_file():
        with Image.open(PHOTO) as im:
            a = np.asarray(im.convert("RGB"))
        top, left = (a.shape[0] - 64) // 2, (a.shape[1] - 64) // 2
        return np.ascontiguousarray(a[top : top + 64, left : left + 64])
    rng = np.random.RandomState(3)
    coarse = (rng.rand(5, 5, 3) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((64, 64), Image.BICUBIC))


@pytest.fixture(scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cls", list(zoo_taesd.PAIRS))
def test_reconstruction(cls, one_thread):
    x = _crop()
    ae = zoo_taesd.TinyAutoencoder(TAESD_DIR, cls)
    assert ae.latent_channels == {"taesd-sd1": 4, "taesd-sdxl": 4, "taesd-sd3": 16,
                                  "taesd-flux1": 16, "taesd-flux2": 32}[cls]
    y = ae.reconstruct(x)
    assert y.shape == x.shape and y.dtype == np.uint8
    assert zoo_taesd.psnr(x, y) > 20, f"{cls}: {zoo_taesd.psnr(x, y):.2f} dB"
    assert np.abs(y.astype(int) - x.astype(int)).mean() > 0.5  # a reconstruction, not a copy
    assert np.array_equal(ae.reconstruct(x), y)  # deterministic
    with pytest.raises(ValueError, match="multiples of 8"):
        ae.reconstruct(x[:60])


def test_flux2_has_the_residual_pool():
    ae = zoo_taesd.TinyAutoencoder(TAESD_DIR, "taesd-flux2")
    pooled = [i for i, m in enumerate(ae.encoder) if getattr(m, "pool", None) is not None]
    assert pooled == [11, 12, 13]  # the three encoder blocks nearest the latent
    pooled = [i for i, m in enumerate(ae.decoder) if getattr(m, "pool", None) is not None]
    assert pooled == [3, 4, 5]


def _copy_weights(dst: Path, names: list[str]) -> None:
    dst.mkdir()
    for n in names + [zoo_taesd.SUMS_FILE]:
        shutil.copy(TAESD_DIR / n, dst / n)


def test_mismatched_or_missing_weights_are_refused(tmp_path):
    names = zoo_taesd.weight_files("taesd-sd1")
    bad = tmp_path / "bad"
    _copy_weights(bad, names)
    data = bytearray((bad / names[1]).read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in a tensor: still loads, but is not the published file
    (bad / names[1]).write_bytes(bytes(data))
    with pytest.raises(zoo_taesd.WeightsError, match=r"SHA-256 mismatch for .*taesd_decoder\.safetensors"):
        zoo_taesd.TinyAutoencoder(bad, "taesd-sd1")
    with pytest.raises(zoo_taesd.WeightsError, match="taesd_decoder.safetensors"):
        zoo_taesd.verify(bad, ["taesd-sd1"])
    (bad / names[0]).unlink()
    with pytest.raises(zoo_taesd.WeightsError, match=r"taesd_encoder\.safetensors not found"):
        zoo_taesd.verify(bad, ["taesd-sd1"])

    # The builder stops before doing anything, with one line naming the file.
    res = subprocess.run(
        [sys.executable, str(ZOO / "build.py"), "--out", str(tmp_path / "zoo"), "--classes", "taesd-sd1",
         "--taesd-dir", str(bad), "--dry-run"],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "taesd_encoder.safetensors" in errors[0], res.stdout
    assert not (tmp_path / "zoo").exists()

    # SHA256SUMS itself edited to another digest: refused too.
    good = tmp_path / "good"
    _copy_weights(good, names)
    sums = (good / zoo_taesd.SUMS_FILE).read_text()
    digest = zoo_taesd.read_sums(good)[names[0]]
    (good / zoo_taesd.SUMS_FILE).write_text(sums.replace(digest, "0" * 64))
    with pytest.raises(zoo_taesd.WeightsError, match="taesd_encoder.safetensors"):
        zoo_taesd.verify(good, ["taesd-sd1"])


@pytest.mark.slow  # about 10 s: a subprocess that imports torch and encodes three 256x256 windows
def test_build_writes_taesd_class_and_psnr(tmp_path):
    """build.py end to end for one latent class: PNGs beside `real`, PSNR in zoo-build.json."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.RandomState(5)
    for i in range(3):
        coarse = (rng.rand(12, 12, 3) * 255).astype(np.uint8)
        img = np.asarray(Image.fromarray(coarse).resize((264, 264), Image.BICUBIC))
        Image.fromarray(img).save(photos / f"p{i}.png")
    out = tmp_path / "zoo"
    res = subprocess.run(
        [sys.executable, str(ZOO / "build.py"), "--out", str(out), "--photos", str(photos),
         "--windows-per-photo", "1", "--classes", "real,taesd-sd1", "--jobs", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "wrote 6 files" in res.stdout and "PSNR against the window" in res.stdout
    meta = json.loads((out / "zoo-build.json").read_text())
    st = meta["stats"]["taesd-sd1"]
    assert st["files"] == 3 and st["psnr_db_mean"] > 20
    assert set(meta["taesd_weights"]) == set(zoo_taesd.weight_files("taesd-sd1"))
    for f in out.glob("*/taesd-sd1/*.png"):
        with Image.open(f) as im, Image.open(f.parents[1] / "real" / f.name) as real:
            a, r = np.asarray(im), np.asarray(real)
            assert im.mode == "RGB" and im.size == (256, 256)
            assert zoo_taesd.psnr(r, a) > 20 and not np.array_equal(a, r)
