"""benchmarks/zoo/format_shortcut.py: a generator's images under a condition against clean photographs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from helpers import load_script


def _load():
    return load_script("benchmarks/zoo/format_shortcut.py", "format_shortcut_under_test")


def _predictions(folder: Path, rows) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "true_class", "predicted_class", "score_ai", "confidence", "perturbation"])
        for i, (truth, predicted, score, condition) in enumerate(rows):
            writer.writerow([f"/zoo/test/{truth}/{i}.png", truth, predicted, f"{score:.6f}", "1.0", condition])
    return folder


def _shortcut_rows():
    """`gen` is told apart from the photographs when clean and passes as real once saved as JPEG 95;
    `other` is told apart either way."""
    rows = []
    for i in range(4):
        for condition in ("clean", "jpeg:95"):
            rows.append(("real", "real", 0.1 + 0.01 * i, condition))
            rows.append(("other", "other", 0.9 + 0.01 * i, condition))
        rows.append(("gen", "gen", 0.8 + 0.01 * i, "clean"))
        rows.append(("gen", "real" if i < 3 else "gen", 0.05 + 0.01 * i, "jpeg:95"))
    return rows


def test_a_generator_that_passes_as_real_once_saved_like_a_photograph(tmp_path, capsys):
    probe = _load()
    table = probe.shortcut_table(probe.read_rows(_predictions(tmp_path / "eval", _shortcut_rows()) / "predictions.csv"), "jpeg:95")
    assert table["gen"]["auc_clean"] == 1.0
    # gen's JPEG scores 0.05-0.08 against the clean photographs' 0.10-0.13: every pair ranks the photograph as AI
    assert table["gen"]["auc_real_clean_vs_condition"] == 0.0
    assert table["gen"]["called_real_clean"] == 0.0 and table["gen"]["called_real_condition"] == pytest.approx(0.75)
    assert table["other"]["auc_real_clean_vs_condition"] == 1.0 and table["other"]["called_real_condition"] == 0.0
    assert probe.main([str(tmp_path / "eval")]) == 0
    printed = capsys.readouterr().out
    assert "| gen | 100.0 | 0.0 | 0.0 | 0.0 % → 75.0 % |" in printed


def test_a_missing_evaluation_or_condition_is_refused_in_one_line(tmp_path, capsys):
    probe = _load()
    assert probe.main([str(tmp_path / "none")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "predictions.csv not found" in error and "--perturb jpeg:95" in error
    folder = _predictions(tmp_path / "eval", [r for r in _shortcut_rows() if r[3] == "clean"])
    assert probe.main([str(folder)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no rows of gen jpeg:95, other jpeg:95, real jpeg:95" in error and "its conditions: clean" in error


def test_a_generator_without_rows_under_the_condition_is_refused_in_one_line(tmp_path, capsys):
    probe = _load()
    rows = [r for r in _shortcut_rows() if not (r[0] == "gen" and r[3] == "jpeg:95")]
    assert probe.main([str(_predictions(tmp_path / "eval", rows))]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no rows of gen jpeg:95" in error
