"""The Welch spectrum (aidetect.models.welch), fused with a learned embedding by ``--spectrum welch``."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from aidetect.cli.main import app
from aidetect.cli.train_cmd import _describe_recipe
from aidetect.config import SPECTRUM_KINDS, ArchitectureConfig
from aidetect.errors import AidetectError
from aidetect.gallery import Gallery
from aidetect.models.encoder import SPECTRA, Encoder
from aidetect.models.model_dir import load_model
from aidetect.models.welch import WELCH_TILE, WelchSpectrumFeatures, welch_bins
from helpers import assert_attributes_folder, train_tiny_cli

runner = CliRunner()


def _periodic(n: int, side: int, period: float, amplitude: float, seed: int) -> torch.Tensor:
    """Smooth random content (a blurred noise field) plus a cosine of ``period`` px along x, per image
    of a random phase: [n, 3, side, side] in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    content = torch.nn.functional.avg_pool2d(torch.rand(n, 1, side + 8, side + 8, generator=g), 9, stride=1)
    x = torch.arange(side, dtype=torch.float32)
    phase = torch.rand(n, 1, 1, 1, generator=g) * 2 * math.pi
    trace = amplitude * torch.cos(2 * math.pi * x / period + phase) if period else torch.zeros(1)
    return (content + trace).clamp(0, 1).expand(n, 3, side, side).contiguous()


def test_a_periodic_trace_sits_on_its_own_bin_whatever_its_phase():
    welch = WelchSpectrumFeatures(8)
    images = _periodic(4, 128, period=4, amplitude=0.05, seed=0)  # 1/4 cycle per pixel along x
    raw = welch.raw(images).view(4, WELCH_TILE, WELCH_TILE // 2 + 1)
    assert raw.shape[1:] == (64, 33) and welch_bins() == 64 * 33
    # the peak: row 0 (no vertical frequency), column 64 / 4 = 16, for every phase
    peak = raw[:, 0, 16]
    assert torch.all(peak > raw[:, 0, 12] + 3) and torch.all(peak > raw[:, 4, 16] + 3)
    assert float(peak.max() - peak.min()) < 0.5


def test_the_fitted_reading_separates_a_trace_from_content_and_is_whitened_within_class():
    torch.manual_seed(0)
    welch = WelchSpectrumFeatures(16)
    with_trace = _periodic(120, 64, period=8, amplitude=0.04, seed=1)
    without = _periodic(120, 64, period=0, amplitude=0.0, seed=2)
    images = torch.cat([with_trace, without])
    labels = torch.tensor([0] * 120 + [1] * 120)
    assert welch.fit([(images[::2], labels[::2]), (images[1::2], labels[1::2])]) == 240
    reading = welch(images)
    assert reading.shape == (240, 16)
    centred = torch.cat([reading[labels == c] - reading[labels == c].mean(0) for c in (0, 1)])
    within = centred.T @ centred / len(centred)
    assert torch.allclose(within.diagonal().mean(), torch.tensor(1.0), atol=0.15)  # whitened (and shrunk)
    # new images of both kinds land nearer their own class's mean
    test = welch(torch.cat([_periodic(20, 64, 8, 0.04, seed=3), _periodic(20, 64, 0, 0.0, seed=4)]))
    means = torch.stack([reading[labels == c].mean(0) for c in (0, 1)])
    predicted = torch.cdist(test, means).argmin(dim=1)
    assert (predicted == torch.tensor([0] * 20 + [1] * 20)).float().mean() >= 0.9


def test_an_input_smaller_than_a_tile_and_an_unfitted_reading_are_refused():
    welch = WelchSpectrumFeatures(8)
    with pytest.raises(AidetectError, match="--image-size 64"):
        welch.raw(torch.rand(1, 3, 32, 32))
    with pytest.raises(AidetectError, match="no statistics yet"):
        welch(torch.rand(1, 3, 64, 64))


def test_every_spectrum_kind_has_its_module_and_a_fused_encoder_gives_the_fused_layout():
    assert tuple(SPECTRA) == SPECTRUM_KINDS
    encoder = Encoder(ArchitectureConfig(name="tiny", spectrum_weight=0.4, spectrum="welch")).eval()
    assert isinstance(encoder.spectrum, WelchSpectrumFeatures) and encoder.arch.output_dim == 256


def test_the_command_line_refuses_an_unknown_spectrum_or_one_with_nothing_to_fuse(synthetic_data, tmp_path):
    for args, message in ((["--spectrum", "ring", "--fuse-spectrum", "0.5"], "--spectrum 'ring'"),
                          (["--spectrum", "welch"], "needs --fuse-spectrum"),
                          (["--spectrum", "welch", "--fuse-spectrum", "0.5", "--epochs", "1"], "give --epochs 0"),
                          (["--spectrum", "welch", "--fuse-spectrum", "0.5"], "--image-size 64 or more")):
        result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(tmp_path / "x"), "--epochs", "0", *args])  # 32 px
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "x").exists()


def test_the_library_refuses_what_the_command_line_refuses(synthetic_data, tmp_path):
    from aidetect.training import Trainer

    from conftest import tiny_train_options

    for options, message in (({"epochs": 1, "image_size": 64}, "give --epochs 0"),
                             ({"epochs": 0, "image_size": 32}, "--image-size 64 or more")):
        with pytest.raises(AidetectError, match=message):
            Trainer(tiny_train_options(synthetic_data, tmp_path / "m", spectrum="welch", spectrum_weight=0.5, **options))
        assert not (tmp_path / "m").exists()


def test_a_model_fused_with_the_welch_spectrum_fits_it_and_attributes(tiny_model, synthetic_data, tmp_path):
    out = tmp_path / "welch"
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(out), "--init", str(tiny_model),
                             "--fuse-spectrum", "0.5", "--spectrum", "welch", "--image-size", "64", "--epochs", "0"])
    assert result.exit_code == 0, result.output
    model, source = load_model(out), load_model(tiny_model)
    assert model.config.architecture.spectrum == "welch" and isinstance(model.encoder.spectrum, WelchSpectrumFeatures)
    assert bool(model.encoder.spectrum.fitted) and model.encoder.spectrum.projection.abs().sum() > 0
    for key, value in source.encoder.state_dict().items():  # the learned part is the source's
        assert torch.equal(model.encoder.state_dict()[key], value), key
    gallery = Gallery.load(out / "gallery.npz", expected_model_fingerprint=model.config.fingerprint)
    assert gallery.embedding_dim == 256
    assert_attributes_folder(out, synthetic_data / "test" / "gen_a", "gen_a", 20)
    info = json.loads(runner.invoke(app, ["info", "--model", str(out), "--json"]).stdout)
    assert info["recipe"]["spectrum"] == "welch"
    assert "fused with the welch spectrum" in _describe_recipe(model.config)  # `aidetect info`'s recipe line


def test_a_half_precision_save_keeps_the_welch_statistics_in_float32(tmp_path):
    from aidetect.config import ModelConfig
    from aidetect.models.model_dir import save_model
    from aidetect.models.weights import read_safetensors

    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig(name="tiny", spectrum_weight=0.3, spectrum="welch")).eval()
    images = torch.rand(140, 3, 64, 64)
    encoder.spectrum.fit([(images, torch.arange(140) % 2)])
    save_model(tmp_path, encoder, ModelConfig(architecture=encoder.arch), half=True)
    state = read_safetensors(tmp_path / "model.safetensors")
    assert state["spectrum.mean"].dtype == state["spectrum.projection"].dtype == torch.float32
    assert state["head.0.weight"].dtype == torch.float16
    with torch.no_grad():
        assert torch.allclose(load_model(tmp_path).encoder.spectrum(images[:4]), encoder.spectrum(images[:4]), atol=1e-5)


def test_both_spectra_read_the_same_under_bf16_autocast():
    """Embedding runs under bf16 autocast on CUDA; a spectrum fitted in float32 must be read in
    float32 (the blur in bf16 moved a log spectrum by as much as two images differ)."""
    from aidetect.models.spectrum import SpectrumFeatures

    images = _periodic(3, 128, period=4, amplitude=0.05, seed=5)
    welch = WelchSpectrumFeatures(8)
    for spectrum in (welch, SpectrumFeatures(128)):
        plain = spectrum.raw(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            under = spectrum.raw(images)
        assert under.dtype == torch.float32 and torch.allclose(under, plain, atol=1e-4)


def _welch_recipe(**changes) -> dict:
    """The welch recipe's training options at a 128-px input (the tests' images), with ``changes``."""
    from aidetect.recipes import RECIPE_OPTIONS, apply_recipe

    given = {key: None for key in RECIPE_OPTIONS}
    return {**apply_recipe("welch", {**given, "image_size": 128}), **changes}


def _train_welch(root, embedding_dim: int):
    """A welch-mlp trained 4 epochs on four classes of 128-px images with periodic traces:
    (data root, model directory, the training result)."""
    from aidetect.training import TrainOptions, train
    from synthetic import write_folders_dataset

    data = write_folders_dataset(root / "data", ["real", "gen_a", "gen_b", "gen_c"], 40, 12, 12, size=128)
    out = root / "welch-mlp"
    result = train(TrainOptions(data=str(data), out=str(out), **_welch_recipe(embedding_dim=embedding_dim), batch_size=32,
                                epochs=4, workers=0, warmup_epochs=0.5, gallery_per_class=40, device="cpu", lr=3e-3))
    return data, out, result


@pytest.fixture(scope="module")
def welch_run(tmp_path_factory):
    return _train_welch(tmp_path_factory.mktemp("welch"), 128)


@pytest.fixture(scope="module")
def welch_run_small(tmp_path_factory):
    """The same at a 16-value embedding: a fitted readout of 128 values from these 160 training
    images would whiten noise (the zoo's runs fit theirs on up to 20,000)."""
    return _train_welch(tmp_path_factory.mktemp("welch16"), 16)


def test_the_welch_recipe_trains_a_learned_encoder_that_tells_traces_apart(welch_run, tmp_path):
    """`--recipe welch`: the welch-mlp encoder (a learned MLP over the Welch spectrum) trains with
    SupCon, embeds differently in eval mode, and attributes held-out images by their trace."""
    data, out, result = welch_run
    recipe = _welch_recipe()
    assert recipe["arch"] == "welch-mlp" and recipe["front_end"] == "rgb" and recipe["jpeg_p"] == 0.5
    model = load_model(out)
    assert model.config.architecture.name == "welch-mlp" and model.config.recipe == "welch"
    assert "learned MLP over the 2-D Welch spectrum" in _describe_recipe(model.config)  # `aidetect info`
    from aidetect.models.model_dir import save_model
    save_model(tmp_path / "half", model.encoder, model.config, half=True)  # its input statistics stay float32
    from aidetect.models.weights import read_safetensors
    stored = read_safetensors(tmp_path / "half" / "model.safetensors")
    assert stored["trunk.1.running_mean"].dtype == torch.float32 and stored["head.0.weight"].dtype == torch.float16
    assert result.best_val_loss < math.log(32 - 1)  # below what one embedding for every image gives
    files = [sorted((data / "test" / label).glob("*.png"))[0] for label in ("real", "gen_a", "gen_b", "gen_c")]
    images = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
                          for f in files])
    with torch.no_grad():
        z = model.encoder.eval()(images)
    assert (z @ z.T).min() < 0.9  # one image per class: not one embedding for every image (the eval-mode collapse)
    for label in ("gen_a", "gen_b", "real"):
        assert_attributes_folder(out, data / "test" / label, label, 12)


@pytest.mark.slow  # a second 4-epoch training (the 16-value fixture)
def test_a_trained_welch_mlp_read_from_its_hidden_layer_keeps_its_weights_and_attributes(welch_run_small, tmp_path):
    """`train --init RUN --readout hidden --epochs 0`: the head's hidden layer (before its last
    linear layer) through a map fitted on the training split is the product's embedding; the
    weights stay as trained and the loss's embedding (the head's output) is unchanged."""
    from aidetect.training import TrainOptions, train

    data, trained, _ = welch_run_small
    out = tmp_path / "hidden"
    train(TrainOptions(data=str(data), out=str(out), **_welch_recipe(init=str(trained), readout="hidden", embedding_dim=16),
                       batch_size=32,
                       epochs=0, workers=0, gallery_per_class=40, device="cpu"))
    model, source = load_model(out), load_model(trained)
    assert model.config.architecture.readout == "hidden"
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key
    readout = model.encoder.readout
    assert readout.features == 512 and bool(readout.fitted) and model.config.training["readout_fit_images"] == 4 * 40
    files = sorted((data / "test" / "gen_a").glob("*.png"))[:3] + sorted((data / "test" / "real").glob("*.png"))[:3]
    images = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
                          for f in files])
    encoder = model.encoder.eval()
    with torch.no_grad():
        hidden = encoder.head[:-1](encoder.features(images))  # Linear → BatchNorm → GELU → Dropout (identity in eval)
        assert torch.allclose(encoder(images), torch.nn.functional.normalize(readout(hidden), dim=1), atol=1e-5)
        assert torch.allclose(encoder.trained_embedding(images), source.encoder.eval().trained_embedding(images), atol=1e-6)
    assert "embedding read from the head's hidden layer" in _describe_recipe(model.config)
    gallery = Gallery.load(out / "gallery.npz", expected_model_fingerprint=model.config.fingerprint)
    assert gallery.embedding_dim == 16
    for label in ("gen_a", "real"):
        assert_attributes_folder(out, data / "test" / label, label, 12)


def test_the_hidden_readout_needs_a_hidden_layer_in_the_head():
    with pytest.raises(AidetectError, match="no hidden layer in its head"):
        Encoder(ArchitectureConfig(name="welch-mlp", projection_hidden=0, readout="hidden"))
    with pytest.raises(AidetectError, match="use readout 'head' or stages"):
        Encoder(ArchitectureConfig(name="tiny", projection_hidden=0, readout="hidden"))
    encoder = Encoder(ArchitectureConfig(name="tiny", projection_hidden=32, embedding_dim=8, readout="hidden"))
    assert encoder.readout.features == 32  # a CNN's head with a hidden layer: Linear → ReLU → Linear


def test_the_welch_mlp_encoder_takes_the_pixels():
    with pytest.raises(AidetectError, match="use --front-end rgb"):
        Encoder(ArchitectureConfig(name="welch-mlp", front_end="npr"))


def test_the_welch_mlp_encoder_is_refused_inputs_smaller_than_a_tile(synthetic_data, tmp_path):
    for args, message in ((["--image-size", "32"], "--image-size 32: the welch-mlp encoder reads 64-px tiles"),
                          (["--train-image-size", "32"], "--train-image-size 32: the welch-mlp encoder reads 64-px tiles")):
        result = runner.invoke(app, ["train", "--data", str(synthetic_data), "--out", str(tmp_path / "w"), "--recipe", "welch",
                                     "--epochs", "1", "--device", "cpu", *args])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "w").exists()


def test_the_welch_mlp_head_honours_no_hidden_layer():
    encoder = Encoder(ArchitectureConfig(name="welch-mlp", projection_hidden=0, embedding_dim=16))
    assert isinstance(encoder.head, torch.nn.Linear) and encoder.head.out_features == 16



def test_the_welch_cooc_encoder_reads_the_spectrum_and_the_cooccurrences_side_by_side(tmp_path):
    """`--arch welch-cooc-mlp`: the Welch spectrum and the 500 co-occurrence log-frequencies joined,
    standardised together, the welch-mlp's head over both; its statistics stay float32 in a
    half-precision save, and it is refused inputs it does not read."""
    from aidetect.config import ModelConfig
    from aidetect.models.cooccurrence import FEATURES, ResidualCooccurrence
    from aidetect.models.model_dir import save_model
    from aidetect.models.weights import read_safetensors
    from aidetect.models.welch import WelchPowerSpectrum

    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig(name="welch-cooc-mlp", embedding_dim=16))
    assert encoder.trunk_dim == welch_bins() + FEATURES == 2612
    images = torch.rand(6, 3, 128, 128)
    images[:3] = _periodic(3, 128, period=4, amplitude=0.05, seed=6)
    with torch.no_grad():
        joined = encoder.trunk[0](images)
        assert torch.equal(joined[:, : welch_bins()], WelchPowerSpectrum()(images))
        assert torch.equal(joined[:, welch_bins():], ResidualCooccurrence()(images))
        encoder.train()(images)  # one step of running statistics for the standardisation
        z = encoder.eval()(images)
    assert z.shape == (6, 16) and torch.allclose(z.norm(dim=1), torch.ones(6), atol=1e-5)
    save_model(tmp_path, encoder, ModelConfig(architecture=encoder.arch), half=True)
    state = read_safetensors(tmp_path / "model.safetensors")
    assert state["trunk.1.running_var"].dtype == torch.float32 and state["trunk.1.running_var"].shape == (2612,)
    assert state["head.0.weight"].dtype == torch.float16
    with pytest.raises(AidetectError, match="use --front-end rgb"):
        Encoder(ArchitectureConfig(name="welch-cooc-mlp", front_end="npr"))


def test_the_welch_cooc_encoder_trains_reads_its_hidden_layer_and_is_described(synthetic_data, tmp_path):
    """The command line trains it with the welch recipe, an --init of it must name it, and `info`
    says what it reads. 128-px images, 2 epochs: a check of the path, not of accuracy."""
    common = ["--data", str(synthetic_data), "--recipe", "welch", "--image-size", "64", "--batch-size", "32", "--workers", "0",
              "--gallery-per-class", "10", "--device", "cpu", "--embedding-dim", "16"]
    trained = tmp_path / "cooc"
    result = runner.invoke(app, ["train", *common, "--out", str(trained), "--arch", "welch-cooc-mlp", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    model = load_model(trained)
    assert model.config.architecture.name == "welch-cooc-mlp"
    assert "co-occurrences of pixel residuals" in _describe_recipe(model.config)
    info = json.loads(runner.invoke(app, ["info", "--model", str(trained), "--json"]).stdout)
    assert info["architecture"] == "welch-cooc-mlp" and info["recipe"]["stem_stride"] is None  # no stem to describe
    refused = runner.invoke(app, ["train", *common, "--out", str(tmp_path / "x"), "--init", str(trained), "--epochs", "0",
                                  "--readout", "hidden"])
    assert refused.exit_code == 2 and "name differ" in refused.output, refused.output
    hidden = tmp_path / "cooc-hidden"
    result = runner.invoke(app, ["train", *common, "--out", str(hidden), "--arch", "welch-cooc-mlp", "--init", str(trained),
                                 "--epochs", "0", "--readout", "hidden"])
    assert result.exit_code == 0, result.output
    assert load_model(hidden).encoder.readout.features == 512
    too_small = runner.invoke(app, ["train", *common, "--out", str(tmp_path / "y"), "--arch", "welch-cooc-mlp",
                                    "--image-size", "32", "--epochs", "1"])
    assert too_small.exit_code == 2 and "the welch-cooc-mlp encoder reads 64-px tiles" in too_small.output
