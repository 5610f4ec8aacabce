"""The stage readout (aidetect.models.readout): an embedding read from the trunk's stages with
training-split statistics, and `aidetect train --readout stages`."""

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
from aidetect.models.readout import StageReadout
from helpers import assert_attributes_folder, train_tiny_cli

runner = CliRunner()


def _classes(n_per_class=200, features=16, classes=4, seed=0):
    """Pooled features of ``classes`` classes whose within-class spread is far from isotropic."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(features, features)) * rng.uniform(0.1, 10, size=features)
    centres = rng.normal(scale=3, size=(classes, features))
    x = np.concatenate([centres[c] + rng.normal(size=(n_per_class, features)) @ mixing for c in range(classes)])
    y = np.repeat(np.arange(classes), n_per_class)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def _fit(x, y, dim=6, shrinkage=0.0):
    readout = StageReadout([3, 5], dim)  # blocks of 3, 3, 5, 5 pooled features
    seen = readout.fit([(x[:300], y[:300]), (x[300:], y[300:])], shrinkage=shrinkage)
    assert seen == len(x)
    return readout


def test_without_shrinkage_the_spread_within_each_training_class_is_the_same_in_every_direction():
    x, y = _classes()
    z = _fit(x, y).forward(x).double()
    within = sum(torch.cov((z[y == c] - z[y == c].mean(0)).T, correction=0) * (y == c).sum() for c in range(4)) / len(z)
    assert torch.allclose(within, torch.eye(6, dtype=torch.float64), atol=1e-3)
    assert torch.allclose(z.mean(0), torch.zeros(6, dtype=torch.float64), atol=1e-3)  # centred on the training mean


def test_the_readout_does_not_depend_on_the_units_of_a_pooled_feature():
    # Standardised first: a stage whose activations are 1000x larger must not dominate.
    x, y = _classes()
    scale = torch.tensor(np.random.default_rng(1).uniform(1e-3, 1e3, size=16), dtype=torch.float32)
    a = torch.nn.functional.normalize(_fit(x, y, shrinkage=0.1).forward(x).double(), dim=1)
    b = torch.nn.functional.normalize(_fit(x * scale, y, shrinkage=0.1).forward(x * scale).double(), dim=1)
    assert torch.allclose(a @ a.T, b @ b.T, atol=1e-3)  # the same cosine similarities (axes may differ in sign)


def test_the_readout_reads_in_float32_under_bf16_autocast():
    """Embedding runs under bf16 autocast on CUDA; the readout's map was fitted in float64 and a bf16
    matmul would round it (checked here with the CPU's bf16 autocast, the same dispatch)."""
    x, y = _classes()
    readout = _fit(x, y)
    plain = readout(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = readout(x)
    assert under.dtype == torch.float32 and torch.allclose(under, plain, atol=1e-5)


def test_fitting_needs_two_classes_and_more_images_than_dimensions():
    x, y = _classes(n_per_class=5)
    with pytest.raises(AidetectError, match="at least two classes"):
        StageReadout([3, 5], 6).fit([(x, torch.zeros(len(x), dtype=torch.long))])
    with pytest.raises(AidetectError, match="more than 6 images"):
        StageReadout([3, 5], 6).fit([(x[:4], y[:4])])


def test_an_encoder_with_an_unfitted_readout_refuses_to_embed_and_its_head_is_unchanged():
    torch.manual_seed(0)
    stages = Encoder(ArchitectureConfig(name="tiny", readout="stages")).eval()
    head = Encoder(ArchitectureConfig(name="tiny")).eval()
    head.load_state_dict({k: v for k, v in stages.state_dict().items() if not k.startswith("readout.")})
    x = torch.rand(3, 3, 32, 32)
    with pytest.raises(AidetectError, match="no statistics yet"):
        stages(x)
    with torch.no_grad():
        assert torch.equal(stages.trained_embedding(x), head(x))  # what the loss trains is the head either way
    assert stages.readout.features == 2 * (16 + 32 + 64)  # mean and spread of the tiny trunk's three blocks


def test_unknown_readout_is_refused():
    with pytest.raises(AidetectError, match="unknown readout 'neck'"):
        Encoder(ArchitectureConfig(name="tiny", readout="neck"))


def test_training_with_the_stage_readout_fits_it_on_the_training_split(tiny_model, synthetic_data, tmp_path):
    out = tmp_path / "stages"
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(out), "--init", str(tiny_model), "--epochs", "0",
                             "--readout", "stages"])
    assert result.exit_code == 0, result.output
    model, source = load_model(out), load_model(tiny_model)
    assert model.config.architecture.readout == "stages"
    assert model.config.training["readout_fit_images"] == 4 * 60  # every training image of the 4 classes
    for key, value in source.encoder.state_dict().items():  # trunk and head kept as trained
        assert torch.equal(model.encoder.state_dict()[key], value), key
    assert bool(model.encoder.readout.fitted) and model.encoder.readout.projection.abs().sum() > 0
    gallery = Gallery.load(out / "gallery.npz", expected_model_fingerprint=model.config.fingerprint)
    assert gallery.embedding_dim == 128 and len(gallery) == 40
    assert_attributes_folder(out, synthetic_data / "test" / "gen_a", "gen_a", 20)
    info = json.loads(runner.invoke(app, ["info", "--model", str(out), "--json"]).stdout)
    assert info["recipe"]["readout"] == "stages" and info["embedding_dim"] == 128


def test_the_hidden_layers_width_is_an_option_that_an_init_must_repeat(tiny_model, synthetic_data, tmp_path):
    """`--projection-hidden`: the width the hidden readout reads; --init from a model of another
    width is refused, naming the option, before anything is written."""
    out = tmp_path / "wide"
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(out), "--projection-hidden", "24", "--epochs", "0",
                             "--readout", "hidden", "--embedding-dim", "16"])
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.config.architecture.projection_hidden == 24 and model.encoder.readout.features == 24
    assert Gallery.load(out / "gallery.npz", expected_model_fingerprint=model.config.fingerprint).embedding_dim == 16
    assert load_model(tiny_model).config.architecture.projection_hidden != 24
    refused = train_tiny_cli(["--data", str(synthetic_data), "--out", str(tmp_path / "x"), "--init", str(tiny_model),
                              "--projection-hidden", "24", "--epochs", "0"])
    assert refused.exit_code == 2 and "projection_hidden differ" in refused.output, refused.output
    assert not (tmp_path / "x" / "config.json").exists()


def test_a_half_precision_model_keeps_its_readout_statistics_in_float32(tmp_path):
    from aidetect.config import ModelConfig
    from aidetect.models.model_dir import save_model
    from aidetect.models.weights import read_safetensors

    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig(name="tiny", readout="stages", embedding_dim=8)).eval()
    x, y = torch.rand(40, 3, 32, 32), torch.arange(40) % 4
    with torch.no_grad():
        encoder.readout.fit([(encoder.pooled_stages(x), y)])
    save_model(tmp_path, encoder, ModelConfig(architecture=encoder.arch), half=True)
    state = read_safetensors(tmp_path / "model.safetensors")
    assert state["readout.mean"].dtype == state["readout.projection"].dtype == torch.float32
    assert state["head.0.weight"].dtype == torch.float16
    reloaded = load_model(tmp_path).encoder
    with torch.no_grad():
        assert torch.allclose(reloaded.readout(encoder.pooled_stages(x)), encoder.readout(encoder.pooled_stages(x)))


def test_inference_preprocessing_with_the_recipes_augmentation_is_seeded_per_image(synthetic_data):
    # What the readout's statistics are fitted on: inference's centre crop, after the recipe's JPEG.
    from aidetect.config import AugmentConfig, PreprocessConfig
    from aidetect.data.dataset import ImageFileDataset

    paths = sorted(str(p) for p in (synthetic_data / "train" / "gen_a").iterdir())[:3]
    preprocess = PreprocessConfig(image_size=16, mode="crop")
    plain = ImageFileDataset(paths, None, preprocess)
    jpeg = [ImageFileDataset(paths, None, preprocess, augment=AugmentConfig(jpeg_p=1.0), seed=s) for s in (0, 0, 1)]
    for i in range(3):
        a, b, c = (d[i][1] for d in jpeg)
        assert a.shape == plain[i][1].shape == (3, 16, 16)
        assert np.array_equal(a, b) and not np.array_equal(a, plain[i][1])  # seeded, and re-encoded
    assert any(not np.array_equal(jpeg[0][i][1], jpeg[2][i][1]) for i in range(3))  # another seed, other qualities


def test_an_unknown_readout_is_a_usage_error_before_anything_is_written(synthetic_data, tmp_path):
    result = train_tiny_cli(["--data", str(synthetic_data), "--out", str(tmp_path / "r"), "--epochs", "0", "--readout", "neck"])
    assert result.exit_code == 2 and "--readout neck: choose one of head, stages, hidden" in result.output, result.output
    assert not (tmp_path / "r").exists()


def test_a_config_naming_an_unknown_readout_is_refused_as_damaged():
    from aidetect.errors import CorruptFileError

    with pytest.raises(CorruptFileError, match="architecture.readout is 'neck'; give one of head, stages, hidden"):
        ArchitectureConfig(name="tiny", readout="neck").validate()


def test_the_hidden_readout_reads_the_cnn_heads_hidden_layer_of_the_learned_window():
    """A CNN's 2-layer head (Linear → ReLU → Linear): the readout reads the ReLU's output on the
    centre window the head sees (``learned_crop``), and the spectrum is fused beside it as with the head."""
    torch.manual_seed(0)
    arch = ArchitectureConfig(name="tiny", projection_hidden=24, embedding_dim=8, readout="hidden",
                              learned_crop=16, spectrum_weight=0.3)
    encoder = Encoder(arch).eval()
    x, y = torch.rand(48, 3, 32, 32), torch.arange(48) % 4
    with torch.no_grad():
        encoder.spectrum.fit([x])
        encoder.readout.fit([(encoder.readout_features(x), y)])
        window = x[..., 8:24, 8:24]  # the centre 16 px of 32, on the 4-px grid
        hidden = encoder.head[:-1](encoder.features(window))
        assert hidden.shape == (48, 24) and (hidden >= 0).all()  # after the ReLU
        assert torch.allclose(encoder.readout_features(x), hidden)
        fused = encoder(x)
        expected = encoder._embed(x, lambda images: encoder.readout(hidden))
        assert fused.shape == (48, 8 + 128) and torch.allclose(fused, expected, atol=1e-6)
        assert not torch.allclose(fused, encoder._embed(x, encoder._head_output))  # not the head's output


def test_a_unit_that_fires_on_a_few_images_does_not_decide_the_hidden_readout():
    """Standardised by its tiny spread, a ReLU unit that fires on 1 image in 500 would weigh
    hundreds of times the others; the hidden readout floors every spread at 1 % of the median."""
    from aidetect.models.readout import FittedReadout, HiddenReadout

    x, y = _classes(n_per_class=125, features=16)
    rare = torch.zeros(len(x), 1)
    rare[7] = 0.05  # fires once, weakly: spread ≈ 0.002 against the others' ≈ 10
    features = torch.cat([x, rare], dim=1)
    readout = HiddenReadout(17, 6)
    readout.fit([(features, y)], shrinkage=0.1)
    query = features[:1].clone()
    moved = query.clone()
    moved[0, -1] = 0.05  # the rare unit fires on this query too
    a, b = (torch.nn.functional.normalize(readout(q), dim=1) for q in (query, moved))
    assert float((a * b).sum()) > 0.99  # the embedding barely moves
    plain = FittedReadout([17], 6)  # the same map without the floor, for contrast
    plain.fit([(features, y)], shrinkage=0.1)
    a, b = (torch.nn.functional.normalize(plain(q), dim=1) for q in (query, moved))
    assert float((a * b).sum()) < 0.9  # without it, one weak firing turns the embedding
