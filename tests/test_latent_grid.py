"""benchmarks/zoo/latent_grid.py: spectral bands and 8-px cell peaks as detectors of the latent-decoder
classes, no training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import load_script

DECODERS = ("taesd-sd1", "taesd-sdxl", "taesd-sd3", "taesd-flux1", "taesd-flux2")


def _load():
    return load_script("benchmarks/zoo/latent_grid.py", "latent_grid_under_test")


def _noise(rng, side=64) -> np.ndarray:
    """A smooth random 'photograph': white noise blurred by a 4×4 box, in 0..255."""
    noise = rng.normal(0, 1, (side + 3, side + 3))
    box = sum(noise[i:i + side, j:j + side] for i in range(4) for j in range(4)) / 4.0
    return np.clip(128 + 30 * box, 0, 255)


def _with_period(grey: np.ndarray, period: int, amplitude: float) -> np.ndarray:
    """grey plus a pattern repeating every ``period`` pixels on both axes."""
    side = grey.shape[0]
    wave = np.cos(2 * np.pi * np.arange(side) / period)
    return np.clip(grey + amplitude * (wave[None, :] + wave[:, None]), 0, 255)


def _write(folder: Path, images) -> None:
    folder.mkdir(parents=True)
    for i, grey in enumerate(images):
        Image.fromarray(np.round(grey).astype(np.uint8)).convert("RGB").save(folder / f"w{i:02d}.png")


def test_a_pattern_with_the_cells_4px_period_shows_at_the_2_8_peak_only():
    probe = _load()
    rng = np.random.default_rng(0)
    names = probe.feature_names()
    plain = [probe.features(_noise(rng)) for _ in range(12)]
    marked = [probe.features(_with_period(_noise(rng), 4, 6.0)) for _ in range(12)]
    table = probe.auc_table({"real": np.array(plain), "taesd-flux1": np.array(marked)})
    assert table["cell peak 2/8"]["taesd-flux1"] == 1.0  # 1/4 cycle per pixel: the pattern's frequency
    # a period of 4 px puts nothing at 1/8 or 3/8, which only a period of 8 fills
    assert 0.2 < table["cell peak 1/8"]["taesd-flux1"] < 0.8 and 0.2 < table["cell peak 3/8"]["taesd-flux1"] < 0.8
    assert set(table) == set(names) and len(names) == len(plain[0])


def test_features_refuse_an_image_off_the_cell():
    probe = _load()
    with pytest.raises(ValueError, match="multiple of 8"):
        probe.features(np.zeros((60, 60)))


def test_end_to_end_on_a_tiny_zoo_writes_the_table_and_the_features(tmp_path, capsys):
    probe = _load()
    rng = np.random.default_rng(1)
    _write(tmp_path / "test" / "real", [_noise(rng) for _ in range(6)])
    for decoder in DECODERS:
        _write(tmp_path / "test" / decoder, [_with_period(_noise(rng), 8, 12.0) for _ in range(6)])
    out = tmp_path / "grid.json"
    assert probe.main([str(tmp_path), "--per-class", "5", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["condition"] == "clean" and len(record["files"]["real"]) == 5
    assert all(record["auc"]["cell peak 1/8"][d] == 1.0 for d in DECODERS)  # an 8-px period: its first harmonic
    printed = capsys.readouterr().out
    assert "| cell peak 1/8 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 |" in printed


def test_a_zoo_without_the_decoder_classes_is_refused_in_one_line(tmp_path, capsys):
    probe = _load()
    _write(tmp_path / "test" / "real", [_noise(np.random.default_rng(2)) for _ in range(3)])
    assert probe.main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "lacks images of taesd-sd1" in error and "docs/zoo-data.md" in error


def test_an_image_too_small_after_the_condition_is_refused_in_one_line(tmp_path, capsys):
    probe = _load()
    rng = np.random.default_rng(3)
    for name in ("real", *DECODERS):
        _write(tmp_path / "test" / name, [_noise(rng, side=24) for _ in range(2)])
    assert probe.main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "too small for the probe" in error


def test_the_half_cycle_peak_reads_a_neighbour_on_each_side():
    """-1/2 sits at the spectrum's first bin: its outer neighbour wraps round (the DFT is periodic), so
    a spectrum flat but for a raised bin two to the right of the peak counts it once, on that side."""
    probe = _load()
    side = 64
    power = np.zeros((side, side))
    power[side // 2, 2] = 4.0  # two bins inside from -1/2 on the horizontal axis
    original = probe.log_power
    probe.log_power = lambda grey: power
    try:
        values = probe.features(np.zeros((side, side)))
    finally:
        probe.log_power = original
    # -1/2's neighbours: bins 62 (wrapped) and 2 on each axis, 4 in all; only one holds 4.0
    assert values[probe.feature_names().index("cell peak 4/8")] == pytest.approx(0.0 - 4.0 / 4)
