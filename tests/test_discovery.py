"""Dataset discovery: layouts, labels, splits, balancing, errors (trees of empty files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aidetect.data import discovery
from aidetect.data.discovery import LAYOUTS, DataSplits, Sample, detect_layout, discover
from aidetect.errors import AidetectError
from aidetect.settings import GENIMAGE_CLASSES, GENIMAGE_GENERATORS, PROGAN, REAL

try:
    from tests.helpers import GENIMAGE_FOLDERS, make_genimage_tree
except ImportError:  # run as `pytest` without the repository root on sys.path
    from helpers import GENIMAGE_FOLDERS, make_genimage_tree


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def paths(samples: list[Sample]) -> set[str]:
    return {s.path for s in samples}


def assert_disjoint(splits: DataSplits) -> None:
    train, val, test = paths(splits.train), paths(splits.val), paths(splits.test)
    assert not train & val and not train & test and not val & test


# --------------------------------------------------------------------------- GenImage


@pytest.fixture(params=[False, True], ids=["plain", "nested"])
def genimage(tmp_path: Path, request) -> Path:
    # 20 ai + 20 nature per subset in train/, 5 + 5 in val/: the real pool
    # (8 subsets) is 8x any generator, as in GenImage.
    return make_genimage_tree(tmp_path / "genimage", n_train=20, n_val=5, nested=request.param)


def test_genimage_classes_labels_and_counts(genimage: Path):
    splits = discover(genimage)
    assert splits.layout == "genimage" and detect_layout(genimage) == "genimage"
    assert splits.classes() == sorted(GENIMAGE_CLASSES)
    counts = splits.counts()
    # 90/10 carve of 20 train images per generator; real balanced to the generator count.
    assert counts["train"] == {c: 18 for c in sorted(GENIMAGE_CLASSES)}
    assert counts["val"] == {c: 2 for c in sorted(GENIMAGE_CLASSES)}
    # GenImage's val/ is the test split.
    assert counts["test"] == {c: 5 for c in sorted(GENIMAGE_CLASSES)}
    inverse = {folder: gen for gen, (folder, _) in GENIMAGE_FOLDERS.items()}
    for split in ("train", "val", "test"):
        their = "val" if split == "test" else "train"
        for s in splits.split(split):
            parts = Path(s.path).relative_to(genimage).parts
            assert os.path.isabs(s.path) and parts[-3] == their
            subset = next(p for p in parts if p in inverse)
            assert s.label == (REAL if parts[-2] == "nature" else inverse[subset])
    assert_disjoint(splits)


def test_genimage_real_pool_comes_from_every_subset(genimage: Path):
    splits = discover(genimage, balance_real=False)
    counts = splits.counts()
    # 160 nature images in train/: 16 carved to val, 144 left; 40 in val/.
    assert (counts["train"][REAL], counts["val"][REAL], counts["test"][REAL]) == (144, 16, 40)
    sources = {Path(s.path).name.split("_")[1] for s in splits.test if s.label == REAL}
    assert sources == set(GENIMAGE_GENERATORS)


def test_genimage_real_capped_at_largest_generator(tmp_path: Path):
    # SD 1.5's test set is larger than the others (8,000 vs 6,000 in GenImage).
    make_genimage_tree(tmp_path, n_train=10, n_val=5, generators=["adm", "glide"])
    make_genimage_tree(tmp_path, n_train=10, n_val=8, generators=["sd15"])
    counts = discover(tmp_path).counts()
    assert counts["test"] == {"adm": 5, "glide": 5, "real": 8, "sd15": 8}
    assert counts["train"]["real"] == 9 and counts["val"]["real"] == 1


def test_genimage_real_kept_when_fewer_than_generators(tmp_path: Path):
    make_genimage_tree(tmp_path, n_train=10, n_val=4, n_real_train=3, n_real_val=2, generators=["adm", "vqdm"])
    counts = discover(tmp_path).counts()
    assert counts["test"]["real"] == 4  # 2 per subset, all kept
    assert counts["train"]["real"] + counts["val"]["real"] == 6


def test_genimage_deterministic_per_seed(genimage: Path):
    a, b = discover(genimage, seed=3), discover(genimage, seed=3)
    assert (a.train, a.val, a.test) == (b.train, b.val, b.test)
    c = discover(genimage, seed=4)
    assert paths(c.val) != paths(a.val)
    assert paths(c.train) | paths(c.val) != paths(a.train) | paths(a.val)  # the real downsample moved too
    assert_disjoint(c)


def test_genimage_independent_of_listing_order(genimage: Path, monkeypatch):
    expected = discover(genimage, seed=1)
    real_scandir = os.scandir

    class Reversed:
        def __init__(self, path):
            with real_scandir(path) as it:
                self.entries = list(it)[::-1]

        def __enter__(self):
            return iter(self.entries)

        def __exit__(self, *exc):
            return False

        def __iter__(self):
            return iter(self.entries)

    monkeypatch.setattr(discovery.os, "scandir", Reversed)
    got = discover(genimage, seed=1)
    assert (got.train, got.val, got.test) == (expected.train, expected.val, expected.test)


def test_genimage_split_of_a_class_ignores_other_classes(genimage: Path):
    full = discover(genimage, seed=2)
    only = discover(genimage, seed=2, classes=["adm", "biggan"])
    assert only.classes() == ["adm", "biggan"]
    for split in ("train", "val", "test"):
        assert [s for s in full.split(split) if s.label == "adm"] == [s for s in only.split(split) if s.label == "adm"]


def test_genimage_partial_and_case_insensitive(tmp_path: Path):
    make_genimage_tree(tmp_path, n_train=10, n_val=2, generators=["adm", "sd14"])
    (tmp_path / "imagenet_ai_0419_sdv4").rename(tmp_path / "IMAGENET_AI_0419_SDV4")
    splits = discover(tmp_path, layout="genimage")
    assert splits.classes() == ["adm", "real", "sd14"]
    assert splits.counts()["test"] == {"adm": 2, "real": 2, "sd14": 2}


def test_genimage_root_is_one_subset_and_zip_nesting(tmp_path: Path):
    make_genimage_tree(tmp_path / "x", n_train=10, n_val=2, generators=["wukong"])
    subset = tmp_path / "x" / "imagenet_ai_0424_wukong"
    assert discover(subset).classes() == ["real", "wukong"]
    # imagenet_glide/imagenet_glide/train/... (a zip extracted into a folder of its name)
    make_genimage_tree(tmp_path / "y" / "imagenet_glide", n_train=10, n_val=2, generators=["glide"])
    assert discover(tmp_path / "y").counts()["test"] == {"glide": 2, "real": 2}


def test_genimage_max_per_class(genimage: Path):
    full = discover(genimage)
    capped = discover(genimage, max_per_class=3)
    for split in ("train", "val", "test"):
        counts = capped.counts()[split]
        assert counts == {c: min(3, n) for c, n in full.counts()[split].items()}
        assert paths(capped.split(split)) <= paths(full.split(split))
    assert capped.train == discover(genimage, max_per_class=3).train


def test_genimage_skips_hidden_and_non_images(tmp_path: Path):
    make_genimage_tree(tmp_path, n_train=10, n_val=2, generators=["adm"])
    ai = tmp_path / "imagenet_ai_0508_adm" / "val" / "ai"
    touch(ai / ".hidden.png")
    touch(ai / "notes.txt")
    touch(ai / "weird.PnG")
    touch(ai / ".cache" / "x.png")
    assert discover(tmp_path).counts()["test"]["adm"] == 3


def test_helper_image_writer_gets_labels_and_indices(tmp_path: Path):
    calls = []

    def writer(path: Path, label: str, index: int) -> None:
        calls.append((path.parent.name, label, index))
        path.write_bytes(b"x")

    make_genimage_tree(tmp_path, n_train=2, n_val=1, generators=["adm", "biggan"], image_writer=writer)
    assert len(calls) == 2 * (2 + 2 + 1 + 1)
    assert {(folder, label) for folder, label, _ in calls} == {("ai", "adm"), ("ai", "biggan"), ("nature", REAL)}
    assert sorted(i for _, label, i in calls if label == REAL) == list(range(6))


# --------------------------------------------------------------------------- ForenSynths


def make_forensynths(root: Path, n: int = 10, with_val: bool = True, with_test: bool = True) -> Path:
    splits = [("train", n)] + ([("val", 3)] if with_val else [])
    for split, count in splits:
        for cls in ("airplane", "bird"):
            for folder in ("0_real", "1_fake"):
                for i in range(count):
                    touch(root / split / cls / folder / f"{i:03d}.png")
    if with_test:
        for rel, count in (("progan/airplane", 2), ("progan/bird", 2), ("StyleGAN/bedroom", 3), ("biggan", 5)):
            for folder in ("0_real", "1_fake"):
                for i in range(count):
                    touch(root / "test" / rel / folder / f"{i:03d}.PNG")
    return root


def test_forensynths(tmp_path: Path):
    root = make_forensynths(tmp_path / "fs")
    assert detect_layout(root) == "forensynths"
    splits = discover(root)
    counts = splits.counts()
    assert counts["train"] == {PROGAN: 20, REAL: 20}
    assert counts["val"] == {PROGAN: 6, REAL: 6}  # its own val/, not carved
    # Test: 1_fake labelled by generator; 0_real pooled (4+3+5) and capped at the largest generator.
    assert counts["test"] == {"biggan": 5, PROGAN: 4, REAL: 5, "stylegan": 3}
    assert all("/test/stylegan/" in s.path.lower() for s in splits.test if s.label == "stylegan")
    assert all("/0_real/" in s.path for s in splits.split("train") if s.label == REAL)
    assert_disjoint(splits)
    assert discover(root, balance_real=False).counts()["test"][REAL] == 12


def test_forensynths_without_val_carves_it(tmp_path: Path):
    root = make_forensynths(tmp_path / "fs", n=10, with_val=False, with_test=False)
    splits = discover(root, layout="forensynths", seed=5)
    assert splits.counts() == {"train": {PROGAN: 18, REAL: 18}, "val": {PROGAN: 2, REAL: 2}, "test": {}}
    assert_disjoint(splits)
    assert any("carved" in note for note in splits.notes)


def test_forensynths_standalone_test_set(tmp_path: Path):
    root = make_forensynths(tmp_path / "fs")
    splits = discover(root / "test")
    assert splits.layout == "forensynths" and not splits.train and not splits.val
    assert splits.counts()["test"] == {"biggan": 5, PROGAN: 4, REAL: 5, "stylegan": 3}


def test_forensynths_pointing_at_train_is_an_error(tmp_path: Path):
    root = make_forensynths(tmp_path / "fs", with_test=False)
    with pytest.raises(AidetectError, match="parent"):
        discover(root / "train")


# --------------------------------------------------------------------------- folders


def test_folders_flat_80_10_10(tmp_path: Path):
    for cls, n in (("Cat", 20), ("dog", 10)):
        for i in range(n):
            touch(tmp_path / cls / ("deep" if i % 2 else "") / f"{i:03d}.JpG")
    touch(tmp_path / "dog" / "readme.md")
    touch(tmp_path / "stray.png")  # not in a class folder: ignored
    assert detect_layout(tmp_path) == "folders"
    splits = discover(tmp_path, seed=7)
    assert splits.layout == "folders" and splits.classes() == ["cat", "dog"]
    assert splits.counts() == {
        "train": {"cat": 16, "dog": 8},
        "val": {"cat": 2, "dog": 1},
        "test": {"cat": 2, "dog": 1},
    }
    assert_disjoint(splits)
    assert discover(tmp_path, seed=7).test == splits.test
    assert discover(tmp_path, seed=8).test != splits.test


def test_folders_case_variants_merge(tmp_path: Path):
    for cls in ("Real", "real"):
        for i in range(5):
            touch(tmp_path / cls / f"{cls}{i}.png")
    splits = discover(tmp_path, layout="folders")
    assert splits.classes() == ["real"] and sum(splits.counts()[s].get("real", 0) for s in ("train", "val", "test")) == 10


def test_folders_with_splits(tmp_path: Path):
    for split, n in (("train", 10), ("val", 2), ("test", 3)):
        for cls in ("a", "B"):
            for i in range(n):
                touch(tmp_path / split / cls / f"{i}.webp")
    splits = discover(tmp_path)
    assert splits.layout == "folders"
    assert splits.counts() == {s: {"a": n, "b": n} for s, n in (("train", 10), ("val", 2), ("test", 3))}


def test_folders_with_splits_without_val(tmp_path: Path):
    for split, n in (("train", 20), ("test", 3)):
        for cls in ("a", "b"):
            for i in range(n):
                touch(tmp_path / split / cls / f"{i}.bmp")
    splits = discover(tmp_path, val_fraction=0.25)
    assert splits.counts() == {"train": {"a": 15, "b": 15}, "val": {"a": 5, "b": 5}, "test": {"a": 3, "b": 3}}
    assert_disjoint(splits)


def test_folders_max_per_class_and_classes(tmp_path: Path):
    for cls in ("a", "b", "c"):
        for i in range(30):
            touch(tmp_path / cls / f"{i}.png")
    splits = discover(tmp_path, max_per_class=5, classes=["A", "c"])
    assert splits.counts() == {"train": {"a": 5, "c": 5}, "val": {"a": 3, "c": 3}, "test": {"a": 3, "c": 3}}


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loops_and_duplicates_are_walked_once(tmp_path: Path):
    for i in range(10):
        touch(tmp_path / "a" / "sub" / f"{i}.png")
    os.symlink(tmp_path / "a", tmp_path / "a" / "sub" / "loop")  # a/sub/loop -> a
    os.symlink(tmp_path / "a" / "sub", tmp_path / "b")  # class b is the same folder as a/sub
    os.symlink(tmp_path / "nowhere", tmp_path / "a" / "dangling.png")
    splits = discover(tmp_path, layout="folders", test_fraction=0.0, val_fraction=0.0)
    assert len(splits.train) == 10  # each directory listed once per discovery


# --------------------------------------------------------------------------- summary and errors


def test_summary_is_json(genimage: Path):
    splits = discover(genimage, seed=9, max_per_class=4)
    summary = json.loads(json.dumps(splits.summary()))
    assert summary["layout"] == "genimage" and summary["root"] == str(genimage)
    assert summary["seed"] == 9 and summary["max_per_class"] == 4 and summary["balance_real"] is True
    assert summary["counts"] == splits.counts() and summary["classes"] == splits.classes()
    assert len(summary["sources"]) == 8


def test_layouts_constant():
    assert LAYOUTS == ("auto", "genimage", "forensynths", "folders")


def test_missing_root(tmp_path: Path):
    with pytest.raises(AidetectError, match="does not exist"):
        discover(tmp_path / "nope")
    with pytest.raises(AidetectError, match="does not exist"):
        detect_layout(tmp_path / "nope")


def test_root_is_a_file(tmp_path: Path):
    with pytest.raises(AidetectError, match="is a file"):
        discover(touch(tmp_path / "x.png"))


def test_empty_root(tmp_path: Path):
    with pytest.raises(AidetectError, match="no recognisable dataset"):
        detect_layout(tmp_path)


def test_images_without_class_folders(tmp_path: Path):
    touch(tmp_path / "a.png")
    with pytest.raises(AidetectError, match="no class folders"):
        discover(tmp_path)


def test_class_folders_without_images(tmp_path: Path):
    touch(tmp_path / "a" / "notes.txt")
    with pytest.raises(AidetectError, match="no image files"):
        discover(tmp_path)


def test_forced_layout_mismatch(tmp_path: Path):
    touch(tmp_path / "cat" / "1.png")
    with pytest.raises(AidetectError, match="does not look like GenImage"):
        discover(tmp_path, layout="genimage")
    with pytest.raises(AidetectError, match="does not look like ForenSynths"):
        discover(tmp_path, layout="forensynths")


def test_bad_arguments(tmp_path: Path):
    touch(tmp_path / "cat" / "1.png")
    with pytest.raises(AidetectError, match="unknown layout"):
        discover(tmp_path, layout="imagenet")
    with pytest.raises(AidetectError, match="seed"):
        discover(tmp_path, seed=-1)
    with pytest.raises(AidetectError, match="val_fraction"):
        discover(tmp_path, val_fraction=1.5)
    with pytest.raises(AidetectError, match="max_per_class"):
        discover(tmp_path, max_per_class=0)
    with pytest.raises(AidetectError, match="dog"):
        discover(tmp_path, classes=["cat", "dog"])


def test_error_messages_are_one_sentence(tmp_path: Path):
    with pytest.raises(AidetectError) as info:
        discover(tmp_path)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path) in message
