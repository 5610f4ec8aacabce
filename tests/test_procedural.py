"""benchmarks/zoo/procedural.py: random up-sampling networks as pre-training classes (issue #17, lever 2).

Tiny synthetic photo folders in tmp_path (no dependence on shared/data), 3 classes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aidetect.data.discovery import detect_layout, discover
from helpers import load_script


def _load():
    return load_script("benchmarks/zoo/procedural.py", "procedural_under_test")


P = _load()


def _write_photos(folder: Path) -> None:
    """Eight distinct JPEG 'photos' >= 256 px, one identical copy and one too small (both left out by the zoo)."""
    folder.mkdir()
    rng = np.random.RandomState(11)
    for i in range(8):
        w, h = 260 + 17 * i, 300 - 5 * i
        coarse = rng.rand(h // 16 + 1, w // 16 + 1, 3)
        field = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), float)
        img = np.clip(field + rng.randn(h, w, 3) * 12, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"photo{i}.jpg", quality=90)
    shutil.copy(folder / "photo0.jpg", folder / "photo9_copy.jpg")
    Image.fromarray(np.zeros((200, 300, 3), np.uint8)).save(folder / "small.jpg")


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def _build(out: Path, photos: Path, *extra: str) -> int:
    return P.main(["--out", str(out), "--photos", str(photos), "--classes", "3", "--per-class", "2", "1", *extra])


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("procedural")
    photos = base / "photos"
    _write_photos(photos)
    out = base / "tree"
    assert _build(out, photos) == 0
    return photos, out


def _window(seed: int = 3) -> np.ndarray:
    rng = np.random.RandomState(seed)
    coarse = rng.rand(9, 9, 3)
    field = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((P.SIZE, P.SIZE), Image.BICUBIC), float)
    return np.clip(field + rng.randn(P.SIZE, P.SIZE, 3) * 10, 0, 255).astype(np.uint8)


def test_two_seeds_give_different_networks_and_outputs():
    window = _window()
    a, b = P.Recipe.draw(0, 0), P.Recipe.draw(1, 0)
    assert a.describe() != b.describe()
    out_a = P.render(P.build_network(a), a, window)
    out_b = P.render(P.build_network(b), b, window)
    assert not np.array_equal(out_a, out_b)
    # Two classes of one seed differ too; every recipe is a valid draw.
    assert P.Recipe.draw(0, 1).describe() != a.describe()
    for i in range(50):
        r = P.Recipe.draw(0, i)
        assert 1 <= len(r.stages) <= 3 and r.factor in (2, 4, 8)
        assert all(kind in P.UP_KINDS and k in P.KERNELS for kind, k in r.stages)
        assert r.activation in P.ACTIVATIONS and r.norm in P.NORMS


def test_same_seed_same_network_same_pixels():
    window = _window()
    r = P.Recipe.draw(5, 7)
    assert r == P.Recipe.draw(5, 7)
    assert np.array_equal(P.render(P.build_network(r), r, window), P.render(P.build_network(r), r, window))


def test_output_shape_and_range_for_every_kind_of_stage():
    window = _window()
    seen = set()
    for i in range(40):
        r = P.Recipe.draw(0, i)
        seen |= {kind for kind, _ in r.stages}
        y = P.render(P.build_network(r), r, window)
        assert y.shape == (P.SIZE, P.SIZE, 3) and y.dtype == np.uint8
        assert y.std() > 0  # not a flat image
    assert seen == set(P.UP_KINDS)
    with pytest.raises(ValueError):
        P.render(P.build_network(r), r, window[:64])


def test_photos_are_exactly_the_zoo_train_split(tree):
    photos, out = tree
    zb = P.zoo_build
    # build.py's own functions, called directly, with its defaults.
    ref, _, _ = zb.scan_photos(photos, P.zg.WINDOW, lambda m: None)
    zb.assign_splits(ref, 0, 0.15, 0.15)
    zoo_train = {p.name for p in ref if p.split == "train"}
    held_out = {p.name for p in ref if p.split != "train"}
    assert zoo_train and held_out and "small.jpg" not in zoo_train and "photo9_copy.jpg" not in zoo_train

    train, _ = P.train_photos(photos, 0, 0.15, 0.15)
    assert {p.name for p in train} == zoo_train
    meta = json.loads((out / "procedural.json").read_text())
    assert set(meta["photos"]["train_split_of_zoo"]) == zoo_train
    rows = [ln.split("\t") for ln in (out / "procedural-manifest.tsv").read_text().splitlines()[1:]]
    used = {r[3] for r in rows}
    assert used <= zoo_train and not used & held_out
    # Val windows are other windows than the train windows of their class.
    for c in {r[2] for r in rows}:
        boxes = {(r[1], r[3], r[4], r[5]) for r in rows if r[2] == c}
        assert len({b[1:] for b in boxes}) == len(boxes)


def test_tree_is_a_folders_dataset_for_aidetect(tree):
    _, out = tree
    assert detect_layout(out) == "folders"
    data = discover(out)
    names = [P.class_name(i) for i in range(3)]
    assert data.classes() == names and "real" not in data.classes()
    for split, n in (("train", 2), ("val", 1), ("test", 0)):
        got = data.split(split)
        assert sorted({s.label for s in got}) == (names if n else [])
        assert all(sum(s.label == c for s in got) == n for c in names)
    meta = json.loads((out / "procedural.json").read_text())
    assert sorted(meta["classes"]) == names and all("weights seed" in v for v in meta["classes"].values())
    for s in data.train[:2]:
        with Image.open(s.path) as im:
            assert im.mode == "RGB" and im.size == (P.SIZE, P.SIZE)
        raw, chunks, i = Path(s.path).read_bytes(), [], 8
        while i < len(raw):
            (n,) = struct.unpack(">I", raw[i : i + 4])
            chunks.append(raw[i + 4 : i + 8])
            i += 12 + n
        assert chunks == [b"IHDR", b"IDAT", b"IEND"]


def test_rebuild_is_byte_identical_and_resumes(tree, tmp_path, capsys):
    photos, out = tree
    again = tmp_path / "again"
    assert _build(again, photos) == 0
    assert _hashes(again) == _hashes(out)
    victim = next((again / "train" / P.class_name(1)).iterdir())
    victim.unlink()
    capsys.readouterr()
    assert _build(again, photos) == 0
    assert "wrote 1 files" in capsys.readouterr().out
    assert _hashes(again) == _hashes(out)
    # Another seed into the same folder is refused; nothing is written.
    assert _build(again, photos, "--seed", "1") == 2
    assert _hashes(again) == _hashes(out)


def test_bad_arguments_touch_no_file(tmp_path):
    for bad in (["--classes", "0"], ["--per-class", "0"], ["--per-class", "1", "2", "3"], ["--jobs", "0"]):
        with pytest.raises(SystemExit):
            P.main(["--out", str(tmp_path / "x"), "--photos", str(tmp_path / "none"), *bad])
    assert not (tmp_path / "x").exists()


def test_photos_are_train_takes_a_staged_folder_whole(tree, tmp_path):
    """--photos-are-train (benchmarks/gpu/stage_procedural.py's half-resolution folder): every photo
    is used, none split off; without it the same folder is scanned as the zoo's (nothing left)."""
    photos, out = tree
    train, _ = P.train_photos(photos, 0, 0.15, 0.15)
    staged = tmp_path / "staged"
    staged.mkdir()
    for p in train:
        with Image.open(p.path) as im:
            im.convert("RGB").resize((im.width // 2, im.height // 2), Image.BICUBIC).save(staged / f"{Path(p.name).stem}.png")
    names = {f"{Path(p.name).stem}.png" for p in train}
    assert all(130 <= min(Image.open(staged / n).size) < 256 for n in names)
    assert _build(tmp_path / "default", staged) == 2  # default: all under the zoo's 256-px window
    assert _build(tmp_path / "pre", staged, "--photos-are-train") == 0
    meta = json.loads((tmp_path / "pre" / "procedural.json").read_text())
    assert set(meta["photos"]["train_split_of_zoo"]) == names and meta["params"]["photos_are_train"] is True
    assert "photos_are_train" not in json.loads((out / "procedural.json").read_text())["params"]
    rows = [ln.split("\t") for ln in (tmp_path / "pre" / "procedural-manifest.tsv").read_text().splitlines()[1:]]
    assert len(rows) == 3 * 3 and {r[3] for r in rows} <= names
    data = discover(tmp_path / "pre")
    assert data.classes() == [P.class_name(i) for i in range(3)] and len(data.train) == 6
    with pytest.raises(SystemExit):
        P.main(["--out", str(tmp_path / "x"), "--photos", str(staged), "--photos-are-train", "--check-zoo", str(tmp_path)])


def test_size_option_writes_larger_files_and_a_folder_keeps_its_size(tree, tmp_path):
    """--size 256 (for an encoder that reads the zoo's whole 256-px images): every file is that
    side, the same networks (recipes) as at the default size, and a folder built at one size is
    not resumed at another."""
    photos, out = tree
    big = tmp_path / "big"
    assert _build(big, photos, "--size", "256") == 0
    files = sorted((big / "train").rglob("*.png"))
    assert len(files) == 3 * 2
    for f in files:
        with Image.open(f) as im:
            assert im.size == (256, 256)
    meta, meta_default = (json.loads((d / "procedural.json").read_text()) for d in (big, out))
    assert meta["params"]["size"] == 256 and meta_default["params"]["size"] == P.SIZE
    for name, text in meta["classes"].items():
        # same network drawn from the same seed; only the sides in its description differ
        assert text.split(": ", 1)[1] == meta_default["classes"][name].split(": ", 1)[1]
        assert "-> 256)" in text
    rows = [ln.split("\t") for ln in (big / "procedural-manifest.tsv").read_text().splitlines()[1:]]
    assert {r[6] for r in rows} == {"256"}
    before = _hashes(big)
    assert _build(big, photos) == 2  # default size into a 256-px folder: refused, nothing written
    assert _hashes(big) == before
    for bad in ("100", "4", str(P.zg.WINDOW + 8)):
        with pytest.raises(SystemExit):
            P.main(["--out", str(tmp_path / "x"), "--photos", str(photos), "--size", bad])
    assert not (tmp_path / "x").exists()
