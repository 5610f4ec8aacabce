"""The learned embedding fused with the spectrum feature (--fuse-spectrum), and --init from a model directory."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aidetect.cli.main import app
from aidetect.config import ArchitectureConfig
from aidetect.errors import AidetectError
from aidetect.gallery import Gallery
from aidetect.models.encoder import Encoder
from aidetect.models.model_dir import load_model
from helpers import assert_attributes_folder, train_tiny_cli

runner = CliRunner()


def test_fused_similarity_is_the_weighted_sum_of_both_similarities():
    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig(name="tiny", spectrum_weight=0.3)).eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        fused = encoder(x)
        learned = torch.nn.functional.normalize(encoder.head(encoder.features(x)), dim=1)
        spectrum = torch.nn.functional.normalize(encoder.spectrum(x), dim=1)
    assert fused.shape == (4, 128 + 128) and encoder.arch.output_dim == 256
    assert torch.allclose(fused.norm(dim=1), torch.ones(4), atol=1e-5)
    expected = 0.7 * learned @ learned.T + 0.3 * spectrum @ spectrum.T
    assert torch.allclose(fused @ fused.T, expected, atol=1e-5)


def test_spectrum_weight_must_lie_between_zero_and_one():
    with pytest.raises(AidetectError, match="between 0 and 1"):
        Encoder(ArchitectureConfig(name="tiny", spectrum_weight=1.0))


def test_fusing_a_trained_model_keeps_its_weights_and_fits_the_spectrum(tiny_model, synthetic_data, tmp_path):
    out = tmp_path / "fused"
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(out), "--init", str(tiny_model), "--fuse-spectrum", "0.5", "--epochs", "0"])
    assert result.exit_code == 0, result.output
    fused, source = load_model(out), load_model(tiny_model)
    assert fused.config.architecture.spectrum_weight == 0.5
    assert fused.config.training["init"].startswith(f"aidetect model {source.config.fingerprint}")
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(fused.encoder.state_dict()[key], value), key
    # Statistics fitted on the training split: no longer the identity standardisation.
    assert not torch.allclose(fused.encoder.spectrum.mean, torch.zeros(128))
    gallery = Gallery.load(out / "gallery.npz", expected_model_fingerprint=fused.config.fingerprint)
    assert gallery.embedding_dim == 256 and len(gallery) == 40
    assert_attributes_folder(out, synthetic_data / "test" / "gen_a", "gen_a", 20)
    info = json.loads(runner.invoke(app, ["info", "--model", str(out), "--json"]).stdout)
    assert info["recipe"]["spectrum_weight"] == 0.5 and info["embedding_dim"] == 256
    enrolled = runner.invoke(app, ["enroll", "--model", str(out), "--generator", "newgen", str(synthetic_data / "test" / "gen_b")])
    assert enrolled.exit_code == 0, enrolled.output
    assert Gallery.load(out / "gallery.npz", expected_model_fingerprint=fused.config.fingerprint).classes()["newgen"] == 20


@pytest.mark.slow
def test_a_fused_model_trains(synthetic_data, tmp_path):
    out = tmp_path / "fused-trained"
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(out), "--fuse-spectrum", "0.5", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert load_model(out).config.training["epochs_run"] == 1


def test_init_from_a_model_with_another_architecture_says_what_differs(tiny_model, synthetic_data, tmp_path):
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(tmp_path / "x"), "--init", str(tiny_model), "--stem-stride", "1", "--epochs", "0"])
    assert result.exit_code != 0
    assert "stem_stride differ" in result.output and not (tmp_path / "x" / "config.json").exists()


def test_the_learned_part_can_see_a_centre_window_while_the_spectrum_sees_everything():
    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig(name="tiny", spectrum_weight=0.5, learned_crop=16)).eval()
    x = torch.rand(2, 3, 40, 40)
    with torch.no_grad():
        fused = encoder(x)
        window = x[..., 12:28, 12:28]  # (40 - 16) / 2 = 12, on the 4-px grid
        learned = torch.nn.functional.normalize(encoder.head(encoder.features(window)), dim=1)
        spectrum = torch.nn.functional.normalize(encoder.spectrum(x), dim=1)
    assert torch.allclose(fused[:, :128], learned * 0.5**0.5, atol=1e-6)
    assert torch.allclose(fused[:, 128:], spectrum * 0.5**0.5, atol=1e-6)


def test_reweighing_fused_embeddings_equals_embedding_with_the_new_weight():
    from aidetect.calibration import reweigh_fused

    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig(name="tiny", spectrum_weight=0.5)).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        at_half = encoder(x).numpy()
        encoder.arch.spectrum_weight = 0.2
        at_fifth = encoder(x).numpy()
    assert np.allclose(reweigh_fused(at_half, 128, 0.5, 0.2), at_fifth, atol=1e-6)


@pytest.mark.slow
def test_auto_spectrum_weight_is_chosen_on_validation_and_the_gallery_matches_it(tiny_model, synthetic_data, tmp_path):
    from aidetect.embedding import embed_files

    out = tmp_path / "auto"
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(out), "--init", str(tiny_model), "--fuse-spectrum", "auto", "--epochs", "0"])
    assert result.exit_code == 0, result.output
    model = load_model(out)
    choice = model.config.training["spectrum_weight_choice"]
    assert len(choice["accuracy"]) == 9 and choice["chosen"] == model.config.architecture.spectrum_weight
    assert choice["accuracy"][f"{choice['chosen']:.1f}"] == max(choice["accuracy"].values())
    # The stored gallery is what the model, with the chosen weight, computes for those images.
    gallery = Gallery.load(out / "gallery.npz", expected_model_fingerprint=model.config.fingerprint)
    paths = list(gallery.paths)[:5]
    fresh = embed_files(model.encoder, model.config.preprocess, paths, batch_size=5, workers=0)
    assert np.allclose(fresh.embeddings, np.asarray(gallery.embeddings[:5], dtype=np.float32), atol=2e-3)


def test_fuse_spectrum_rejects_a_weight_out_of_range(synthetic_data, tmp_path):
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(tmp_path / "x"), "--fuse-spectrum", "1.5", "--epochs", "0"])
    assert result.exit_code != 0 and "--fuse-spectrum 1.5" in result.output
