"""The pixel cache (aidetect.data.pixel_cache): hits and misses, invalidation, identical tensors,
corrupt shards detected and rebuilt, and a training run that reads it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from aidetect.config import AugmentConfig, PreprocessConfig
from aidetect.data import dataset as dataset_module
from aidetect.data.dataset import ImageFileDataset
from aidetect.data.pixel_cache import PixelCache, cache_form
from aidetect.errors import AidetectError
from conftest import tiny_train_options

RESIZE = PreprocessConfig(image_size=24)
CROP = PreprocessConfig(image_size=16, mode="crop", grid=2, train_image_size=8)


def write_images(folder: Path, n: int = 6) -> list[str]:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / (f"im{i}.png" if i % 2 else f"im{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (30 + i, 28, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def items(dataset: ImageFileDataset, epoch: int = 0) -> list:
    return [dataset[(epoch, i)] for i in range(len(dataset))]


def assert_same_items(a: list, b: list) -> None:
    for x, y in zip(a, b, strict=True):
        assert x[3] is None and y[3] is None, (x[3], y[3])
        assert np.array_equal(x[1], y[1]) and x[2] == y[2] and x[4] == y[4]


def no_decoding(monkeypatch) -> None:
    """Make any decoding in the dataset fail loudly: what follows must come from the cache."""
    def refuse(path, **_):
        raise AssertionError(f"decoded {path}")
    monkeypatch.setattr(dataset_module, "load_image", refuse)


@pytest.mark.parametrize(
    "preprocess, train, augment",
    [(RESIZE, False, None), (RESIZE, True, None), (CROP, False, None), (CROP, True, AugmentConfig(jpeg_p=0.5, blur_p=0.5)),
     (RESIZE, True, AugmentConfig(jpeg_p=0.5)), (CROP, True, AugmentConfig(resize_p=1.0)),
     (RESIZE, True, AugmentConfig(resize_p=1.0)), (RESIZE, True, AugmentConfig(webp_p=1.0))],
    ids=["resize-inference", "resize-train", "crop-inference", "crop-train-augmented", "resize-train-augmented",
         "crop-train-downscaled", "resize-train-downscaled", "resize-train-webp"],
)
def test_cached_items_equal_decoded_items(tmp_path, monkeypatch, preprocess, train, augment):
    paths = write_images(tmp_path / "images")
    cache = PixelCache(tmp_path / "cache")
    direct = ImageFileDataset(paths, list(range(len(paths))), preprocess, train=train, augment=augment, hash_files=True)
    cached = ImageFileDataset(paths, list(range(len(paths))), preprocess, train=train, augment=augment, hash_files=True,
                              pixel_cache=cache)
    # augmentation acts on the decoded image, so only native pixels can be cached ahead of it
    assert cached.cache_form.kind == ("resize" if preprocess.mode == "resize" and augment is None else "native")
    report = cache.build(paths, cached.cache_form)
    assert (report.written, report.already, report.failed) == (len(paths), 0, [])
    expected = [items(direct, epoch) for epoch in (0, 1)]
    no_decoding(monkeypatch)
    for epoch in (0, 1):
        assert_same_items(items(cached, epoch), expected[epoch])


def test_hits_misses_and_a_second_build_decodes_nothing(tmp_path):
    paths = write_images(tmp_path / "images")
    cache = PixelCache(tmp_path / "cache")
    form = cache_form(RESIZE, train=False)
    assert cache.lookup(paths[0], form) is None
    first = cache.build(paths[:4], form)
    assert (first.written, first.already) == (4, 0)
    assert first.bytes_written == first.estimated_bytes == 4 * 24 * 24 * 3
    assert all(cache.lookup(p, form) is not None for p in paths[:4])
    assert all(cache.lookup(p, form) is None for p in paths[4:])
    second = cache.build(paths, form)
    assert (second.written, second.already) == (2, 4)
    # a fresh instance (another process) sees both shards
    again = PixelCache(tmp_path / "cache")
    assert all(again.lookup(p, form) is not None for p in paths)
    assert again.build(paths, form).written == 0


def test_a_changed_file_or_changed_preprocessing_is_a_miss(tmp_path, monkeypatch):
    paths = write_images(tmp_path / "images")
    cache = PixelCache(tmp_path / "cache")
    form = cache_form(RESIZE, train=False)
    cache.build(paths, form)
    # a new preprocessing is a new form: nothing of the old one is used for it
    assert cache.lookup(paths[0], cache_form(PreprocessConfig(image_size=20), train=False)) is None
    assert cache.lookup(paths[0], cache_form(PreprocessConfig(image_size=24, interpolation="bicubic"), train=False)) is None
    # rewrite one file with other content: its entry is no longer used, and a build replaces it
    Image.fromarray(np.full((40, 40, 3), 7, np.uint8)).save(paths[1])
    assert cache.lookup(paths[1], form) is None
    assert cache.build(paths, form).written == 1
    fresh = ImageFileDataset(paths, None, RESIZE)[1][1]
    hit = ImageFileDataset(paths, None, RESIZE, pixel_cache=PixelCache(tmp_path / "cache"))
    no_decoding(monkeypatch)
    assert np.array_equal(hit[1][1], fresh)


def test_same_size_and_time_but_other_bytes_is_caught_where_files_are_hashed(tmp_path):
    paths = write_images(tmp_path / "images", 2)
    cache = PixelCache(tmp_path / "cache")
    form = cache_form(RESIZE, train=False)
    cache.build(paths, form)
    st = os.stat(paths[0])
    data = bytearray(Path(paths[0]).read_bytes())
    original = ImageFileDataset(paths, None, RESIZE)[0][1]
    # Same length, same modification time, different pixels: a JPEG's last scan bytes changed.
    data[-10] ^= 0xFF
    Path(paths[0]).write_bytes(bytes(data))
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns))
    decoded = ImageFileDataset(paths, None, RESIZE, hash_files=True)[0]
    hashed = ImageFileDataset(paths, None, RESIZE, hash_files=True, pixel_cache=cache)[0]
    assert not np.array_equal(decoded[1], original)  # the edit changed the pixels
    assert np.array_equal(hashed[1], decoded[1]) and hashed[4] == decoded[4]


@pytest.mark.parametrize("damage", ["flipped byte", "truncated pixels", "garbage index"])
def test_a_corrupt_shard_is_detected_set_aside_and_rebuilt(tmp_path, monkeypatch, damage):
    paths = write_images(tmp_path / "images")
    cache = PixelCache(tmp_path / "cache")
    form = cache_form(RESIZE, train=False)
    cache.build(paths, form)
    expected = items(ImageFileDataset(paths, None, RESIZE))
    folder = cache.folder(form)
    (pixels,) = folder.glob("shard-*.bin")
    if damage == "flipped byte":
        data = bytearray(pixels.read_bytes())
        data[len(data) // 2] ^= 0x01
        pixels.write_bytes(bytes(data))
    elif damage == "truncated pixels":
        pixels.write_bytes(pixels.read_bytes()[:-5])
    else:
        pixels.with_suffix(".npz").write_bytes(b"not an index")
    reader = PixelCache(tmp_path / "cache")
    # the damaged entries are not served: the dataset decodes the files and gives the right tensors
    assert_same_items(items(ImageFileDataset(paths, None, RESIZE, pixel_cache=reader)), expected)
    assert list(folder.glob("*.corrupt")), "the damaged shard was not set aside"
    rebuilt = PixelCache(tmp_path / "cache").build(paths, form)
    assert rebuilt.written == len(paths) and rebuilt.already == 0
    no_decoding(monkeypatch)
    assert_same_items(items(ImageFileDataset(paths, None, RESIZE, pixel_cache=PixelCache(tmp_path / "cache"))), expected)


def test_an_interrupted_build_leaves_nothing_that_is_read(tmp_path):
    paths = write_images(tmp_path / "images")
    cache = PixelCache(tmp_path / "cache")
    form = cache_form(RESIZE, train=False)
    folder = cache.folder(form)
    folder.mkdir(parents=True)
    # pixels written, index never committed: what a kill between the two renames leaves, hours ago
    old = [folder / "shard-0123456789abcdef.bin", folder / ".shard-feedfacefeedface.bin.tmp"]
    # and a writer in another process, right now, between its renames: not to be touched
    fresh = [folder / "shard-00000000000000aa.bin", folder / ".shard-00000000000000bb.bin.tmp"]
    for part in old + fresh:
        part.write_bytes(b"\0" * 100)
    for part in old:
        os.utime(part, (0, 0))
    assert cache.lookup(paths[0], form) is None
    assert cache.build(paths, form).written == len(paths)
    assert not any(part.exists() for part in old)
    assert all(part.exists() for part in fresh)
    assert PixelCache(tmp_path / "cache").missing(paths, form) == []


def test_unreadable_files_are_not_cached_and_keep_their_error(tmp_path):
    paths = write_images(tmp_path / "images", 2)
    broken = tmp_path / "images" / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    cache = PixelCache(tmp_path / "cache")
    form = cache_form(RESIZE, train=False)
    report = cache.build([*paths, str(broken)], form)
    assert report.written == 2 and [p for p, _ in report.failed] == [str(broken)]
    direct = ImageFileDataset([str(broken)], None, RESIZE)[0]
    cached = ImageFileDataset([str(broken)], None, RESIZE, pixel_cache=cache)[0]
    assert cached[1] is None and cached[3] == direct[3]


def test_the_pixel_limit_still_applies_to_cached_images(tmp_path):
    paths = write_images(tmp_path / "images", 2)
    cache = PixelCache(tmp_path / "cache")
    form = cache_form(CROP, train=False)
    cache.build(paths, form)
    refused = ImageFileDataset(paths, None, CROP, max_pixels=100, pixel_cache=cache)[0]
    assert refused[1] is None and refused[3] == ImageFileDataset(paths, None, CROP, max_pixels=100)[0][3]


def test_a_build_that_would_not_fit_is_refused_before_decoding(tmp_path, monkeypatch):
    import shutil

    paths = write_images(tmp_path / "images", 2)
    cache = PixelCache(tmp_path / "cache")
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10))
    with pytest.raises(AidetectError, match="pixel cache needs about .* free some space"):
        cache.build(paths, cache_form(RESIZE, train=False))
    assert not list(cache.folder(cache_form(RESIZE, train=False)).glob("shard-*"))


def test_parallel_build_and_worker_processes_read_the_same(tmp_path):
    from torch.utils.data import DataLoader

    from aidetect.data.dataset import collate

    paths = write_images(tmp_path / "images", 8)
    cache = PixelCache(tmp_path / "cache")
    form = cache_form(RESIZE, train=False)
    import aidetect.data.pixel_cache as module

    saved, module.SHARD_FILES = module.SHARD_FILES, 3  # three shards from two processes
    try:
        assert cache.build(paths, form, jobs=2).written == 8
    finally:
        module.SHARD_FILES = saved
    assert len(list(cache.folder(form).glob("shard-*.npz"))) == 3
    cache.lookup(paths[0], form)  # the table and a memory map are open in this process
    loader = DataLoader(ImageFileDataset(paths, None, RESIZE, pixel_cache=cache), batch_size=4, num_workers=1,
                        collate_fn=collate)
    got = torch.cat([b.images for b in loader])
    expected = torch.from_numpy(np.stack([item[1] for item in items(ImageFileDataset(paths, None, RESIZE))]))
    assert torch.equal(got, expected)


def test_reading_writes_through_and_a_second_reader_decodes_nothing(tmp_path, monkeypatch):
    paths = write_images(tmp_path / "images")
    cache = PixelCache(tmp_path / "cache")
    expected = items(ImageFileDataset(paths, None, RESIZE, hash_files=True))
    first = ImageFileDataset(paths, None, RESIZE, hash_files=True, pixel_cache=cache)
    assert_same_items(items(first), expected)  # decoded, and stored on the way
    assert PixelCache(tmp_path / "cache").missing(paths, first.cache_form) == paths  # not visible before commit
    cache.commit_pending()
    no_decoding(monkeypatch)
    second = ImageFileDataset(paths, None, RESIZE, hash_files=True, pixel_cache=PixelCache(tmp_path / "cache"))
    assert_same_items(items(second), expected)


@pytest.mark.parametrize("workers", [0, 1])
def test_training_with_the_cache_gives_the_same_model_and_fills_it(synthetic_data, tmp_path, workers):
    from aidetect.data.discovery import discover
    from aidetect.training import train

    options = dict(epochs=2, batch_size=16, gallery_per_class=5, max_per_class=20, workers=workers)
    train(tiny_train_options(synthetic_data, tmp_path / "direct", **options))
    train(tiny_train_options(synthetic_data, tmp_path / "cached", pixel_cache=str(tmp_path / "cache"), **options))
    a, b = load_file(tmp_path / "direct" / "model.safetensors"), load_file(tmp_path / "cached" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # every training image was written through (by the workers too, committed as they exit);
    # validation reads whole class-balanced batches only, so not necessarily every file
    splits = discover(str(synthetic_data), max_per_class=20)
    cache = PixelCache(tmp_path / "cache")
    form = cache_form(PreprocessConfig(image_size=32), train=True)
    assert cache.missing([s.path for s in splits.train], form) == []
    val = [s.path for s in splits.val]
    assert len(cache.missing(val, form)) < len(val)


@pytest.mark.parametrize("workers", [0, 1])
def test_after_the_first_epoch_training_decodes_nothing(synthetic_data, tmp_path, monkeypatch, workers):
    """Epoch 1 writes every image it reads through to the cache; from epoch 2 on, the steps, the
    BatchNorm re-estimation and validation (each over the same batches every epoch, their workers
    kept for the run) read only the cache. Decodes are logged to a file, so a forked worker's
    count the same as the main process's."""
    from aidetect.training import trainer as trainer_module
    from aidetect.training import train

    log = tmp_path / "decodes.log"
    real_load = dataset_module.load_image

    def logged_load(path, **kwargs):
        with open(log, "a") as f:
            f.write(f"decoded {path}\n")
        return real_load(path, **kwargs)

    real_validate = trainer_module.Trainer._validate

    def validate_then_mark(self, epoch):
        loss = real_validate(self, epoch)
        with open(log, "a") as f:
            f.write(f"epoch {epoch + 1} done\n")
        return loss

    monkeypatch.setattr(dataset_module, "load_image", logged_load)
    monkeypatch.setattr(trainer_module.Trainer, "_validate", validate_then_mark)
    train(tiny_train_options(synthetic_data, tmp_path / "model", pixel_cache=str(tmp_path / "cache"), epochs=3,
                             batch_size=16, gallery_per_class=5, max_per_class=20, workers=workers, bn_batches=2))
    lines = log.read_text().splitlines()
    first_done = lines.index("epoch 1 done")
    assert lines.index("epoch 3 done") > first_done
    assert any(line.startswith("decoded") for line in lines[:first_done])
    between = [line for line in lines[first_done : lines.index("epoch 3 done")] if line.startswith("decoded")]
    assert between == []


def test_embed_command_with_a_pixel_cache_gives_the_same_embeddings(tiny_model, tmp_path):
    from typer.testing import CliRunner

    from aidetect.cli.main import app

    paths = write_images(tmp_path / "images", 4)
    runner = CliRunner()
    outs = []
    for run, cache in enumerate([None, tmp_path / "cache", tmp_path / "cache"]):
        out = tmp_path / f"e{run}.npz"
        extra = ["--pixel-cache", str(cache)] if cache else []
        result = runner.invoke(app, ["embed", "--model", str(tiny_model), "--out", str(out), *extra, *paths])
        assert result.exit_code == 0, result.output
        outs.append(np.load(out))
    assert "all 4 images cached" in result.output  # the third run found what the second wrote
    for later in outs[1:]:
        assert np.array_equal(later["embeddings"], outs[0]["embeddings"]) and list(later["sha256"]) == list(outs[0]["sha256"])
    assert PixelCache(tmp_path / "cache").missing(paths, cache_form(PreprocessConfig(image_size=32), train=False)) == []
