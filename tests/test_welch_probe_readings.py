"""The readings benchmarks/zoo/welch_learned_probe.py measures beside the product's: the Welch
spectrum on a log-polar grid (--net logpolar) and a JPEG re-save before reading (--canonical-jpeg)."""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image

from helpers import load_script


def _probe():
    return load_script("benchmarks/zoo/welch_learned_probe.py", "welch_learned_probe_under_test")


def _striped(period: float, size: int = 256, direction: str = "x") -> torch.Tensor:
    """A grey image with a stripe trace of ``period`` pixels over a little noise: along x (vertical
    stripes), y (horizontal ones) or x+y (diagonal)."""
    generator = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    phase = {"x": x, "y": y, "x+y": x + y}[direction]
    image = 0.5 + 0.02 * torch.rand(1, 3, size, size, generator=generator)
    return image + 0.2 * torch.cos(2 * math.pi * phase / period)[None, None]


def _peak(probe, image: torch.Tensor) -> tuple[float, float]:
    """(direction in degrees, radius in cycles per pixel) of the strongest anisotropic log-polar bin."""
    from aidetect.models.welch import WelchPowerSpectrum

    polar = probe.LogPolarSpectrum()
    reading = polar(WelchPowerSpectrum()(image))[0, :-1]  # the direction channels, not the slope
    angle, radius = divmod(int(reading.argmax()), polar.radii)
    lowest, highest = 2 / polar.tile, probe.LOG_POLAR_HIGHEST
    return -90 + 180 * angle / polar.angles, lowest * (highest / lowest) ** (radius / (polar.radii - 1))


def test_a_trace_lands_at_its_direction_and_radius_and_a_resize_moves_it_along_the_radius():
    probe = _probe()
    angle, radius = _peak(probe, _striped(8))
    assert angle == 0 and abs(radius - 1 / 8) < 0.01  # horizontal frequency 1/8 cycle per pixel
    # the same trace at twice the period (an image upscaled 2x) sits one octave lower, same direction
    angle2, radius2 = _peak(probe, _striped(16))
    assert angle2 == 0 and abs(math.log2(radius / radius2) - 1) < 0.1


def test_diagonal_and_nyquist_traces_land_where_their_frequencies_are():
    probe = _probe()
    # (fx, fy) = (1/8, 1/8): 45° (rows are fy, downward), radius √2/8
    angle, radius = _peak(probe, _striped(8, direction="x+y"))
    assert angle == 45 and abs(radius - math.sqrt(2) / 8) < 0.01
    # horizontal stripes at 2 px: fy = 1/2, the Nyquist row the grid reads from its periodic copy
    angle, radius = _peak(probe, _striped(2, direction="y"))
    assert angle == -90 and abs(math.log2(radius / 0.5)) < 0.1  # within a bin of the geometric radius axis


def test_the_log_polar_net_gives_unit_embeddings_and_a_hidden_layer():
    probe = _probe()
    net = probe.LogPolarNet(32).eval()
    raw = torch.randn(4, 64 * 33)
    assert torch.allclose(net(raw).norm(dim=1), torch.ones(4), atol=1e-5)
    assert net.hidden(raw).shape == (4, 32)


def test_canonical_jpeg_reads_the_image_as_saved_at_its_quality():
    probe = _probe()
    from aidetect.models.welch import WelchPowerSpectrum

    class Reader(torch.nn.Module):
        feature = "welch"

        def forward(self, images):
            return WelchPowerSpectrum()(images)

    image = _striped(8).clamp(0, 1)
    pixels = (image[0] * 255).round().byte().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    saved = torch.from_numpy(np.asarray(Image.open(buffer).convert("RGB")).copy()).permute(2, 0, 1).float()[None] / 255
    canonical = probe.CanonicalJPEG(Reader(), 90)
    assert canonical.feature == "welch-jpeg90"  # its own cache keys
    assert torch.allclose(canonical(image), Reader()(saved))
    assert not torch.allclose(canonical(image), Reader()(image))


def test_the_probe_runs_each_new_option_through_main(tmp_path, capsys):
    """--net logpolar, --gallery-views, --detection-scores, --canonical-jpeg and --jpeg-p in one
    short run on a 64-px synthetic zoo: every table they add is printed and written."""
    import json

    from synthetic import write_folders_dataset

    zoo = write_folders_dataset(tmp_path / "zoo", ["real", "gen_a", "gen_b", "gen_c"], 60, 0, 6, size=64)
    out = tmp_path / "o.json"
    probe = _probe()
    assert probe.main([str(zoo), "--image-size", "64", "--views", "2", "--leave-out", "gen_c", "--epochs", "1",
                       "--hidden", "16", "--per-class", "4", "--read-hidden", "--net", "logpolar", "--gallery-views", "2",
                       "--detection-scores", "--canonical-jpeg", "95", "--jpeg-p", "1", "--conditions", "clean",
                       "--k", "3", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "supcon-logpolar, gallery of 2 views | clean | all |" in printed
    assert "| logpolar-hidden | clean | 50 | logistic regression |" in printed
    rows = json.loads(out.read_text())["rows"]
    scored = [r for r in rows if "detection_score" in r]
    assert {r["detection_score"] for r in scored} >= {"gap, k = 11", "real side alone, k = 11", "class-mean gap"}
    assert all(0 <= r["seen_auc"] <= 100 and 0 <= r["zero_shot_auc"] <= 100 for r in scored)


def test_the_probe_trains_with_a_classifier_loss_and_wild_views(tmp_path, capsys, monkeypatch):
    """--loss (ce-unit, normface, ce) names the reading after the loss, and --wild-views adds training
    rows only: the MLP trains on views + wild views, the gallery holds the --gallery-views alone."""
    import json

    import pytest

    from synthetic import write_folders_dataset

    zoo = write_folders_dataset(tmp_path / "zoo", ["real", "gen_a", "gen_b"], 40, 0, 6, size=64)
    n_train = 3 * 40
    probe = _probe()
    trained_rows, gallery_rows = [], []
    train_mlp, score_conditions = probe.train_mlp, probe.score_conditions
    monkeypatch.setattr(probe, "train_mlp", lambda x, *a, **k: trained_rows.append(len(x)) or train_mlp(x, *a, **k))
    monkeypatch.setattr(probe, "score_conditions",
                        lambda readings, train, *a, **k: gallery_rows.append(len(train)) or score_conditions(readings, train, *a, **k))
    for loss in ("ce-unit", "normface", "ce"):
        out = tmp_path / f"{loss}.json"
        trained_rows.clear(), gallery_rows.clear()
        assert probe.main([str(zoo), "--image-size", "64", "--views", "2", "--gallery-views", "2", "--wild-views", "1",
                           "--loss", loss, "--epochs", "1", "--hidden", "16", "--per-class", "4", "--conditions", "clean",
                           "--k", "3", "--json", str(out)]) == 0
        assert f"| {loss}-mlp | clean | all |" in capsys.readouterr().out
        written = json.loads(out.read_text())
        assert written["loss"] == loss and written["wild_views"] == 1
        assert trained_rows == [3 * n_train]  # the clean view, one augmented, one wild
        assert gallery_rows == [n_train, 2 * n_train]  # the product's gallery, then with --gallery-views 2: no wild row
    # a classifier loss is refused beside the log-polar net, before any image is read
    with pytest.raises(SystemExit):
        probe.main([str(zoo), "--loss", "ce", "--net", "logpolar"])
    assert "--loss normface, ce and ce-unit train the plain MLP" in capsys.readouterr().err


def test_the_probe_classifier_losses_are_cross_entropy_over_their_logits():
    probe = _probe()
    torch.manual_seed(0)
    model = probe.SpectrumMLP(np.zeros(8, dtype=np.float32), np.ones(8, dtype=np.float32), 6)
    model.eval()
    x, labels = torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1])
    for kind in ("normface", "ce-unit", "ce"):
        loss = probe.ClassifierLoss(kind, 3, 0.5)
        head = loss.head
        if kind == "normface":
            logits = model(x) @ torch.nn.functional.normalize(head.weight, dim=1).T / 0.5
        elif kind == "ce-unit":
            logits = head(model(x)) / 0.5
        else:
            logits = head(model.unnormalised(x))
        expected = torch.nn.functional.cross_entropy(logits, labels)
        assert torch.allclose(loss(model, x, labels), expected)
