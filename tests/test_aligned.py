"""Aligned batches (``aidetect train --aligned``): one source image across classes, one crop and augmentation."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from aidetect.config import AugmentConfig, PreprocessConfig
from aidetect.data.dataset import ImageFileDataset
from helpers import train_tiny_cli
from synthetic import synthetic_image


def write_aligned_dataset(root: Path, classes=("real", "gen_a", "gen_b"), counts=(24, 6, 6)) -> Path:
    """Every class holds the same file names (``src_00000.png`` …), each with its own class's content."""
    index = 0
    for split, n in zip(("train", "val", "test"), counts):
        for i in range(n):
            for label in classes:
                folder = root / split / label
                folder.mkdir(parents=True, exist_ok=True)
                synthetic_image(label, index, 32).save(folder / f"src_{index:05d}.png")
            index += 1
    return root


def test_items_with_one_key_get_the_same_crop_and_augmentation(tmp_path):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8))
    paths = [tmp_path / f"{name}.png" for name in "abc"]
    for path in paths:
        image.save(path)
    preprocess = PreprocessConfig(image_size=16, mode="crop")
    augment = AugmentConfig(jpeg_p=1.0)
    keyed = ImageFileDataset([str(p) for p in paths], None, preprocess, train=True, augment=augment, rng_keys=[7, 7, 8])
    plain = ImageFileDataset([str(p) for p in paths], None, preprocess, train=True, augment=augment)
    a, b, c = (keyed[i][1] for i in range(3))
    assert np.array_equal(a, b)  # one key: the same draw for identical pixels
    assert not np.array_equal(a, c)  # another key: another crop or quality
    assert not np.array_equal(plain[0][1], plain[1][1])  # without keys each index draws its own


def test_training_with_aligned_batches_records_it_and_says_how_many_sources_align(tmp_path):
    data = write_aligned_dataset(tmp_path / "data")
    out = tmp_path / "model"
    result = train_tiny_cli(["--data", str(data), "--out", str(out), "--epochs", "1", "--aligned", "--batch-size", "12"])
    assert result.exit_code == 0, result.output
    assert "aligned batches: 100% of the training images" in result.output
    assert json.loads((out / "config.json").read_text())["training"]["options"]["aligned"] is True


def test_aligned_on_a_set_without_shared_names_warns_and_trains_as_usual(synthetic_data, tmp_path):
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(tmp_path / "m"), "--epochs", "1", "--aligned",
                             "--max-per-class", "12"])
    assert result.exit_code == 0, result.output
    assert "no file name is in two class folders" in result.output
