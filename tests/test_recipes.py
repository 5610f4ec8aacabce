import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from aidetect.cli.main import app
from aidetect.config import ArchitectureConfig, AugmentConfig, PreprocessConfig
from aidetect.errors import AidetectError, CorruptFileError
from aidetect.models.preprocess import augment, to_array, to_input
from aidetect.recipes import apply_recipe
from helpers import train_tiny_cli

runner = CliRunner()


def test_recipe_fills_only_what_the_user_left_out():
    merged = apply_recipe("fingerprint", {"arch": "tiny", "image_size": None, "front_end": None})
    assert merged["arch"] == "tiny" and merged["front_end"] == "npr" and merged["image_size"] == 128
    assert merged["recipe"] == "fingerprint"
    thesis = apply_recipe("thesis", {})
    assert thesis["preprocess_mode"] == "resize" and thesis["image_size"] == 256 and thesis["stem_stride"] == 2
    with pytest.raises(AidetectError):
        apply_recipe("magic", {})


def test_recipes_are_typed_presets_of_the_encoder_configs():
    from aidetect.recipes import RECIPE_OPTIONS, RECIPES
    from aidetect.training import TrainOptions

    assert RECIPES["thesis"].architecture == ArchitectureConfig() and RECIPES["thesis"].preprocess == PreprocessConfig()
    for name, recipe in RECIPES.items():
        options = TrainOptions(data="ROOT", out="out", **apply_recipe(name, {}))
        assert options.recipe == name
        for config, field in RECIPE_OPTIONS.values():
            assert getattr(getattr(options, config), field) == getattr(getattr(recipe, config), field), (name, config, field)


def test_training_crops_are_smaller_and_grid_aligned():
    config = PreprocessConfig(image_size=32, mode="crop", grid=2, train_image_size=16)
    rows, cols = np.mgrid[0:40, 0:40]
    # Red holds the row and green the column, so a crop's first pixel tells its offset.
    image = Image.fromarray(np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8))
    rng = np.random.default_rng(0)
    offsets = set()
    for _ in range(20):
        crop = to_array(image, config, rng)
        assert crop.shape == (3, 16, 16)
        top, left = int(round(crop[0, 0, 0] * 255)), int(round(crop[1, 0, 0] * 255))
        assert top % 2 == 0 and left % 2 == 0
        offsets.add((top, left))
    assert len(offsets) > 5  # random, not fixed
    assert to_array(image, config).shape == (3, 32, 32)


def test_five_views_are_centre_and_corners():
    config = PreprocessConfig(image_size=16, mode="crop", views=5)
    views = to_input(Image.new("RGB", (40, 30)), config)
    assert views.shape == (5, 3, 16, 16)


def test_augmentation_is_seeded():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    config = AugmentConfig(jpeg_p=1.0, blur_p=0.5)
    a = np.asarray(augment(image, config, np.random.default_rng(7)))
    b = np.asarray(augment(image, config, np.random.default_rng(7)))
    assert np.array_equal(a, b) and not np.array_equal(a, np.asarray(image))


def test_resize_augmentation_downscales_within_its_range_and_is_seeded():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    config = AugmentConfig(resize_p=1.0, resize_scale=(0.5, 0.75))
    sizes = set()
    for seed in range(20):
        out = augment(image, config, np.random.default_rng(seed))
        assert 40 <= out.size[0] <= 60 and 32 <= out.size[1] <= 48, out.size
        assert out.size == augment(image, config, np.random.default_rng(seed)).size
        sizes.add(out.size)
    assert len(sizes) > 5  # the factor is drawn, not fixed


def _augment_before_the_new_options(image, jpeg_p, blur_p, rng):
    """augment() as it was before --resize-p and --webp-p (aa12064): a blur draw, then a JPEG draw."""
    from PIL import ImageFilter

    if blur_p > 0 and rng.random() < blur_p:
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.1, 1.5))))
    if jpeg_p > 0 and rng.random() < jpeg_p:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=int(rng.integers(60, 101)))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image


@pytest.mark.parametrize("jpeg_p, blur_p", [(0.5, 0.5), (0.5, 0.1), (1.0, 0.0), (0.0, 1.0)])
def test_new_options_at_zero_leave_older_recipes_draw_for_draw(jpeg_p, blur_p):
    # a model trained before --resize-p and --webp-p existed must get the same augmented images,
    # and leave its generator in the same state, when trained again with both at 0
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    for seed in range(12):
        rng_old, rng_new = np.random.default_rng(seed), np.random.default_rng(seed)
        old = _augment_before_the_new_options(image, jpeg_p, blur_p, rng_old)
        new = augment(image, AugmentConfig(jpeg_p=jpeg_p, blur_p=blur_p), rng_new)
        assert np.array_equal(np.asarray(old), np.asarray(new)) and rng_old.random() == rng_new.random()


def test_webp_augmentation_shares_the_format_draw_with_jpeg():
    # one draw picks JPEG (p 0.5), else WebP (p 0.3), else neither: over many seeds all three occur,
    # in about those shares, and each image reads back as what its format's encoder makes of it
    image = Image.fromarray(np.random.default_rng(2).integers(0, 255, (48, 48, 3), dtype=np.uint8))
    config = AugmentConfig(jpeg_p=0.5, webp_p=0.3, webp_quality=(70, 70), jpeg_quality=(70, 70))
    encoded = {}
    for fmt in ("JPEG", "WEBP"):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, quality=70)
        encoded[fmt] = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert not np.array_equal(encoded["JPEG"], encoded["WEBP"])
    counts = {"JPEG": 0, "WEBP": 0, "none": 0}
    for seed in range(300):
        out = np.asarray(augment(image, config, np.random.default_rng(seed)))
        kind = next((k for k, v in encoded.items() if np.array_equal(out, v)), "none")
        assert kind != "none" or np.array_equal(out, np.asarray(image))
        counts[kind] += 1
    assert 120 <= counts["JPEG"] <= 180 and 60 <= counts["WEBP"] <= 120 and 35 <= counts["none"] <= 85, counts


def test_webp_and_jpeg_probabilities_share_one_draw(synthetic_data, tmp_path):
    with pytest.raises(CorruptFileError, match=r"augment\.webp_p.*at most 1 - jpeg_p = 0\.3"):
        AugmentConfig(jpeg_p=0.7, webp_p=0.5).validate()
    result = runner.invoke(app, ["train", "--data", str(synthetic_data), "--out", str(tmp_path / "bad"), "--recipe", "fingerprint",
                                 "--arch", "tiny", "--jpeg-p", "0.7", "--webp-p", "0.5", "--epochs", "1", "--workers", "0"])
    assert result.exit_code == 2, result.output
    assert "--webp-p 0.3 or less" in result.output and "(yours)" in result.output
    assert not (tmp_path / "bad").exists()
    # the library refuses it as the run starts, not when the finished model fails to load
    from aidetect.training import TrainOptions
    from aidetect.training.trainer import Trainer

    with pytest.raises(AidetectError, match=r"--webp-p 0\.5 with --jpeg-p 0\.7"):
        Trainer(TrainOptions(data=str(synthetic_data), out=str(tmp_path / "lib"), arch="tiny", jpeg_p=0.7, webp_p=0.5))
    assert not (tmp_path / "lib").exists()


@pytest.mark.parametrize("option, value, recorded", [
    ("resize_p", 0.3, {"resize_scale": [0.5, 1.0]}),
    ("webp_p", 0.2, {"webp_quality": [60, 95]}),
])
def test_later_augmentations_are_train_options(synthetic_data, tmp_path, option, value, recorded):
    out = tmp_path / option
    result = runner.invoke(app, ["train", "--data", str(synthetic_data), "--out", str(out), "--recipe", "fingerprint", "--arch", "tiny",
                                 "--image-size", "32", "--train-image-size", "16", "--batch-size", "16",
                                 "--" + option.replace("_", "-"), str(value),
                                 "--epochs", "1", "--workers", "0", "--gallery-per-class", "10"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    # written with its range, the other later option not at all (releases before it still read the model)
    later = {"resize_p", "resize_scale", "webp_p", "webp_quality"}
    assert {k: v for k, v in config["augment"].items() if k in later} == {option: value, **recorded}
    assert config["training"]["options"][option] == value
    from aidetect.config import ModelConfig

    assert ModelConfig.load(out).augment == AugmentConfig(jpeg_p=0.5, blur_p=0.1, **{option: value})


def test_encoder_averages_views_before_normalising():
    from aidetect.config import ArchitectureConfig
    from aidetect.models.encoder import Encoder

    encoder = Encoder(ArchitectureConfig(name="tiny", front_end="npr", stem_stride=1)).eval()
    x = torch.rand(2, 5, 3, 16, 16)
    with torch.no_grad():
        z = encoder(x)
        expected = torch.nn.functional.normalize(encoder.head(encoder.features(x.flatten(0, 1))).view(2, 5, -1).mean(1), dim=1)
    assert torch.allclose(z, expected, atol=1e-6) and torch.allclose(z.norm(dim=1), torch.ones(2))


def test_fingerprint_recipe_end_to_end(synthetic_data, tmp_path):
    out = tmp_path / "fp"
    result = runner.invoke(app, ["train", "--data", str(synthetic_data), "--out", str(out), "--recipe", "fingerprint", "--arch", "tiny",
                                 "--image-size", "32", "--train-image-size", "16", "--views", "5", "--batch-size", "16",
                                 "--epochs", "1", "--workers", "0", "--gallery-per-class", "10"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == "fingerprint" and config["architecture"]["front_end"] == "npr"
    assert config["architecture"]["stem_stride"] == 1 and config["augment"]["jpeg_p"] == 0.5
    assert config["preprocess"] == {**config["preprocess"], "mode": "crop", "grid": 2, "train_image_size": 16, "views": 5}
    # fields added later are written only when used: releases before them still read this model
    assert not {"resize_p", "resize_scale", "webp_p", "webp_quality"} & set(config["augment"])
    records = json.loads(runner.invoke(app, ["attribute", "--model", str(out), "--json", str(synthetic_data / "test" / "gen_a")]).stdout)
    assert len(records) == 20 and all(r["error"] is None for r in records)


def test_srm_front_end_removes_content_and_keeps_pixel_noise():
    from aidetect.config import ArchitectureConfig
    from aidetect.models.encoder import Encoder

    encoder = Encoder(ArchitectureConfig(name="tiny", front_end="srm")).eval()
    flat = torch.full((1, 3, 16, 16), 0.5)
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(1, 3, 16, 16)  # smooth content
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert encoder.front_end(flat).abs().max() < 1e-6
        assert encoder.front_end(ramp)[..., 2:-2, 2:-2].abs().max() < 1e-5  # the filter annihilates linear ramps
        assert encoder.front_end(noise).abs().mean() > 0.1
        assert encoder(noise).shape == (1, 128)


def test_latent_npr_front_end_keeps_npr_and_adds_the_8px_cell_residual():
    from aidetect.models.encoder import LatentNPRFrontEnd, NPRFrontEnd

    front_end = LatentNPRFrontEnd()
    x = torch.rand(2, 3, 32, 32)
    out = front_end(x)
    assert out.shape == (2, 6, 32, 32)
    assert torch.equal(out[:, :3], NPRFrontEnd()(x))  # an npr model's input, unchanged
    # constant 2×2 blocks varying inside 8×8 cells: nothing for NPR, everything for the cell residual
    blocks = torch.rand(1, 3, 16, 16).repeat_interleave(2, -1).repeat_interleave(2, -2)
    out = front_end(blocks)
    assert out[:, :3].abs().max() < 1e-6 and out[:, 3:].abs().max() > 0.1
    # constant 8×8 cells (content below the cell's period): nothing at all
    cells = torch.rand(1, 3, 4, 4).repeat_interleave(8, -1).repeat_interleave(8, -2)
    assert front_end(cells).abs().max() < 1e-6


def test_latent_npr_raises_the_crop_grid_to_its_cell_and_refuses_one_out_of_phase(synthetic_data, tmp_path):
    assert apply_recipe("fingerprint", {"front_end": "npr-latent", "grid": None})["grid"] == 8
    assert apply_recipe("fingerprint", {"front_end": "npr-latent", "grid": 16})["grid"] == 16
    assert apply_recipe("fingerprint", {"front_end": None, "grid": None})["grid"] == 2  # the recipe's, as before
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(tmp_path / "m"), "--recipe", "fingerprint",
                             "--front-end", "npr-latent", "--grid", "4", "--epochs", "0"])
    assert result.exit_code == 2
    assert "--front-end npr-latent works on 8×8 cells: give --grid 8" in result.output
    assert not (tmp_path / "m").exists()


def test_an_npr_model_starts_an_npr_latent_one_computing_the_same_embeddings(synthetic_data, tmp_path):
    from aidetect.models.model_dir import load_model

    npr, latent = tmp_path / "npr", tmp_path / "latent"
    common = ["--data", str(synthetic_data), "--recipe", "fingerprint", "--image-size", "32", "--train-image-size", "16"]
    result = train_tiny_cli([*common, "--out", str(npr), "--epochs", "1"])
    assert result.exit_code == 0, result.output
    result = train_tiny_cli([*common, "--out", str(latent), "--init", str(npr), "--front-end", "npr-latent", "--epochs", "0"])
    assert result.exit_code == 0, result.output
    source, widened = load_model(npr), load_model(latent)
    assert widened.config.architecture.front_end == "npr-latent" and widened.config.preprocess.grid == 8
    stem = "trunk.0.weight"
    assert widened.encoder.state_dict()[stem].shape[1] == 6
    assert torch.equal(widened.encoder.state_dict()[stem][:, :3], source.encoder.state_dict()[stem])
    assert widened.encoder.state_dict()[stem][:, 3:].abs().max() == 0  # the new channels start at zero
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(widened.encoder(x), source.encoder(x), atol=1e-5)
    # the other way round is not a widening: refused before anything is written
    result = train_tiny_cli([*common, "--out", str(tmp_path / "back"), "--init", str(latent), "--epochs", "0"])
    assert result.exit_code == 2 and "front_end differ" in result.output


def test_latent_npr_takes_sides_that_are_not_multiples_of_8():
    from aidetect.models.encoder import LatentNPRFrontEnd

    x = torch.rand(1, 3, 36, 44)
    out = LatentNPRFrontEnd()(x)
    assert out.shape == (1, 6, 36, 44) and torch.isfinite(out).all()
    # whole cells are as on a crop of them: padding touches only the last, partial cells
    assert torch.allclose(out[..., :32, :40], LatentNPRFrontEnd()(x[..., :32, :40]), atol=1e-6)


def test_a_torchvision_weights_file_starts_an_npr_latent_encoder(tmp_path):
    from safetensors.torch import save_file

    from aidetect.models.efficientnet import efficientnet_b0_features
    from aidetect.models.encoder import Encoder
    from aidetect.models.init_weights import load_initial_weights

    rgb = efficientnet_b0_features(1)
    path = tmp_path / "b0.safetensors"
    save_file({f"features.{k}": v.contiguous() for k, v in rgb.state_dict().items()}, str(path))
    encoder = Encoder(ArchitectureConfig(name="efficientnet_b0", front_end="npr-latent", stem_stride=1))
    load_initial_weights(encoder, str(path))
    stem = encoder.trunk.state_dict()["0.0.0.weight"]
    assert torch.equal(stem[:, :3], rgb.state_dict()["0.0.weight"]) and stem[:, 3:].abs().max() == 0


def test_the_library_refuses_an_npr_latent_run_off_the_cell_grid(synthetic_data, tmp_path):
    from aidetect.training import Trainer

    from conftest import tiny_train_options

    options = tiny_train_options(synthetic_data, tmp_path / "m", front_end="npr-latent", grid=4)
    with pytest.raises(AidetectError, match="front-end npr-latent works on 8×8 cells: set the preprocessing grid to 8"):
        Trainer(options)
    assert not (tmp_path / "m").exists()
