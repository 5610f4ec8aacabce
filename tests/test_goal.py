"""benchmarks/zoo/goal.py: the encoder issue's goal cells against the spectrum, judged on the runs' mean."""

from __future__ import annotations

import json

from helpers import load_script

CONDITIONS = ("clean", "jpeg:75", "wild:0")


def _load():
    return load_script("benchmarks/zoo/goal.py", "goal_under_test")


def _write(run, gallery, accuracy, auc, recalls=None, zero_shot=(), per_generator_auc=None, data="/zoo", conditions=CONDITIONS):
    """One eval folder: overall accuracy / AUC per condition, and per-class recalls and per-generator AUCs."""
    folder = run / f"eval-g{gallery}"
    folder.mkdir(parents=True)
    recalls = recalls or {}
    per_generator_auc = per_generator_auc or {}
    results = {c: {"attribution": {"accuracy": accuracy,
                                   "per_class": {name: {"recall": r, "zero_shot": name in zero_shot} for name, r in recalls.items()}},
                   "detection": {"overall_auc": auc, "per_generator": {g: {"auc": a} for g, a in per_generator_auc.items()}}}
               for c in conditions}
    (folder / "metrics.json").write_text(json.dumps({"zero_shot_classes": list(zero_shot), "results": results,
                                                     "gallery_per_class": gallery or None, "data": data}))


def _spectrum_and_seen(tmp_path, recalls=None, aucs=None):
    for g in (0, 50):
        _write(tmp_path / "spectrum", g, 0.50, 0.70, recalls, per_generator_auc=aucs)
        _write(tmp_path / "s1", g, 0.70, 0.80)


def test_cells_are_judged_on_the_mean_margin_of_the_runs(tmp_path, capsys):
    goal = _load()
    recalls = {"a": 0.40, "b": 0.20, "real": 0.5}
    aucs = {"a": 0.70, "b": 0.60}
    _spectrum_and_seen(tmp_path, recalls, aucs)   # s1: +20 accuracy, +10 AUC
    for g in (0, 50):
        _write(tmp_path / "s2", g, 0.62, 0.90)    # +12 accuracy, +20 AUC
        _write(tmp_path / "out", g, 0.9, 0.9, {"a": 0.60, "b": 0.30, "real": 0.9}, zero_shot=("a", "b"),
               per_generator_auc={"a": 0.90, "b": 0.60})  # zero-shot: recall 45 vs 30, AUC 75 vs 65
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1"), str(tmp_path / "s2"),
                      "--upsampler", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "| seen | all | clean | accuracy | 50.0 | 70.0 / 62.0 | +20.0 / +12.0 | met (+16.0; 1 of 2 runs) |" in out
    assert "| seen | 50 | wild | AUC | 70.0 | 80.0 / 90.0 | +10.0 / +20.0 | met (+15.0; 1 of 2 runs) |" in out
    # one run exactly at the mark (14.999… after the float arithmetic): met, as printed
    assert "| upsampler | all | JPEG 75 | accuracy | 30.0 | 45.0 | +15.0 | met (+15.0) |" in out
    assert "| upsampler | 50 | clean | AUC | 65.0 | 75.0 | +10.0 | short (+10.0) |" in out
    assert "seen accuracy 6 of 6 (+16.0); seen AUC 6 of 6 (+15.0); upsampler accuracy 6 of 6 (+15.0); upsampler AUC 0 of 6 (+10.0)" in out


def test_the_mean_is_rounded_once(tmp_path, capsys):
    # margins +14.94 and +15.00: shown +14.9 / +15.0, mean 14.97 → +15.0, met (rounding the shown
    # margins first would give 14.95 → +14.9, short)
    goal = _load()
    for g in (0, 50):
        _write(tmp_path / "spectrum", g, 0.50, 0.70)
        _write(tmp_path / "s1", g, 0.6494, 0.80)
        _write(tmp_path / "s2", g, 0.65, 0.80)
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1"), str(tmp_path / "s2")]) == 0
    assert "| seen | all | clean | accuracy | 50.0 | 64.9 / 65.0 | +14.9 / +15.0 | met (+15.0; 1 of 2 runs) |" in capsys.readouterr().out


def test_a_missing_evaluation_names_the_folder(tmp_path, capsys):
    goal = _load()
    _write(tmp_path / "spectrum", 0, 0.5, 0.7)
    _write(tmp_path / "s1", 0, 0.7, 0.8)
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1")]) == 2
    error = capsys.readouterr().err
    assert "eval-g50/metrics.json is missing" in error and "gallery of 50 per class" in error


def test_leave_outs_of_different_classes_are_refused(tmp_path, capsys):
    goal = _load()
    recalls = {"a": 0.4, "b": 0.2, "c": 0.1}
    _spectrum_and_seen(tmp_path, recalls)
    for g in (0, 50):
        _write(tmp_path / "o1", g, 0.7, 0.8, recalls, zero_shot=("a",))
        _write(tmp_path / "o2", g, 0.7, 0.8, recalls, zero_shot=("b",))
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1"),
                      "--latent", str(tmp_path / "o1"), str(tmp_path / "o2")]) == 2
    error = capsys.readouterr().err
    assert "the --latent runs must leave out the same classes" in error and f"{tmp_path / 'o2'} leaves out ['b']" in error


def test_a_spectrum_without_the_left_out_classes_is_refused(tmp_path, capsys):
    goal = _load()
    _spectrum_and_seen(tmp_path, {"a": 0.4})
    for g in (0, 50):
        _write(tmp_path / "o1", g, 0.7, 0.8, {"a": 0.4, "x": 0.3}, zero_shot=("x",))
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1"), "--upsampler", str(tmp_path / "o1")]) == 2
    assert "has no figures for ['x']" in capsys.readouterr().err


def test_a_leave_out_run_given_as_seen_and_other_data_are_refused(tmp_path, capsys):
    goal = _load()
    _spectrum_and_seen(tmp_path, {"a": 0.4})
    for g in (0, 50):
        _write(tmp_path / "o1", g, 0.7, 0.8, {"a": 0.4}, zero_shot=("a",))
        _write(tmp_path / "elsewhere", g, 0.7, 0.8, data="/other")
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "o1")]) == 2
    assert f"{tmp_path / 'o1'} leaves out ['a']" in capsys.readouterr().err
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "elsewhere")]) == 2
    assert "evaluated on other data than the spectrum" in capsys.readouterr().err


def test_an_evaluation_without_a_condition_is_refused(tmp_path, capsys):
    goal = _load()
    for g in (0, 50):
        _write(tmp_path / "spectrum", g, 0.5, 0.7)
        _write(tmp_path / "s1", g, 0.7, 0.8, conditions=("clean",))
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1")]) == 2
    assert "has no jpeg:75 results" in capsys.readouterr().err


def test_a_file_that_is_not_an_evaluation_is_refused(tmp_path, capsys):
    goal = _load()
    for g in (0, 50):
        _write(tmp_path / "spectrum", g, 0.5, 0.7)
    (tmp_path / "s1" / "eval-g0").mkdir(parents=True)
    (tmp_path / "s1" / "eval-g0" / "metrics.json").write_text('{"results": {}}')
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1")]) == 2
    assert "is not an `aidetect evaluate` metrics.json" in capsys.readouterr().err
    (tmp_path / "s1" / "eval-g0" / "metrics.json").write_text("{")
    assert goal.main(["--spectrum", str(tmp_path / "spectrum"), "--seen", str(tmp_path / "s1")]) == 2
    assert "is not JSON" in capsys.readouterr().err
