"""Issue 17: early in training, eval mode gave every image the same embedding.

EfficientNet-B0's depthwise convolutions start with outputs of variance ≈ 2/channels, while
BatchNorm's running variance starts at 1 and follows the batches at momentum 0.1: for the
first hundred-odd steps eval mode divides those channels by far too much, and sixteen blocks
of that leave nothing of the image (docs/training.md). The trainer re-estimates the statistics
before each validation and save; these runs are short enough to sit inside that window.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aidetect.embedding import embed_files
from aidetect.models.model_dir import load_model
from aidetect.recipes import apply_recipe
from aidetect.training import DEFAULT_BN_BATCHES, TrainOptions, train
from synthetic import write_folders_dataset

CLASSES = ["real", "gen_a", "gen_b", "gen_c", "gen_d", "gen_e"]
BATCH = 18  # 3 images of each of the 6 classes
COLLAPSED = math.log(BATCH - 1)  # SupCon when every embedding is the same


@pytest.fixture(scope="module")
def six_classes(tmp_path_factory):
    """30 training and 6 validation images per class: 10 steps of 18 per epoch."""
    return write_folders_dataset(tmp_path_factory.mktemp("collapse"), CLASSES, 30, 6, 2, size=64)


#: The thesis recipe at 64 px, and the fingerprint recipe training on 32-px crops of them (its
#: statistics must come from the 64-px input it embeds, not from its training crops).
RECIPES = {"thesis": {}, "fingerprint": dict(train_image_size=32)}


def _train(data, out, bn_batches, recipe="thesis"):
    torch.set_num_threads(1)
    given = dict(image_size=64, **RECIPES[recipe])
    options = TrainOptions(
        data=str(data), out=str(out), batch_size=BATCH, epochs=1, workers=0, device="cpu", gallery_per_class=2,
        bn_batches=bn_batches, **apply_recipe(recipe, given),
    )
    result = train(options)
    model = load_model(out)
    paths = sorted(str(p) for p in (data / "val").rglob("*.png"))
    embedded = embed_files(model.encoder.eval(), model.config.preprocess, paths, hash_files=False, progress=None)
    z = embedded.embeddings
    similarity = z @ z.T
    n = len(z)
    mean_cosine = float((similarity.sum() - np.trace(similarity)) / (n * (n - 1)))
    return result.history[-1]["val_loss"], mean_cosine


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_eval_mode_embeddings_differ_after_one_epoch(six_classes, tmp_path, recipe):
    val_loss, mean_cosine = _train(six_classes, tmp_path / "fixed", DEFAULT_BN_BATCHES, recipe)
    assert mean_cosine < 0.99, f"eval-mode embeddings collapsed (mean cosine {mean_cosine:.6f})"
    assert val_loss < COLLAPSED - 0.05, f"validation loss {val_loss:.4f} is not clearly below the collapsed value ln({BATCH - 1}) = {COLLAPSED:.4f}"


@pytest.mark.slow
def test_the_running_averages_alone_collapse_here(six_classes, tmp_path):
    """The set-up reproduces the collapse (so the test above tests the fix, not a lucky run)."""
    val_loss, mean_cosine = _train(six_classes, tmp_path / "running", 0)
    assert mean_cosine > 0.999 and abs(val_loss - COLLAPSED) < 1e-3, (mean_cosine, val_loss)


def test_recalibration_keeps_weights_momentum_and_with_no_batch_the_statistics():
    from aidetect.config import ArchitectureConfig
    from aidetect.models.encoder import Encoder
    from aidetect.training import batchnorm_layers, recalibrate_batchnorm

    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig(name="tiny"))
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    assert recalibrate_batchnorm(encoder, iter([])) == 0
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    images = torch.rand(8, 3, 16, 16) * 0.1
    assert recalibrate_batchnorm(encoder, [images[:4], images[4:]]) == 8
    layers = batchnorm_layers(encoder)
    assert all(bn.momentum == 0.1 for bn in layers) and not encoder.training
    assert not torch.allclose(layers[0].running_var, torch.ones_like(layers[0].running_var))
    for k, v in encoder.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(before[k], v), k


def test_epochs_0_keeps_the_random_weights_with_statistics_of_the_data(synthetic_data, tmp_path):
    from safetensors.torch import load_file

    from conftest import tiny_train_options

    train(tiny_train_options(synthetic_data, tmp_path / "m", epochs=0, gallery_per_class=5))
    state = load_file(tmp_path / "m" / "model.safetensors")
    running = [v for k, v in state.items() if k.endswith("running_var")]
    assert running and not any(torch.allclose(v, torch.ones_like(v)) for v in running)
