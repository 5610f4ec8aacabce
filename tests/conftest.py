"""Shared fixtures: tiny synthetic datasets and one tiny trained model per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Tests must never touch the user's real aidetect home or pick up their model.
os.environ.pop("AIDETECT_MODEL", None)
os.environ.pop("AIDETECT_DATA", None)

from synthetic import write_folders_dataset  # noqa: E402

SEEN_CLASSES = ["real", "gen_a", "gen_b", "gen_c"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("AIDETECT_HOME", str(tmp_path_factory.mktemp("aidetect_home")))
    monkeypatch.delenv("AIDETECT_MODEL", raising=False)
    monkeypatch.delenv("AIDETECT_DATA", raising=False)


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """Folders layout, 4 classes, 32-px images: 60 train / 15 val / 20 test per class."""
    return write_folders_dataset(tmp_path_factory.mktemp("data"), SEEN_CLASSES, 60, 15, 20)


def tiny_train_options(data: Path, out: Path, **overrides):
    from aidetect.training import TrainOptions

    options = dict(
        data=str(data), out=str(out), arch="tiny", image_size=32, batch_size=32, epochs=3, workers=0,
        lr=3e-3, warmup_epochs=0.5, gallery_per_class=60, device="cpu",
    )
    options.update(overrides)
    return TrainOptions(**options)


@pytest.fixture(scope="session")
def tiny_model(synthetic_data, tmp_path_factory) -> Path:
    """A tiny encoder trained for a few steps on the synthetic classes."""
    from aidetect.training import train

    out = tmp_path_factory.mktemp("model") / "tiny"
    train(tiny_train_options(synthetic_data, out))
    return out
