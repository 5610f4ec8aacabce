"""benchmarks/zoo/wild_ceiling.py: supervised readers of the Welch spectrum trained with and without
the `wild` chains, scored on the test conditions."""

from __future__ import annotations

import json

import pytest

from helpers import load_script


def test_the_ceiling_prints_and_writes_both_trainings_for_every_reader(tmp_path, capsys, monkeypatch):
    from synthetic import write_folders_dataset

    zoo = write_folders_dataset(tmp_path / "zoo", ["real", "gen_a", "gen_b"], 30, 0, 10, size=64)
    script = load_script("benchmarks/zoo/wild_ceiling.py", "wild_ceiling_under_test")
    trained = []  # (rows, outputs) of every MLP trained
    train_classifier = script.train_classifier
    monkeypatch.setattr(script, "train_classifier",
                        lambda x, y, n_out, **k: trained.append((len(x), n_out)) or train_classifier(x, y, n_out, **k))
    out = tmp_path / "ceiling.json"
    assert script.main([str(zoo), "--image-size", "64", "--views", "2", "--wild-views", "1", "--epochs", "1", "--hidden", "8",
                        "--conditions", "clean", "wild", "--cache", str(tmp_path / "cache"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| … + 1 wild views | mlp, 3 classes |" in printed
    rows = json.loads(out.read_text())["rows"]
    assert [(r["training"], r["reader"]) for r in rows] == [
        (t, r) for t in ("clean + recipe augmentation", "… + 1 wild views")
        for r in ("logistic, real vs AI", "mlp, real vs AI", "mlp, 3 classes")]
    # the second training holds the wild view beside the two others; each trains a binary and a 3-class MLP
    assert trained == [(2 * 90, 1), (2 * 90, 3), (3 * 90, 1), (3 * 90, 3)]
    for row in rows:
        assert set(row["cells"]) == {"clean", "wild"}
        for cell in row["cells"].values():
            assert (cell["accuracy"] is None) == (row["reader"] != "mlp, 3 classes")
    # each reading is cached once: two training views, one wild view, two test conditions
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2 + 1 + 2


def test_usage_errors_come_before_any_image_is_read(tmp_path, capsys):
    script = load_script("benchmarks/zoo/wild_ceiling.py", "wild_ceiling_under_test")
    with pytest.raises(SystemExit) as stopped:
        script.main([str(tmp_path / "missing")])
    assert stopped.value.code == 2 and "train/ and test/ class folders" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main([str(tmp_path), "--wild-views", "0"])
    assert "--wild-views" in capsys.readouterr().err


def test_two_inputs_are_read_side_by_side_each_cached_under_its_own_name(tmp_path, monkeypatch):
    from synthetic import write_folders_dataset

    zoo = write_folders_dataset(tmp_path / "zoo", ["real", "gen_a"], 20, 0, 8, size=64)
    script = load_script("benchmarks/zoo/wild_ceiling.py", "wild_ceiling_under_test")
    widths = []
    train_classifier = script.train_classifier
    monkeypatch.setattr(script, "train_classifier",
                        lambda x, y, n_out, **k: widths.append(x.shape[1]) or train_classifier(x, y, n_out, **k))
    cache = tmp_path / "cache"
    assert script.main([str(zoo), "--image-size", "64", "--views", "1", "--wild-views", "1", "--epochs", "1", "--hidden", "8",
                        "--conditions", "clean", "--cache", str(cache), "--features", "welch", "cooc",
                        "--canonical-jpeg", "95"]) == 0
    assert set(widths) == {64 * 33 + 4 * 125}  # the Welch half-plane of a 64-px tile beside the four histograms
    names = sorted(p.name.split("-")[0] + "-" + p.name.split("-")[1] for p in cache.glob("*.npy"))
    assert names == ["cooc-jpeg95"] * 3 + ["welch-jpeg95"] * 3  # one view, one wild view, one test condition each


def test_a_quality_outside_1_to_100_is_a_usage_error(tmp_path, capsys):
    script = load_script("benchmarks/zoo/wild_ceiling.py", "wild_ceiling_under_test")
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    with pytest.raises(SystemExit) as stopped:
        script.main([str(tmp_path), "--canonical-jpeg", "0"])
    assert stopped.value.code == 2 and "--canonical-jpeg" in capsys.readouterr().err
