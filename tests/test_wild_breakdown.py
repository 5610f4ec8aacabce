"""benchmarks/zoo/wild_breakdown.py: wild predictions split by the chain each image drew."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from aidetect.data.images import load_image
from aidetect.data.perturb import WildConditions
from helpers import load_script


def _load():
    return load_script("benchmarks/zoo/wild_breakdown.py", "wild_breakdown_under_test")


def test_groups_follow_the_chain():
    groups_of = _load().groups_of
    assert groups_of((("resize", 0.7), ("jpeg", 80.0))) == ("all", "downscaled", "JPEG")
    assert groups_of((("crop", 200.0), ("webp", 70.0), ("jpeg", 75.0))) == ("all", "native resolution", "WebP")
    assert groups_of(()) == ("all", "native resolution", "no lossy format")


def test_accuracy_per_group_matches_the_chains_evaluate_drew(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows, chains = [], []
    for i in range(24):
        path = tmp_path / f"img{i}.png"
        # an EXIF orientation: the pixels evaluate perturbs (and seeds the chain with) are load_image's,
        # turned upright, not the file's raw pixels
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path, exif=exif)
        chains.append([k for k, _ in WildConditions(0).chain(load_image(path)).steps])
        right = i % 3 != 0
        rows.append({"path": str(path), "true_class": "gen", "predicted_class": "gen" if right else "real",
                     "score_ai": "0.5", "confidence": "1.0", "perturbation": "wild:0"})
        rows.append({**rows[-1], "predicted_class": "real", "perturbation": "clean"})  # not counted
    run = tmp_path / "runs" / "m" / "eval-g0"
    run.mkdir(parents=True)
    with (run / "predictions.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert _load().main([str(tmp_path / "runs"), "m"]) == 0
    table = capsys.readouterr().out.splitlines()
    cells = dict(zip(table[0].strip("|").split(" | ")[1:], table[2].strip("|").split(" | ")[1:]))
    assert float(cells["all"]) == pytest.approx(100 * 16 / 24, abs=0.05)
    resized = [i for i, kinds in enumerate(chains) if "resize" in kinds]
    assert 0 < len(resized) < 24  # both groups present in this draw
    expected = 100 * sum(i % 3 != 0 for i in resized) / len(resized)
    assert float(cells["downscaled"]) == pytest.approx(expected, abs=0.05)


def test_a_run_without_wild_predictions_is_a_usage_error(tmp_path):
    run = tmp_path / "m" / "eval-g0"
    run.mkdir(parents=True)
    (run / "predictions.csv").write_text("path,true_class,predicted_class,score_ai,confidence,perturbation\n")
    with pytest.raises(SystemExit) as exc:
        _load().main([str(tmp_path), "m"])
    assert exc.value.code == 2


def test_a_missing_test_image_is_a_usage_error_naming_it(tmp_path, capsys):
    run = tmp_path / "m" / "eval-g0"
    run.mkdir(parents=True)
    (run / "predictions.csv").write_text("path,true_class,predicted_class,score_ai,confidence,perturbation\n"
                                         f"{tmp_path / 'gone.png'},gen,gen,0.5,1.0,wild:0\n")
    with pytest.raises(SystemExit) as exc:
        _load().main([str(tmp_path), "m"])
    assert exc.value.code == 2 and "gone.png" in capsys.readouterr().err
