"""TrainOptions: typed configs, the flat command-line names, and the flat form files record."""

from __future__ import annotations

import json

import pytest

from aidetect.config import ArchitectureConfig, AugmentConfig, PreprocessConfig
from aidetect.errors import AidetectError
from aidetect.training import DataConfig, LossConfig, OptimConfig, RuntimeConfig, TrainOptions
from aidetect.training.checkpoint import check_same_run

#: ``training.options`` in config.json and ``options_json`` in checkpoints, as every release wrote them
#: (``pixel_cache``, ``real_weight``, ``resize_p``, ``webp_p``, ``readout``, ``aligned`` and ``spectrum`` added last:
#: options recorded without them read back with the defaults, None, 1.0, 0.0, 0.0, "head", False and "radial").
RECORDED = [
    "data", "out", "setting", "include", "exclude", "layout", "arch", "init", "embedding_dim", "projection_hidden",
    "spectrum_weight", "learned_crop", "choose_spectrum_weight", "front_end", "stem_stride", "image_size",
    "preprocess_mode", "grid", "train_image_size", "views", "jpeg_p", "blur_p", "recipe", "loss", "temperature",
    "learnable_temperature", "margin", "batch_size", "m_per_class", "epochs", "lr", "weight_decay", "warmup_epochs",
    "warmup_temperature", "memory_size", "patience", "bn_batches", "seed", "device", "workers", "max_per_class",
    "gallery_per_class", "resume", "channels_last", "compile", "pixel_cache", "real_weight", "resize_p",
    "webp_p", "readout", "aligned", "spectrum", "extra_classes", "extra_classes_per_batch", "extra_m_per_class",
    "vote",
]


def test_flat_options_land_in_their_configs():
    o = TrainOptions(data="ROOT", out="runs/m", arch="tiny", preprocess_mode="crop", image_size=32, jpeg_p=0.5,
                     loss="contrastive", margin=2.0, lr=3e-3, epochs=2, exclude=["gen_c"], workers=0, seed=7)
    assert o.data == DataConfig(root="ROOT", exclude=["gen_c"])
    assert o.architecture == ArchitectureConfig(name="tiny")
    assert o.preprocess == PreprocessConfig(image_size=32, mode="crop")
    assert o.augment == AugmentConfig(jpeg_p=0.5)
    assert o.loss == LossConfig(name="contrastive", margin=2.0)
    assert o.optim == OptimConfig(lr=3e-3, epochs=2)
    assert o.runtime == RuntimeConfig(workers=0)
    assert (o.out, o.seed, o.recipe) == ("runs/m", 7, "custom")


def test_typed_and_flat_construction_agree_and_round_trip():
    typed = TrainOptions(DataConfig(root="ROOT", setting="es1"), "out", architecture=ArchitectureConfig(name="tiny"),
                         optim=OptimConfig(batch_size=32), loss=LossConfig(memory_size=40))
    flat = TrainOptions(data="ROOT", out="out", setting="es1", arch="tiny", batch_size=32, memory_size=40)
    assert typed == flat
    assert list(typed.flat()) == RECORDED
    assert TrainOptions.from_flat(json.loads(json.dumps(typed.flat()))) == typed
    named = TrainOptions(data="ROOT", out="out", vote="centroid")
    assert named.vote == "centroid" and TrainOptions.from_flat(json.loads(json.dumps(named.flat()))) == named


def test_defaults_are_the_thesis_and_configs_given_are_not_changed():
    o = TrainOptions(data="ROOT", out="out")
    assert o.architecture == ArchitectureConfig() and o.preprocess == PreprocessConfig() and o.augment == AugmentConfig()
    assert (o.optim.batch_size, o.optim.lr, o.loss.name, o.loss.temperature) == (186, 1e-3, "supcon", 0.1)
    mine = OptimConfig()
    TrainOptions(data="ROOT", out="out", optim=mine, lr=0.5)
    assert mine.lr == 1e-3


def test_unknown_options_and_loss_combinations_are_refused():
    with pytest.raises(TypeError, match="learning_rate"):
        TrainOptions(data="ROOT", out="out", learning_rate=1.0)
    with pytest.raises(AidetectError, match="--memory"):
        LossConfig(name="contrastive", memory_size=8).check()
    with pytest.raises(AidetectError, match="--warmup-temperature"):
        LossConfig(name="contrastive", warmup_temperature=0.5).check()


def test_a_checkpoint_resumes_only_the_same_run():
    options = TrainOptions(data="ROOT", out="out", batch_size=32)
    state = {"options_json": json.dumps({**options.flat(), "epochs": 99})}  # --epochs may change
    check_same_run(state, options.flat())
    with pytest.raises(AidetectError, match="batch_size=32"):
        check_same_run(state, TrainOptions(data="ROOT", out="out", batch_size=64).flat())
    # an augmentation changed half way would go unnoticed in the metrics: refused too
    with pytest.raises(AidetectError, match="webp_p=0.0, not 0.2"):
        check_same_run(state, TrainOptions(data="ROOT", out="out", batch_size=32, webp_p=0.2).flat())
    # any option that shapes what is learned, however rarely used, is compared; where and how long it runs is not
    for changed in ({"views": 2}, {"warmup_epochs": 2.0}, {"margin": 0.5}, {"projection_hidden": 0}, {"max_per_class": 9}):
        with pytest.raises(AidetectError, match=f"{next(iter(changed))}="):
            check_same_run(state, TrainOptions(data="ROOT", out="out", batch_size=32, **changed).flat())
    check_same_run(state, TrainOptions(data="ROOT", out="elsewhere", batch_size=32, epochs=50, patience=1, workers=3,
                                       device="cuda", gallery_per_class=5, vote="centroid").flat())
    # a checkpoint from before an option existed is not compared on it
    older = {"options_json": json.dumps({k: v for k, v in options.flat().items() if k != "webp_p"})}
    check_same_run(older, TrainOptions(data="ROOT", out="out", batch_size=32, webp_p=0.2).flat())


def test_a_named_vote_is_checked_before_training():
    """A library caller learns at once that calibration does not take the vote, not after the run."""
    TrainOptions(data="ROOT", out="out", vote="centroid").check_vote()
    TrainOptions(data="ROOT", out="out").check_vote()
    with pytest.raises(AidetectError, match="--vote balanced: choose one of majority, weighted, centroid"):
        TrainOptions(data="ROOT", out="out", vote="balanced").check_vote()


@pytest.mark.parametrize("loss, temperature", [("softmax", 0.0), ("softmax", -1.0), ("supcon", 2.0)])
def test_a_temperature_the_loss_cannot_use_is_refused_before_anything_is_written(synthetic_data, tmp_path, loss, temperature):
    from typer.testing import CliRunner

    from aidetect.cli.main import app

    result = CliRunner().invoke(app, ["train", "--data", str(synthetic_data), "--out", str(tmp_path / "m"), "--arch", "tiny",
                                      "--image-size", "32", "--epochs", "1", "--workers", "0", "--loss", loss,
                                      "--temperature", str(temperature)])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and "--temperature" in errors[0]
    assert not (tmp_path / "m").exists()
