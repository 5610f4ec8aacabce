"""benchmarks/zoo/gallery_draws.py: a model's 50-per-class evaluations over three gallery draws."""

from __future__ import annotations

import json

from helpers import load_script


def _load():
    return load_script("benchmarks/zoo/gallery_draws.py", "gallery_draws_under_test")


def _write(folder, per_class, accuracy, auc, fingerprint="abc"):
    folder.mkdir(parents=True)
    results = {c: {"attribution": {"accuracy": a}, "detection": {"overall_auc": u}}
               for c, a, u in zip(("clean", "jpeg:75", "wild:0"), accuracy, auc)}
    (folder / "metrics.json").write_text(json.dumps({"gallery_per_class": per_class, "model_fingerprint": fingerprint,
                                                     "results": results}))


def test_mean_and_range_over_the_three_draws(tmp_path, capsys):
    draws = _load()
    _write(tmp_path / "m" / "eval-g50", 50, (0.60, 0.40, 0.30), (0.70, 0.65, 0.60))
    _write(tmp_path / "m" / "eval-g50-draw1", 50, (0.62, 0.40, 0.33), (0.76, 0.65, 0.61))
    _write(tmp_path / "m" / "eval-g50-draw2", 50, (0.61, 0.43, 0.30), (0.73, 0.62, 0.62))
    assert draws.main([str(tmp_path), "m"]) == 0
    out = capsys.readouterr().out
    assert "| m | mean | 61.0 / 41.0 / 31.0 | 73.0 / 64.0 / 61.0 |" in out
    assert "| m | range | 2.0 / 3.0 / 3.0 | 6.0 / 3.0 / 2.0 |" in out


def test_a_missing_draw_names_the_row_that_writes_it(tmp_path, capsys):
    draws = _load()
    _write(tmp_path / "m" / "eval-g50", 50, (0.6, 0.4, 0.3), (0.7, 0.6, 0.6))
    assert draws.main([str(tmp_path), "m"]) == 2
    error = capsys.readouterr().err
    assert "eval-g50-draw1/metrics.json not found" in error and "yardsticks.sh ZOO" in error and " m-draws" in error


def test_a_gallery_of_another_size_is_refused(tmp_path, capsys):
    draws = _load()
    for name in ("eval-g50", "eval-g50-draw1", "eval-g50-draw2"):
        _write(tmp_path / "m" / name, 0 if name == "eval-g50-draw2" else 50, (0.6, 0.4, 0.3), (0.7, 0.6, 0.6))
    assert draws.main([str(tmp_path), "m"]) == 2
    assert "a gallery of 0 per class, not 50" in capsys.readouterr().err


def test_a_missing_first_draw_names_the_models_own_row(tmp_path, capsys):
    draws = _load()
    for name in ("eval-g50-draw1", "eval-g50-draw2"):
        _write(tmp_path / "m" / name, 50, (0.6, 0.4, 0.3), (0.7, 0.6, 0.6))
    assert draws.main([str(tmp_path), "m"]) == 2
    error = capsys.readouterr().err
    assert "eval-g50/metrics.json not found" in error and error.rstrip().endswith(f"yardsticks.sh ZOO {tmp_path} m")


def test_draws_of_different_models_are_refused(tmp_path, capsys):
    draws = _load()
    for name in ("eval-g50", "eval-g50-draw1", "eval-g50-draw2"):
        _write(tmp_path / "m" / name, 50, (0.6, 0.4, 0.3), (0.7, 0.6, 0.6), fingerprint="new" if name == "eval-g50" else "old")
    assert draws.main([str(tmp_path), "m"]) == 2
    error = capsys.readouterr().err
    assert "of different models" in error and error.count("\n") == 1


def test_an_incomplete_evaluation_is_one_line_not_a_traceback(tmp_path, capsys):
    draws = _load()
    for name in ("eval-g50", "eval-g50-draw1", "eval-g50-draw2"):
        _write(tmp_path / "m" / name, 50, (0.6, 0.4, 0.3), (0.7, 0.6, 0.6))
    (tmp_path / "m" / "eval-g50-draw2" / "metrics.json").write_text('{"gallery_per_class": 50, "results": {"clean"')
    assert draws.main([str(tmp_path), "m"]) == 2
    error = capsys.readouterr().err
    assert "eval-g50-draw2/metrics.json is not a complete evaluation" in error and error.count("\n") == 1
