"""benchmarks/unknown_rates.py: the unknown rule's two errors, through the product's classifier."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from helpers import load_script


def _load():
    return load_script("benchmarks/unknown_rates.py", "unknown_rates_under_test")


def _rows(out: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in out.splitlines()
            if re.match(r"\| \d", line)]


@pytest.mark.parametrize("vote", ["centroid", "weighted"])
def test_the_gap_term_only_widens_floors(vote, tiny_model, synthetic_data, tmp_path, capsys):
    # an "outside" folder of one gallery class's test images: named apart, read as the rest are
    outside = tmp_path / "copies"
    shutil.copytree(synthetic_data / "test" / "gen_b", outside)
    script = _load()
    assert script.main(["--data", str(synthetic_data), "--model", str(tiny_model), "--conditions", "clean",
                        "--outside", f"copies={outside}", "--gap-fraction", "0", "0.5", "--vote", vote]) == 0
    out = capsys.readouterr().out
    assert f"vote {vote}, unknown rule on the" in out
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len({line.count("|") for line in table}) == 1  # header, rule and rows: one width
    rows = {row[0]: row for row in _rows(out)}
    assert set(rows) == {"0", "0.5"}
    own = {g: float(rows[g][2]) for g in rows}
    caught = {g: float(re.match(r"([\d.]+) \(", rows[g][6]).group(1)) for g in rows}
    # the gap term can only lower a floor (a distance of max(a, min(b, 4a)) >= a): never more unknown
    assert own["0.5"] <= own["0"] and caught["0.5"] <= caught["0"]
    if vote == "weighted":  # the vote's own rule is the row rule: its columns read the rule's own numbers
        assert all(row[7] == row[8] for row in rows.values())
        for row in rows.values():
            row_rule = re.match(r"([\d.]+) / ([\d.]+), ([\d.]+)", row[10]).groups()
            assert row_rule[0] == row[2] and row_rule[1] == row[3]  # own images unknown / right
            assert row_rule[2] == re.match(r"([\d.]+) \(", row[6]).group(1)  # taken-out images caught
    for row in rows.values():
        assert all(0.0 <= float(v) <= 100.0 for v in (row[2], row[3], row[5], row[7], row[8], row[9], row[11]))


def test_bad_arguments_are_one_line_usage_errors(tiny_model, synthetic_data, tmp_path, capsys):
    script = _load()
    (tmp_path / "test").mkdir()
    cases = (
        (["--data", str(tmp_path / "nowhere")], "test/ split"),
        (["--data", str(synthetic_data), "--outside", "nofolder"], "NAME=DIR"),
        (["--data", str(synthetic_data), "--gap-fraction", "nan"], "--gap-fraction"),
        # named before any image is read
        (["--data", str(synthetic_data), "--model", str(tiny_model), "--conditions", "jpeg:abc"], "jpeg"),
        (["--data", str(synthetic_data), "--model", str(tiny_model), "--outside", f"gen_a={tmp_path}"], "gallery class"),
    )
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            script.main(argv)
        errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
        assert exit_info.value.code == 2 and len(errors) == 1 and message in errors[0]


def test_the_rule_measured_is_named_and_can_be_chosen(tiny_model, synthetic_data, capsys):
    script = _load()
    for on, named in (("row", "unknown rule on the nearest row"), ("vote", "unknown rule on the class mean")):
        assert script.main(["--data", str(synthetic_data), "--model", str(tiny_model), "--conditions", "clean",
                            "--vote", "centroid", "--unknown-on", on, "--gap-fraction", "0.5"]) == 0
        out = capsys.readouterr().out
        assert named in out and "floors shifted by" not in out  # a rule other than the model's own runs unshifted


def test_the_models_calibrated_shift_moves_the_floors_it_measures(tiny_model, synthetic_data, tmp_path, capsys):
    """A model calibrated on enough validation images carries a shift; the benchmark measures the
    rule with it (the floors it prints move by it) and drops it for another vote or rule."""
    model = tmp_path / "shifted"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "config.json").read_text())
    config["classifier"].update(vote="centroid", unknown_on="row", unknown_shift=-0.02)
    config["schema_version"] = 3
    (model / "config.json").write_text(json.dumps(config))
    script = _load()
    argv = ["--data", str(synthetic_data), "--model", str(model), "--conditions", "clean", "--gap-fraction", "0", "0.5"]
    assert script.main(argv) == 0
    shifted = capsys.readouterr().out
    assert "unknown rule on the nearest row, floors shifted by -0.0200" in shifted
    for other in (["--vote", "weighted"], ["--unknown-on", "vote"]):
        assert script.main(argv + other) == 0
        assert "floors shifted by" not in capsys.readouterr().out
