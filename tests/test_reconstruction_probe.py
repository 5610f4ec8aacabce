"""benchmarks/zoo/reconstruction_probe.py: reconstruction error through each tiny autoencoder as a
detector of the latent-decoder classes.

The end-to-end test needs the TAESD weights (../shared/data/taesd) and is skipped without them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aidetect.data.perturb import parse_perturbation
from helpers import load_script

REPO = Path(__file__).resolve().parents[1]
TAESD_DIR = REPO.parent / "shared" / "data" / "taesd"
PHOTO = REPO.parent / "shared" / "data" / "photos" / "skimage_chelsea.jpg"


needs_weights = pytest.mark.skipif(not (TAESD_DIR / "SHA256SUMS").is_file() or not PHOTO.is_file(),
                                   reason=f"TAESD weights or the photo not found beside the repository ({TAESD_DIR})")


def _load():
    sys.path.insert(0, str(REPO / "benchmarks" / "zoo"))
    return load_script("benchmarks/zoo/reconstruction_probe.py", "reconstruction_probe_under_test")


def test_lower_error_scores_as_ai_generated_per_autoencoder():
    probe = _load()
    errors = {
        "real": {"ae-a": [0.010, 0.012, 0.011], "ae-b": [0.010, 0.012, 0.011]},
        # ae-a gives this generator's images back almost unchanged; ae-b no better than a photograph
        "gen": {"ae-a": [0.001, 0.002, 0.0015], "ae-b": [0.0105, 0.0115, 0.013]},
    }
    table = probe.detection_aucs(errors)
    assert table["ae-a"]["gen"] == 1.0
    # ae-b: gen's errors 0.0105 / 0.0115 / 0.013 against real's 0.010 / 0.011 / 0.012: gen scores
    # as AI (lower error) in 3 of the 9 pairs
    assert table["ae-b"]["gen"] == pytest.approx(3 / 9)


@pytest.mark.slow  # five autoencoders loaded and run twice: about 10 s
@needs_weights
def test_a_decoders_own_outputs_come_back_closer_than_photographs(tmp_path, capsys):
    """A tiny zoo: 64-px windows of a photo as `real`, and each autoencoder's reconstruction of them
    as its class. Through its own autoencoder a class comes back closer, on average, than the real
    windows it was made from (a decoded image lies on the decoder's outputs). Per image the content
    moves the error more than that (the windows' errors span 5x), which is why the probe reports
    AUCs over many images and not a per-image rule."""
    probe = _load()
    import torch
    import zoo_taesd

    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    windows = [photo[y:y + 64, x:x + 64] for y, x in ((0, 0), (64, 96), (128, 192), (200, 40))]
    (tmp_path / "test" / "real").mkdir(parents=True)
    for i, window in enumerate(windows):
        Image.fromarray(window).save(tmp_path / "test" / "real" / f"w{i}.png")
    torch.set_num_threads(1)
    autoencoders = {name: zoo_taesd.TinyAutoencoder(TAESD_DIR, name) for name in zoo_taesd.PAIRS}
    for name, autoencoder in autoencoders.items():
        (tmp_path / "test" / name).mkdir()
        for i, window in enumerate(windows):
            Image.fromarray(autoencoder.reconstruct(window)).save(tmp_path / "test" / name / f"w{i}.png")
    out = tmp_path / "probe.json"
    assert probe.main([str(tmp_path), "--taesd-dir", str(TAESD_DIR), "--per-class", "4", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    errors = record["errors"]
    for name in autoencoders:
        assert np.mean(errors[name][name]) < np.mean(errors["real"][name]), (name, errors[name][name], errors["real"][name])
    # the stored error is the interior error of the file as written, through that autoencoder
    image = probe.load_image(tmp_path / "test" / "taesd-sd3" / "w1.png", lambda im: im)
    direct = probe.interior_error(image, autoencoders["taesd-sd1"].reconstruct_float(image))
    assert errors["taesd-sd3"]["taesd-sd1"][1] == pytest.approx(direct, rel=1e-6)
    assert record["auc"] == probe.detection_aucs(errors)
    printed = capsys.readouterr().out
    assert "| taesd-sd1 | **" in printed and "(clean, 4 images per class)" in printed


def _plain_zoo(root, classes=("real", "taesd-sd1", "taesd-sdxl", "taesd-sd3", "taesd-flux1", "taesd-flux2")):
    """Two flat 64-px test images per class: enough for the probe's checks, not for its numbers."""
    for c in classes:
        (root / "test" / c).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (64, 64), (i, 0, 0)).save(root / "test" / c / f"w{i}.png")


def test_a_missing_weights_folder_is_refused_in_one_line(tmp_path, capsys):
    probe = _load()
    _plain_zoo(tmp_path)
    assert probe.main([str(tmp_path), "--taesd-dir", str(tmp_path / "none")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "SHA256SUMS" in error and error.count("\n") == 1


def test_a_zoo_without_latent_decoder_classes_is_refused(tmp_path, capsys):
    probe = _load()
    _plain_zoo(tmp_path, classes=("real",))
    # the zoo is checked before the weights are read, so this holds with or without them
    assert probe.main([str(tmp_path), "--taesd-dir", str(tmp_path / "no-weights")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {tmp_path}/test lacks images of taesd-sd1, ") and error.count("\n") == 1


def test_a_bad_condition_and_a_corrupt_image_are_one_line_errors(tmp_path, capsys):
    probe = _load()
    _plain_zoo(tmp_path)
    assert probe.main([str(tmp_path), "--condition", "jpeg:500"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "out of range" in error and error.count("\n") == 1
    (tmp_path / "test" / "real" / "w0.png").write_bytes(b"not a png")
    with pytest.raises(probe.AidetectError, match="w0.png: not a readable image"):
        probe.load_image(tmp_path / "test" / "real" / "w0.png", lambda im: im)
    with pytest.raises(probe.AidetectError, match="too small for the probe"):
        probe.load_image(tmp_path / "test" / "taesd-sd1" / "w0.png", parse_perturbation("resize:0.25"))
