"""benchmarks/zoo/goal.py: the encoder issue's goal cells against the spectrum, judged on the runs' mean."""

from __future__ import annotations

import json

from helpers import load_script

CONDITIONS = ("clean", "jpeg:75", "wild:0")


def _load():
    return load_script("benchmarks/zoo/goal.py", "goal_under_test")


def _write(run, gallery, accuracy, auc, recalls=None, zero_shot=(), per_generator_auc=None):
    """One eval folder: overall accuracy / AUC per condition, and per-class recalls and per-generator AUCs."""
    folder = run / f"eval-g{gallery}"
    folder.mkdir(parents=True)
    recalls = recalls or {}
    per_generator_auc = per_generator_auc or {}
    results = {c: {"attribution": {"accuracy": accuracy,
                                   "per_class": {name: {"recall": r, "zero_shot": name in zero_shot} for name, r in recalls.items()}},
                   "detection": {"overall_auc": auc, "per_generator": {g: {"auc": a} for g, a in per_generator_auc.items()}}}
               for c in CONDITIONS}
    (folder / "metrics.json").write_text(json.dumps({"zero_shot_classes": list(zero_shot), "results": results}))


def test_cells_are_judged_on_the_mean_margin_of_the_runs(tmp_path, capsys):
    goal = _load()
    recalls = {"a": 0.40, "b": 0.20, "real": 0.5}
    aucs = {"a": 0.70, "b": 0.60}
    for g in (0, 50):
        _write(tmp_path / "spectrum", g, 0.50, 0.70, recalls, per_generator_auc=aucs)
        _write(tmp_path / "s1", g, 0.70, 0.80)   # +20 accuracy, +10 AUC
        _write(tmp_path / "s2", g, 0.62, 0.90)   # +12 accuracy, +20 AUC
        _write(tmp_path / "out", g, 0.9, 0.9, {"a": 0.60, "b": 0.30, "real": 0.9}, zero_shot=("a", "b"),
               per_generator_auc={"a": 0.90, "b": 0.60})  # zero-shot: recall 45 vs 30, AUC 75 vs 65
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1"), str(tmp_path / "s2"),
                      "--upsampler", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "| seen | all | clean | accuracy | 50.0 | 70.0 / 62.0 | +20.0 / +12.0 | met (+16.0; 1 of 2 runs) |" in out
    assert "| seen | 50 | wild | AUC | 70.0 | 80.0 / 90.0 | +10.0 / +20.0 | short (+15.0; 1 of 2 runs) |" not in out
    assert "| seen | 50 | wild | AUC | 70.0 | 80.0 / 90.0 | +10.0 / +20.0 | met (+15.0; 1 of 2 runs) |" in out
    assert "| upsampler | all | JPEG 75 | accuracy | 30.0 | 45.0 | +15.0 | met (+15.0) |" in out
    assert "| upsampler | 50 | clean | AUC | 65.0 | 75.0 | +10.0 | short (+10.0) |" in out
    assert "seen accuracy 6 of 6; seen AUC 6 of 6; upsampler accuracy 6 of 6; upsampler AUC 0 of 6" in out


def test_a_missing_evaluation_names_the_folder(tmp_path, capsys):
    goal = _load()
    _write(tmp_path / "spectrum", 0, 0.5, 0.7)
    _write(tmp_path / "s1", 0, 0.7, 0.8)
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1")]) == 2
    error = capsys.readouterr().err
    assert "eval-g50/metrics.json is missing" in error and "gallery of 50 per class" in error


def test_leave_outs_of_different_classes_are_refused(tmp_path, capsys):
    goal = _load()
    for g in (0, 50):
        _write(tmp_path / "spectrum", g, 0.5, 0.7, {"a": 0.4, "b": 0.2, "c": 0.1})
        _write(tmp_path / "s1", g, 0.7, 0.8)
        _write(tmp_path / "o1", g, 0.7, 0.8, {"a": 0.4, "b": 0.2, "c": 0.1}, zero_shot=("a",))
        _write(tmp_path / "o2", g, 0.7, 0.8, {"a": 0.4, "b": 0.2, "c": 0.1}, zero_shot=("b",))
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1"),
                      "--latent", str(tmp_path / "o1"), str(tmp_path / "o2")]) == 2
    assert "the --latent runs must leave out the same classes" in capsys.readouterr().err
