"""The three commands analysts were promised (issue 20), run exactly as they are typed.

The environment is what a user would have: ``aidetect config data ROOT`` run once on a tiny
GenImage tree, an aidetect home of their own (conftest sets ``$AIDETECT_HOME`` to a temporary
folder), the bundled model for ``attribute`` and ``enroll``, the current folder where their
files are. ``aidetect train --setting es1`` as typed trains EfficientNet-B0 at 256 px with
batches of 186 for 30 epochs: the test runs that very command until it has read the data and
starts epoch 1 with the setting's classes, then stops it; the same command with the speed flags
a tester adds runs to the end.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aidetect.cli.main import app
from aidetect.errors import AidetectError
from aidetect.home import BUNDLED_MODEL
from aidetect.settings import GENIMAGE_GENERATORS, SETTINGS
from helpers import make_genimage_tree
from synthetic import synthetic_image, write_images

runner = CliRunner()
_SCRIPT = Path(sys.executable).with_name("aidetect")
#: ``aidetect`` as a user's shell finds it (the venv's console script), else the module.
AIDETECT = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "aidetect"]
SPEED_FLAGS = ["--arch", "tiny", "--image-size", "32", "--epochs", "1", "--batch-size", "16", "--workers", "0",
               "--device", "cpu", "--gallery-per-class", "5"]
needs_bundled = pytest.mark.skipif(not (BUNDLED_MODEL / "config.json").is_file(), reason="no bundled model in this checkout")


def _png(path: Path, label: str, index: int) -> None:
    """A distinct image per file (the gallery drops duplicates): a synthetic trace per generator."""
    if label == "real":
        image = synthetic_image("real", index, 32)
    else:
        rank = GENIMAGE_GENERATORS.index(label)
        image = synthetic_image(f"gen_{'abcdef'[rank % 6]}", 1000 * rank + index, 32)
    image.save(path, format="PNG")


@pytest.fixture(scope="module")
def genimage_root(tmp_path_factory) -> Path:
    """All eight GenImage generators (and real), 9 train / 2 test images each, nested as downloaded."""
    return make_genimage_tree(tmp_path_factory.mktemp("GenImage"), n_train=9, n_val=2, nested=True, image_writer=_png)


@pytest.fixture
def user(tmp_path, monkeypatch):
    """The user's shell: their own working folder, no $AIDETECT_DATA; returns the environment."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("AIDETECT_DATA", raising=False)
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="160")
    env.pop("AIDETECT_DEBUG", None)
    return env


def _run(args, env, timeout=300):
    return subprocess.run(AIDETECT + args, env=env, capture_output=True, text=True, timeout=timeout)


def _configure(root: Path, env) -> None:
    """What the README says to do once: ``aidetect config data ROOT``."""
    done = _run(["config", "data", str(root)], env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"data root {root} saved in" in done.stdout


# --------------------------------------------------------------------------- attribute, enroll


@needs_bundled
@pytest.mark.slow
def test_attribute_photo_jpg_as_typed(user, tmp_path):
    synthetic_image("gen_a", 7, 256).save(Path.cwd() / "photo.jpg", quality=90)
    result = _run(["attribute", "photo.jpg"], user)
    assert result.returncode == 0, result.stderr
    classes = json.loads((BUNDLED_MODEL / "config.json").read_text())["classes"]
    row = re.search(r"│ photo\.jpg\s*│ (\S+)\s.*?│ (\S+)", result.stdout)
    assert row, result.stdout
    label, verdict = row.groups()
    assert label in classes + ["unknown"]
    assert verdict in ("ai", "real", "inconclusive")
    assert "scope:" in result.stdout  # the bundled model's card line


@needs_bundled
@pytest.mark.slow
def test_enroll_newgen_dir_as_typed(user):
    write_images(Path.cwd() / "dir", "gen_b", 6, size=64)
    before = {p.name: p.stat().st_mtime_ns for p in BUNDLED_MODEL.iterdir()}
    result = _run(["enroll", "--generator", "newgen", "dir/"], user)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^enrolled 6 images as newgen into .*galleries/\w+\.npz \(no duplicates\); newgen now has 6 images$",
                     result.stdout, re.M), result.stdout
    assert "copied the bundled gallery" in result.stderr
    assert {p.name: p.stat().st_mtime_ns for p in BUNDLED_MODEL.iterdir()} == before


# --------------------------------------------------------------------------- train --setting es1


def _stderr_until(process: subprocess.Popen, pattern: str, timeout: float) -> str:
    """Read the process's stderr until a line matches ``pattern`` (or it exits, or time runs out)."""
    seen, buffer = [], ""
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not selector.select(timeout=1.0):
            if process.poll() is not None:
                break
            continue
        chunk = os.read(process.stderr.fileno(), 65536).decode(errors="replace")
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split("\n")
        seen += lines
        if any(re.search(pattern, line) for line in lines):
            break
    return "\n".join(seen + [buffer])


@pytest.mark.slow
def test_train_setting_es1_as_typed_reads_the_configured_data_and_starts_epoch_one(genimage_root, user):
    _configure(genimage_root, user)
    started = "training efficientnet_b0 on "
    # Its own process group: stopping it stops its data-loading workers too.
    process = subprocess.Popen(AIDETECT + ["train", "--setting", "es1"], env=user, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        stderr = _stderr_until(process, re.escape(started), timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the full-size run would take hours (and ~20 GB at batch 186)
        process.wait(timeout=60)
    lines = stderr.splitlines()
    assert any(line.startswith(f"data {genimage_root} (from the config file ") and line.endswith(
        "; genimage layout); model directory runs/es1") for line in lines), stderr
    epoch = next((line for line in lines if line.startswith(started)), None)
    assert epoch, stderr
    assert f"of {', '.join(SETTINGS['es1'].trained)} (zero-shot: real)" in epoch
    assert "steps/epoch of 184" in epoch  # the thesis's 186, rounded to 23 images of each of 8 classes
    assert (Path.cwd() / "runs" / "es1").is_dir()
    assert not (Path.cwd() / "runs" / "model").exists()


@pytest.mark.slow
def test_train_setting_es1_with_speed_flags_names_the_model_directory_for_the_setting(genimage_root, user):
    _configure(genimage_root, user)
    result = _run(["train", "--setting", "es1", *SPEED_FLAGS], user)
    assert result.returncode == 0, result.stderr
    out = Path.cwd() / "runs" / "es1"
    assert "wrote runs/es1 after 1 epochs" in result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["setting"]["name"] == "es1"
    assert config["setting"]["trained_classes"] == list(SETTINGS["es1"].trained)
    assert config["data"]["root"] == str(genimage_root) and config["data"]["layout"] == "genimage"
    info = json.loads(runner.invoke(app, ["info", "--model", str(out), "--json"]).stdout)
    assert set(info["gallery"]["classes"]) == set(GENIMAGE_GENERATORS) | {"real"}

    # The same command again does not train over it ...
    files = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = runner.invoke(app, ["train", "--setting", "es1", *SPEED_FLAGS])
    assert again.exit_code == 2
    assert ("runs/es1 already holds a model (config.json, model.safetensors, checkpoint.pt, gallery.npz, metrics.jsonl); "
            "pass --resume to continue its run, --force to train a new one over it, or --out DIR") in again.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == files
    both = runner.invoke(app, ["train", "--setting", "es1", "--force", "--resume", *SPEED_FLAGS])
    assert both.exit_code == 2 and "give one of them" in both.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == files
    # ... unless told to.
    forced = runner.invoke(app, ["train", "--setting", "es1", "--force", *SPEED_FLAGS])
    assert forced.exit_code == 0, forced.output
    assert (out / "config.json").stat().st_mtime_ns > files["config.json"]
    assert json.loads((out / "config.json").read_text())["setting"]["name"] == "es1"


@pytest.mark.slow
def test_train_without_setting_writes_runs_model_and_refuses_to_reuse_it(genimage_root, user):
    _configure(genimage_root, user)
    first = runner.invoke(app, ["train", *SPEED_FLAGS, "--include", "adm,biggan"])
    assert first.exit_code == 0, first.output
    assert json.loads((Path.cwd() / "runs" / "model" / "config.json").read_text())["setting"]["trained_classes"] == ["adm", "biggan"]
    again = runner.invoke(app, ["train", *SPEED_FLAGS, "--include", "adm,biggan"])
    assert again.exit_code == 2 and "runs/model already holds a model" in again.output
    resumed = runner.invoke(app, ["train", *SPEED_FLAGS, "--include", "adm,biggan", "--resume"])
    assert resumed.exit_code == 0, resumed.output


def test_resume_without_a_checkpoint_fails_before_any_work(genimage_root, user):
    _configure(genimage_root, user)
    result = runner.invoke(app, ["train", "--setting", "es1", "--resume"])
    assert result.exit_code == 2
    assert "--resume: no checkpoint at runs/es1/checkpoint.pt; run without --resume to start" in result.output
    assert not (Path.cwd() / "runs").exists()


def test_a_root_without_the_settings_generators_is_one_line_naming_them_and_the_layout(tmp_path, user):
    root = make_genimage_tree(tmp_path / "partial", n_train=2, n_val=1, generators=["adm", "biggan"])
    _configure(root, user)
    started = time.monotonic()
    result = runner.invoke(app, ["train", "--setting", "es1"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: setting es1 trains on glide, midjourney, vqdm, sd14, sd15, wukong, which {root} does not hold "
        f"(layout genimage; found: adm, biggan, real); check --data and --layout"
    )
    assert time.monotonic() - started < 30 and not (Path.cwd() / "runs").exists()
    es3 = runner.invoke(app, ["train", "--setting", "es3"])
    assert es3.exit_code == 2 and "(layout genimage; found: adm, biggan, real); es3 expects ForenSynths data" in es3.output


def test_probe_classes_names_what_discover_finds(genimage_root, tmp_path):
    from aidetect.data.discovery import discover, probe_classes
    from synthetic import write_folders_dataset

    assert probe_classes(genimage_root) == ("genimage", discover(genimage_root).classes())
    folders = write_folders_dataset(tmp_path / "f", ["real", "gen_a"], 2, 1, 1)
    assert probe_classes(folders) == ("folders", discover(folders).classes())
    forensynths = tmp_path / "fs"
    for rel in ("train/car/0_real", "train/car/1_fake", "test/stylegan/car/1_fake", "test/biggan/0_real", "test/biggan/1_fake"):
        (forensynths / rel).mkdir(parents=True)
        synthetic_image("gen_a", 0, 32).save(forensynths / rel / "a.png")
    assert probe_classes(forensynths) == ("forensynths", discover(forensynths).classes())
    for layout in ("genimage", "forensynths"):  # an explicit layout the data does not have: discover's own error
        with pytest.raises(AidetectError, match=f"does not look like {'GenImage' if layout == 'genimage' else 'ForenSynths'}"):
            probe_classes(folders, layout)


@pytest.mark.slow
def test_evaluate_reads_the_configured_data_root(synthetic_data, tiny_model, user):
    _configure(synthetic_data, user)
    result = runner.invoke(app, ["evaluate", "--model", str(tiny_model), "--out", "e", "--perturb", "none",
                                 "--max-per-class", "5", "--gallery-per-class", "10", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"data {synthetic_data} (from the config file" in result.output
    assert json.loads((Path.cwd() / "e" / "metrics.json").read_text())
