"""benchmarks/zoo/wild_ceiling.py: supervised readers of the Welch spectrum trained with and without
the `wild` chains, scored on the test conditions."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import load_script


def test_the_ceiling_prints_and_writes_both_trainings_for_every_reader(tmp_path, capsys, monkeypatch):
    from synthetic import write_folders_dataset

    zoo = write_folders_dataset(tmp_path / "zoo", ["real", "gen_a", "gen_b"], 30, 0, 10, size=64)
    script = load_script("benchmarks/zoo/wild_ceiling.py", "wild_ceiling_under_test")
    trained, means, spreads = [], [], []  # (rows, outputs) of every MLP trained; its input's column statistics
    train_classifier = script.train_classifier

    def recorded(x, y, n_out, **k):
        trained.append((len(x), n_out))
        means.append(float(abs(x.mean(axis=0)).max()))
        spreads.append(float(abs(x.std(axis=0) - 1)[x.std(axis=0) > 1e-3].max()))
        return train_classifier(x, y, n_out, **k)

    monkeypatch.setattr(script, "train_classifier", recorded)
    out = tmp_path / "ceiling.json"
    assert script.main([str(zoo), "--image-size", "64", "--views", "2", "--wild-views", "1", "--epochs", "1", "--hidden", "8",
                        "--conditions", "clean", "wild", "--cache", str(tmp_path / "cache"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| … + 1 wild views | welch | mlp, 3 classes |" in printed
    rows = json.loads(out.read_text())["rows"]
    assert [(r["training"], r["input"], r["reader"]) for r in rows] == [
        (t, "welch", r) for t in ("clean + recipe augmentation", "… + 1 wild views")
        for r in ("logistic, real vs AI", "mlp, real vs AI", "mlp, 3 classes")]
    # the second training holds the wild view beside the two others; each trains a binary and a 3-class MLP
    assert trained == [(2 * 90, 1), (2 * 90, 3), (3 * 90, 1), (3 * 90, 3)]
    assert max(means) < 1e-3 and max(spreads) < 1e-2  # the MLPs read the loop's standardised columns
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


def test_two_inputs_are_read_in_one_pass_and_compared_alone_and_side_by_side(tmp_path, monkeypatch, capsys):
    from synthetic import write_folders_dataset

    zoo = write_folders_dataset(tmp_path / "zoo", ["real", "gen_a"], 20, 0, 8, size=64)
    script = load_script("benchmarks/zoo/wild_ceiling.py", "wild_ceiling_under_test")
    trained = []  # (rows, width) of every MLP trained
    train_classifier = script.train_classifier
    monkeypatch.setattr(script, "train_classifier",
                        lambda x, y, n_out, **k: trained.append(x.shape) or train_classifier(x, y, n_out, **k))
    cache = tmp_path / "cache"
    assert script.main([str(zoo), "--image-size", "64", "--views", "1", "--wild-views", "1", "--epochs", "1", "--hidden", "8",
                        "--conditions", "clean", "--cache", str(cache), "--features", "welch", "cooc",
                        "--canonical-jpeg", "95", "--train-per-class", "12"]) == 0
    welch, cooc = 64 * 33, 4 * 125  # the Welch half-plane of a 64-px tile; the four histograms
    # per training (clean; + wild): each input alone, then both; a binary and a 2-class MLP each
    rows = 2 * 12
    assert trained == [(rows, w) for w in (welch, welch, cooc, cooc, welch + cooc, welch + cooc)] + \
        [(2 * rows, w) for w in (welch, welch, cooc, cooc, welch + cooc, welch + cooc)]
    assert "| … + 1 wild views | welch+cooc | mlp, 2 classes |" in capsys.readouterr().out
    # one decode per view for both features: one cached reading each of the view, the wild view and the test condition
    assert sorted(p.name.split("-")[0] for p in cache.glob("*.npy")) == ["welch+cooc"] * 3
    # the joined reading holds the two features' own readings, in the order the inputs slice them
    from aidetect.models.cooccurrence import ResidualCooccurrence
    from welch_probe import RawSpectrum

    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    parts = [RawSpectrum("welch").eval(), ResidualCooccurrence()]
    joined = script.SideBySide(parts)(images)
    assert torch.equal(joined[:, :welch], parts[0](images)) and torch.equal(joined[:, welch:], parts[1](images))
    assert [script.feature_width(p, 64) for p in parts] == [welch, cooc]


def test_a_quality_outside_1_to_100_is_a_usage_error(tmp_path, capsys):
    script = load_script("benchmarks/zoo/wild_ceiling.py", "wild_ceiling_under_test")
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    with pytest.raises(SystemExit) as stopped:
        script.main([str(tmp_path), "--canonical-jpeg", "0"])
    assert stopped.value.code == 2 and "--canonical-jpeg" in capsys.readouterr().err
