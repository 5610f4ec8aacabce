"""benchmarks/enroll_density.py: where an enrolled generator's held-out images fall against the gallery."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from helpers import load_script


def _load():
    return load_script("benchmarks/enroll_density.py", "enroll_density_under_test")


def test_kth_nearest_is_each_rows_kth_largest_value():
    density = _load()
    similarities = np.array([[0.1, 0.9, 0.5, 0.7], [0.3, 0.2, 0.8, 0.4]])
    assert np.allclose(density.kth_nearest(similarities, 1), [0.9, 0.8])
    assert np.allclose(density.kth_nearest(similarities, 3), [0.5, 0.3])


def test_held_out_images_that_are_the_enrolled_ones_find_themselves_first(tiny_model, synthetic_data, tmp_path, capsys):
    # The same 12 files enrolled and held out: each held-out image's nearest enrolled row is itself
    # (similarity 1), nearer than any gallery row (built from the training split, not these files).
    folder = tmp_path / "new"
    folder.mkdir()
    for path in sorted((synthetic_data / "test" / "gen_b").iterdir())[:12]:
        shutil.copy(path, folder / path.name)
    density = _load()
    assert density.main(["--model", str(tiny_model), "--enroll", str(folder), "--heldout", str(folder), "--max", "12"]) == 0
    out = capsys.readouterr().out
    assert "12 enrolled" in out and "12 held out" in out
    first = next(line for line in out.splitlines() if line.startswith("| 1 |"))
    assert first.split("|")[2].strip() == "1.000" and first.endswith("| 12 of 12 |")
    mean_line = next(line for line in out.splitlines() if line.startswith("nearest class mean"))
    own = int(re.search(r"own class for (\d+) of 12", mean_line).group(1))
    others = [int(n) for n in re.findall(r"': (\d+)", mean_line)]  # {'gen_a': 3, ...}, or none
    assert own + sum(others) == 12  # every held-out image goes to one class mean


def test_a_model_without_a_gallery_is_refused_with_the_fix(tmp_path, capsys):
    density = _load()
    (tmp_path / "images").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        density.main(["--model", str(tmp_path), "--enroll", str(tmp_path / "images"), "--heldout", str(tmp_path / "images")])
    assert exit_info.value.code == 2 and "no gallery.npz there" in capsys.readouterr().err
