"""The perturbed latent-decoder family (benchmarks/zoo/decoder_family.py): each class is a
different decoder, none is the unperturbed one, files keep their window's name, a rerun
writes nothing, and other arguments in the same folder are refused.

Skipped when the TAESD weights (../shared/data/taesd beside the repository) are absent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TAESD_DIR = REPO.parent / "shared" / "data" / "taesd"
sys.path.insert(0, str(REPO / "benchmarks" / "zoo"))

pytestmark = pytest.mark.skipif(not (TAESD_DIR / "SHA256SUMS").is_file(), reason=f"TAESD weights not found in {TAESD_DIR}")


def _tiny_zoo(root: Path) -> None:
    rng = np.random.RandomState(0)
    for split, n in (("train", 3), ("val", 2)):
        for name in ("real", "bicubic"):
            (root / split / name).mkdir(parents=True)
        for i in range(n):
            coarse = (rng.rand(6, 6, 3) * 255).astype(np.uint8)
            image = Image.fromarray(coarse).resize((64, 64), Image.BICUBIC)
            image.save(root / split / "real" / f"photo{i}_w0.png")
            image.save(root / split / "bicubic" / f"photo{i}_w0.png")


@pytest.fixture
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_variants_are_distinct_decoders_and_the_build_resumes(tmp_path, capsys, one_thread):
    import decoder_family
    import zoo_taesd

    zoo, out = tmp_path / "zoo", tmp_path / "family"
    _tiny_zoo(zoo)
    args = ["--zoo", str(zoo), "--out", str(out), "--decoders", "taesd-sd1", "--variants", "2",
            "--per-class", "2", "1", "--taesd-dir", str(TAESD_DIR), "--link-zoo"]
    assert decoder_family.main(args) == 0

    params = json.loads((out / "decoder-family.json").read_text())
    assert sorted(params["classes"]) == ["dec-sd1-v0", "dec-sd1-v1"]
    assert [params["classes"][c]["sigma"] for c in ("dec-sd1-v0", "dec-sd1-v1")] == [0.05, 0.1]
    for split, n in (("train", 2), ("val", 1)):
        for cls in params["classes"]:
            files = sorted((out / split / cls).glob("*.png"))
            assert len(files) == n and all((zoo / split / "real" / f.name).is_file() for f in files)
        # the zoo's own classes are linked beside the family, not copied
        assert (out / split / "real").is_symlink() and (out / split / "bicubic").is_symlink()

    # one window decoded by both variants and by the unperturbed decoder: three different images
    # (each variant takes 2 of the 3 train windows, so they share at least one)
    common = {f.name for f in (out / "train" / "dec-sd1-v0").glob("*.png")} & {f.name for f in (out / "train" / "dec-sd1-v1").glob("*.png")}
    name = sorted(common)[0]
    real = np.asarray(Image.open(zoo / "train" / "real" / name).convert("RGB"))
    plain = zoo_taesd.TinyAutoencoder(TAESD_DIR, "taesd-sd1").reconstruct(real)
    v0 = np.asarray(Image.open(out / "train" / "dec-sd1-v0" / name).convert("RGB"))
    assert not np.array_equal(v0, plain)
    assert zoo_taesd.psnr(v0, plain) > 25  # a small perturbation: still the decoder's reconstruction of this window
    assert not np.array_equal(v0, np.asarray(Image.open(out / "train" / "dec-sd1-v1" / name).convert("RGB")))

    before = {p: p.stat().st_mtime_ns for p in out.rglob("dec-*/*.png")}
    capsys.readouterr()
    assert decoder_family.main(args) == 0  # a rerun finds every file and writes none
    assert "wrote 0 files (6 already there)" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("dec-*/*.png")} == before

    with pytest.raises(SystemExit, match="other arguments"):
        decoder_family.main([a if a != "2" else "3" for a in args])

    # --check: what yardsticks.sh asks before it trains on a family
    assert decoder_family.check(out, zoo, ["taesd-sd3", "taesd-flux2"]) is None
    assert "leaves out" in decoder_family.check(out, zoo, ["taesd-sd1"])
    other = tmp_path / "other-zoo"
    _tiny_zoo(other)
    (other / "val" / "real" / "photo9_w0.png").write_bytes((zoo / "val" / "real" / "photo0_w0.png").read_bytes())
    assert "not from this zoo" in decoder_family.check(out, other, [])
    assert decoder_family.main(["--check", "--zoo", str(zoo), "--out", str(out), "--left-out", "taesd-sd1"]) == 2
    unlinked = tmp_path / "unlinked"
    assert decoder_family.main(args[:3] + [str(unlinked)] + args[4:-1]) == 0
    assert "not linked" in decoder_family.check(unlinked, zoo, [])
    params = json.loads((unlinked / "decoder-family.json").read_text())
    params["complete"] = False  # as a build stopped half-way leaves it
    (unlinked / "decoder-family.json").write_text(json.dumps(params))
    assert "not complete" in decoder_family.check(unlinked, zoo, [])
