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


def test_held_out_files_that_were_enrolled_are_left_out_and_each_other_counts_once(tiny_model, synthetic_data, tmp_path, capsys):
    # 12 of gen_b's 20 test images enrolled, all 20 given as held out: the 12 would find themselves
    # at similarity 1, so only the other 8 are read.
    files = sorted((synthetic_data / "test" / "gen_b").iterdir())
    enroll, heldout = tmp_path / "enroll", tmp_path / "heldout"
    enroll.mkdir(), heldout.mkdir()
    for i, path in enumerate(files):
        shutil.copy(path, heldout / path.name)
        if i < 12:
            shutil.copy(path, enroll / path.name)
    density = _load()
    assert density.main(["--model", str(tiny_model), "--enroll", str(enroll), "--heldout", str(heldout), "--max", "12",
                         "--zoo-test", str(synthetic_data / "test"), "--per-class", "3"]) == 0
    out = capsys.readouterr().out
    assert "12 enrolled" in out and f"{len(files) - 12} held out" in out and "(12 files of --heldout were enrolled too" in out
    n = len(files) - 12
    table = [line for line in out.splitlines() if re.match(r"\| (1|3|11) \|", line)]
    assert len(table) == 3 and all(line.endswith(f" of {n} |") for line in table)
    first = [float(v) for v in table[0].split("|")[2:4]]
    assert all(-1.0 <= v < 0.9999 for v in first)  # nothing found itself
    mean_line = next(line for line in out.splitlines() if line.startswith("nearest class mean"))
    own = int(re.search(rf"own class for (\d+) of {n}", mean_line).group(1))
    others = [int(k) for k in re.findall(r"': (\d+)", mean_line)]  # {'gen_a': 3, ...}, or none
    assert own + sum(others) == n  # every held-out image goes to one class mean
    classes = sorted(p.name for p in (synthetic_data / "test").iterdir() if p.is_dir())
    zoo = re.search(r"(\d+) of (\d+) test images given their class, (\d+) taken for the enrolled one", out)
    right, total, taken = (int(g) for g in zoo.groups())
    assert total == 3 * len(classes) and right + taken <= total


def test_fewer_than_11_to_enroll_is_refused_before_the_model_is_read(tmp_path, capsys):
    density = _load()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "gallery.npz").write_bytes(b"not read")
    with pytest.raises(SystemExit) as exit_info:
        density.main(["--model", str(tmp_path / "model"), "--enroll", str(tmp_path), "--heldout", str(tmp_path), "--max", "5"])
    assert exit_info.value.code == 2 and "--max 5: enroll at least 11 images" in capsys.readouterr().err


def test_a_model_without_a_gallery_is_refused_with_the_fix(tmp_path, capsys):
    density = _load()
    (tmp_path / "images").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        density.main(["--model", str(tmp_path), "--enroll", str(tmp_path / "images"), "--heldout", str(tmp_path / "images")])
    assert exit_info.value.code == 2 and "no gallery.npz there" in capsys.readouterr().err
