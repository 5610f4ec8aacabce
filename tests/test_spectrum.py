import math

import pytest
import torch

from aidetect.models.spectrum import SpectrumFeatures, expected_bin


def _pattern(kind: str, size: int = 64) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    return {
        "checkerboard": torch.cos(math.pi * (x + y)),  # (0.5, 0.5): the 2x2 up-sampling grid
        "stripes-4": torch.cos(2 * math.pi * x / 4),  # (0, 0.25): a 4x4 grid
        "diagonal-3": torch.cos(2 * math.pi * (x + y) / 3),
    }[kind]


FREQUENCIES = {"checkerboard": (0.5, 0.5), "stripes-4": (0.0, 0.25), "diagonal-3": (1 / 3, 1 / 3)}


@pytest.mark.parametrize("kind", sorted(FREQUENCIES))
def test_periodic_pattern_peaks_at_its_frequency(kind):
    torch.manual_seed(0)
    features = SpectrumFeatures(n_bins=64)
    noise = torch.rand(1, 1, 64, 64) * 0.2 + 0.4
    plain = features.raw(noise.expand(1, 3, 64, 64))[0]
    patterned = features.raw((noise + 0.1 * _pattern(kind)).expand(1, 3, 64, 64))[0]
    expected = expected_bin(*FREQUENCIES[kind], 64, 64, 64)
    # The Hann window spreads a pure tone over about +-2 bins.
    assert abs(int((patterned - plain).argmax()) - expected) <= 2
    assert float((patterned - plain)[expected]) > 0.05


def test_fit_standardises_and_encoder_normalises():
    from aidetect.config import ArchitectureConfig
    from aidetect.models.encoder import Encoder

    encoder = Encoder(ArchitectureConfig(name="spectrum", embedding_dim=32))
    images = torch.rand(20, 3, 32, 32)
    assert encoder.trunk.fit([images[:10], images[10:]]) == 20
    standardised = encoder.trunk(images)
    assert torch.allclose(standardised.mean(0), torch.zeros(32), atol=1e-4)
    out = encoder(images)
    assert out.shape == (20, 32) and torch.allclose(out.norm(dim=1), torch.ones(20), atol=1e-5)
    assert not any(p.requires_grad for p in encoder.parameters())


def test_train_arch_spectrum_makes_a_usable_model(synthetic_data, tmp_path):
    from aidetect.inference import classify_paths, open_session
    from aidetect.training import train
    from conftest import tiny_train_options

    out = tmp_path / "spectrum"
    result = train(tiny_train_options(synthetic_data, out, arch="spectrum", preprocess_mode="crop", gallery_per_class=30))
    assert result.config.architecture.name == "spectrum" and result.config.training["optimizer"] is None
    session = open_session(out, device="cpu")
    records = classify_paths(session, [synthetic_data / "test"], task="attribute", progress=None)
    accuracy = sum(r["label"] == r["path"].split("/")[-2] for r in records) / len(records)
    assert accuracy > 0.7, accuracy
