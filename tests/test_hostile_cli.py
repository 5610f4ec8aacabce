"""Red-team cases against the commands that read images (issue 19, items 2-5, 7, 9-12 and the
k-rule risk): each test fails on the code before the fix.

Uses the small model directory kept in tests/fixtures/model_v0_1 (a tiny encoder, 32-px input,
8 gallery images per class), copied per test, so every command runs in well under a second.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import aidetect.cli.render as render
import aidetect.data.images as images
from aidetect.cli.main import app

REPO = Path(__file__).resolve().parents[1]
FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model_v0_1"
QUERIES = sorted((FIXTURE_MODEL / "queries").glob("*.png"))
runner = CliRunner()

#: A file name that is not UTF-8 (Latin-1 "café"), as Python sees it: "caf\udce9.png".
NON_UTF8 = os.fsdecode(b"caf\xe9.png")


@pytest.fixture
def model(tmp_path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(FIXTURE_MODEL, folder, ignore=shutil.ignore_patterns("queries", "records.json", "README.md"))
    return folder


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A folder to run in, holding two query images: a.png and b.png."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(QUERIES[0], folder / "a.png")
    shutil.copy(QUERIES[2], folder / "b.png")
    monkeypatch.chdir(folder)
    return folder


def one_line(text: str) -> bool:
    return text.strip().count("\n") == 0 and text.strip() != ""


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------------------- 2. a named unreadable file


@pytest.fixture
def secret(work, monkeypatch) -> Path:
    """work/secret.png, unreadable: for real when not root, else simulated where it is read
    (the argument parser's os.access and load_image's open)."""
    path = work / "secret.png"
    shutil.copy(QUERIES[4], path)
    path.chmod(0)
    if os.geteuid() == 0:
        real_access, real_open = os.access, open

        def access(target, mode, *args, **kwargs):
            if os.fspath(target).endswith("secret.png") and mode & os.R_OK:
                return False
            return real_access(target, mode, *args, **kwargs)

        def denied_open(target, *args, **kwargs):
            if os.fspath(target).endswith("secret.png"):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(target))
            return real_open(target, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
        monkeypatch.setattr(images, "open", denied_open, raising=False)
    yield path
    path.chmod(0o644)


@pytest.mark.parametrize("command", ["detect", "attribute"])
def test_unreadable_named_file_is_one_error_record_and_the_batch_goes_on(model, secret, command):
    result = runner.invoke(app, [command, "--model", str(model), "--json", "a.png", "secret.png", "b.png"])
    assert result.exit_code == 1, result.output
    records = json.loads(result.stdout)
    assert [r["path"] for r in records] == ["a.png", "secret.png", "b.png"]
    assert "permission denied" in records[1]["error"]
    assert records[0]["error"] is None and records[2]["error"] is None and records[0]["label"]


def test_unreadable_named_file_embed_and_enroll_go_on(model, secret, tmp_path):
    result = runner.invoke(app, ["embed", "--model", str(model), "--out", str(tmp_path / "e.npz"), "secret.png", "a.png"])
    assert result.exit_code == 1, result.output
    assert list(np.load(tmp_path / "e.npz")["paths"]) == ["a.png"]
    result = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(tmp_path / "g.npz"),
                                 "--generator", "x", "--json", "secret.png", "a.png"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["added"] == 1


def test_unreadable_named_file_does_not_stop_inspect(secret):
    result = runner.invoke(app, ["inspect", "--json", "secret.png", "a.png"])
    assert result.exit_code in (0, 1) and "not readable" not in result.output
    assert [r["path"] for r in json.loads(result.stdout)] == ["secret.png", "a.png"]


# --------------------------------------------------------------------------- 3. file names that are not UTF-8


@pytest.fixture
def non_utf8(work) -> str:
    path = os.path.join(os.fspath(work), NON_UTF8)
    shutil.copy(QUERIES[1], path)
    return NON_UTF8


def test_json_with_a_non_utf8_name_is_valid_utf8_and_flagged(model, non_utf8):
    from aidetect.console import unescape_path

    result = runner.invoke(app, ["detect", "--model", str(model), "--json", "a.png", non_utf8])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout_bytes.decode("utf-8"))  # strict: valid UTF-8
    assert records[1]["path"] == "caf\\xe9.png" and records[1]["path_escaped"] is True
    assert unescape_path(records[1]["path"]) == non_utf8 and os.path.exists(unescape_path(records[1]["path"]))
    assert "path_escaped" not in records[0]


def test_json_on_an_ascii_stdout_never_fails(model, work):
    shutil.copy(QUERIES[0], work / "ünï.png")
    result = CliRunner(charset="ascii").invoke(app, ["attribute", "--model", str(model), "--json", "ünï.png"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout_bytes.decode("ascii"))[0]["path"] == "ünï.png"


def test_csv_with_a_non_utf8_name_is_written_and_says_so(model, non_utf8, tmp_path):
    out = tmp_path / "r.csv"
    result = runner.invoke(app, ["detect", "--model", str(model), "--csv", str(out), "a.png", non_utf8])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8"))))
    assert rows[1]["path"] == "caf\\xe9.png" and "path" in rows[1]["escaped"].split(";")
    assert rows[0]["escaped"] == ""
    assert "caf\\xe9.png" in result.stdout  # the table shows the escape too


def test_an_enrolled_non_utf8_path_does_not_break_later_queries(model, non_utf8, tmp_path):
    gallery = tmp_path / "g.npz"
    result = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(gallery), "--generator", "x", "--json", non_utf8])
    assert result.exit_code == 0, result.output
    for args in (["--json"], ["--csv", str(tmp_path / "q.csv")], []):
        result = runner.invoke(app, ["attribute", "--model", str(model), "--gallery", str(gallery), "--top", "20", *args, "a.png"])
        assert result.exit_code == 0, result.output
        result.stdout_bytes.decode("utf-8")
    records = json.loads(runner.invoke(app, ["attribute", "--model", str(model), "--gallery", str(gallery), "--top", "20",
                                             "--json", "a.png"]).stdout)
    escaped = [n for n in records[0]["neighbors"] if n.get("path_escaped")]
    assert escaped and all("\\xe9" in n["path"] for n in escaped)


# --------------------------------------------------------------------------- 4. class names are text


def test_markup_in_class_names_is_shown_as_text(model, work, tmp_path):
    gallery = tmp_path / "g.npz"
    for name, image in (("[/x]", "a.png"), ("[bold red]x[/]", "b.png")):
        result = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(gallery), "--generator", name, image])
        assert result.exit_code == 0, result.output
        assert name in result.stdout
    listing = runner.invoke(app, ["gallery", "list", "--model", str(model), "--gallery", str(gallery)])
    assert listing.exit_code == 0, listing.output
    assert "[/x]" in listing.stdout and "[bold red]x[/]" in listing.stdout
    table = runner.invoke(app, ["attribute", "--model", str(model), "--gallery", str(gallery), "--k", "1", "a.png"])
    assert table.exit_code == 0, table.output
    removed = runner.invoke(app, ["gallery", "remove", "[/x]", "--model", str(model), "--gallery", str(gallery)])
    assert removed.exit_code == 0, removed.output
    assert "[/x]" in removed.stdout


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", "x" * 65, "  ", "unknown", " Unknown ", "rtl\u202eoverride",
                                  os.fsdecode(b"bad\xff")])
def test_bad_class_names_are_refused_at_enroll(model, work, tmp_path, name):
    gallery = tmp_path / "g.npz"
    result = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(gallery), "--generator", name, "a.png"])
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) and result.stderr.startswith("error: --generator")
    assert not gallery.exists()


def test_good_class_names_are_kept(model, work, tmp_path):
    gallery = tmp_path / "g.npz"
    for name, stored in ((" SD 1.5 ", "sd 1.5"), ("x" * 64, "x" * 64), ("midjourney-v6/niji", "midjourney-v6/niji"), ("ünï", "ünï")):
        result = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(gallery), "--generator", name, "--json", "a.png", "b.png"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["class"] == stored


def test_a_stored_class_name_with_a_newline_stays_on_one_row(model, tmp_path):
    from aidetect.config import ModelConfig
    from aidetect.gallery import Gallery

    config = ModelConfig.load(model)
    dim = config.architecture.output_dim
    g = Gallery.create(config.fingerprint, dim, source="test")
    rows = np.random.default_rng(0).standard_normal((2, dim)).astype(np.float32)
    g.add(rows / np.linalg.norm(rows, axis=1, keepdims=True), "two\nlines", ["/a.png", "/b.png"],
          [hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()], source="test")
    g.save(tmp_path / "g.npz")
    listing = runner.invoke(app, ["gallery", "list", "--model", str(model), "--gallery", str(tmp_path / "g.npz")])
    assert listing.exit_code == 0, listing.output
    assert "two\\nlines" in listing.stdout


# --------------------------------------------------------------------------- 5. config.json values


@pytest.mark.parametrize("edit, field", [
    (lambda c: c["preprocess"].update(image_size="256"), "preprocess.image_size"),
    (lambda c: c["preprocess"].update(image_size=-32), "preprocess.image_size"),
    (lambda c: c["preprocess"].update(mode="zoom"), "preprocess.mode"),
    (lambda c: c["preprocess"].update(interpolation=3), "preprocess.interpolation"),
    (lambda c: c["preprocess"].update(grid=0), "preprocess.grid"),
    (lambda c: c["preprocess"].update(views=9), "preprocess.views"),
    (lambda c: c["preprocess"].update(train_image_size=True), "preprocess.train_image_size"),
    (lambda c: c["classifier"].update(detect_threshold="0.5"), "classifier.detect_threshold"),
    (lambda c: c["architecture"].update(embedding_dim=-1), "architecture.embedding_dim"),
    (lambda c: c["architecture"].update(spectrum_weight=1.5), "architecture.spectrum_weight"),
    (lambda c: c["architecture"].update(learned_crop="big"), "architecture.learned_crop"),
    (lambda c: c["augment"].update(jpeg_p=2), "augment.jpeg_p"),
    (lambda c: c["augment"].update(jpeg_quality=[100, 60]), "augment.jpeg_quality"),
    (lambda c: c["augment"].update(blur_sigma="wide"), "augment.blur_sigma"),
    (lambda c: c.update(preprocess=[]), "preprocess"),
    (lambda c: c.update(fingerprint=""), "fingerprint"),
])
def test_bad_config_values_are_one_line_naming_the_field(model, work, edit, field):
    config = json.loads((model / "config.json").read_text())
    edit(config)
    (model / "config.json").write_text(json.dumps(config))
    for args in (["info", "--model", str(model)], ["detect", "--model", str(model), "a.png"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert one_line(result.stderr) and f"{field} is" in result.stderr, result.stderr
        assert "skipped" not in result.output


def test_an_empty_fingerprint_says_how_to_repair(model):
    config = json.loads((model / "config.json").read_text())
    config["fingerprint"] = ""
    (model / "config.json").write_text(json.dumps(config))
    result = runner.invoke(app, ["info", "--model", str(model)])
    assert result.exit_code == 2 and "sha256sum model.safetensors" in result.stderr


def test_shipped_configs_still_load():
    from aidetect.config import ModelConfig

    for folder in (FIXTURE_MODEL, REPO / "aidetect" / "bundled" / "default"):
        ModelConfig.load(folder)


# --------------------------------------------------------------------------- 7. OS errors


def test_csv_naming_a_folder_is_refused_before_any_work(model, work, tmp_path):
    result = runner.invoke(app, ["detect", "--model", str(model), "--csv", str(tmp_path), "a.png"])
    assert result.exit_code == 2 and one_line(result.stderr) and "is a folder" in result.stderr


def test_report_naming_a_file_is_refused_before_any_work(model, work):
    (work / "existing.html").write_text("keep me")
    result = runner.invoke(app, ["detect", "--model", str(model), "--report", "existing.html", "a.png"])
    assert result.exit_code == 2 and one_line(result.stderr) and "is a file" in result.stderr
    assert (work / "existing.html").read_text() == "keep me"


def test_embed_out_naming_a_folder_is_refused(model, work):
    (work / "out.npz").mkdir()
    result = runner.invoke(app, ["embed", "--model", str(model), "--out", "out.npz", "a.png"])
    assert result.exit_code == 2 and one_line(result.stderr) and "is a folder" in result.stderr


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("as_json", [True, False])
def test_disk_full_on_csv_prints_the_results_first(model, work, tmp_path, monkeypatch, as_json):
    monkeypatch.setattr(render, "atomic_write_bytes", _disk_full)
    result = runner.invoke(app, ["detect", "--model", str(model), "--csv", str(tmp_path / "r.csv"),
                                 *(["--json"] if as_json else []), "a.png", "b.png"])
    assert result.exit_code == 2, result.output
    assert error_lines(result) and len(error_lines(result)) == 1 and "disk is full" in error_lines(result)[0]
    if as_json:
        assert [r["path"] for r in json.loads(result.stdout)] == ["a.png", "b.png"]
    else:
        assert "a.png" in result.stdout and "b.png" in result.stdout


@pytest.mark.parametrize("command", ["embed", "enroll"])
def test_disk_full_while_saving_is_one_line(model, work, tmp_path, monkeypatch, command):
    import aidetect.fileio as fileio

    monkeypatch.setattr(fileio.os, "fsync", _disk_full)
    args = {"embed": ["embed", "--model", str(model), "--out", str(tmp_path / "e.npz")],
            "enroll": ["enroll", "--model", str(model), "--gallery", str(tmp_path / "g.npz"), "--generator", "x"]}[command]
    result = runner.invoke(app, [*args, "a.png"])
    assert result.exit_code == 2, result.output
    assert len(error_lines(result)) == 1 and "disk is full" in error_lines(result)[0]
    assert "Traceback" not in result.output


def test_any_other_os_error_is_one_line_exit_2(model, work):
    (work / "afile").write_text("x")
    result = runner.invoke(app, ["detect", "--model", str(model), "--report", "afile/sub", "a.png"])
    assert result.exit_code == 2, result.output
    assert len(error_lines(result)) == 1 and "afile" in error_lines(result)[0]
    assert "a.png" in result.stdout  # the table came first


# --------------------------------------------------------------------------- 9. AIDETECT_MAX_PIXELS


@pytest.mark.parametrize("command", ["detect", "embed", "inspect"])
def test_invalid_max_pixels_is_one_configuration_error(model, work, tmp_path, monkeypatch, command):
    monkeypatch.setenv("AIDETECT_MAX_PIXELS", "lots")
    args = {"detect": ["detect", "--model", str(model)], "embed": ["embed", "--model", str(model), "--out", str(tmp_path / "e.npz")],
            "inspect": ["inspect"]}[command]
    result = runner.invoke(app, [*args, "a.png", "b.png"])
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) and "AIDETECT_MAX_PIXELS" in result.stderr and "skipped" not in result.stderr


# --------------------------------------------------------------------------- 10. order and paths as given


def test_json_records_are_in_input_order_with_paths_as_given(model, work):
    (work / "sub").mkdir()
    shutil.copy(QUERIES[3], work / "sub" / "c.png")
    args = ["./a.png", "missing.png", "sub", "./b.png"]
    for command in ("detect", "attribute"):
        records = json.loads(runner.invoke(app, [command, "--model", str(model), "--json", *args]).stdout)
        assert [r["path"] for r in records] == ["./a.png", "missing.png", "sub/c.png", "./b.png"]
        assert records[1]["error"] and not records[0]["error"]
    records = json.loads(runner.invoke(app, ["inspect", "--json", *args]).stdout)
    assert [r["path"] for r in records] == ["./a.png", "missing.png", "sub/c.png", "./b.png"]


# --------------------------------------------------------------------------- 11, 12. what folders hold


@pytest.fixture
def odd_folder(work) -> Path:
    folder = work / "odd"
    (folder / "empty").mkdir(parents=True)
    shutil.copy(QUERIES[0], folder / "good.png")
    (folder / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (folder / "logo.svg").write_text("<svg/>")
    (folder / "notes.txt").write_text("not an image")
    os.mkfifo(folder / "pipe.png")
    os.symlink("/dev/null", folder / "device.png")
    return folder


def test_a_link_to_a_device_is_not_called_broken(odd_folder):
    errors = []
    list(images.iter_image_files([odd_folder], on_error=lambda p, r: errors.append((Path(p).name, r))))
    reasons = dict(errors)
    assert "broken" not in reasons["device.png"] and "not a regular file" in reasons["device.png"]
    assert "not a regular file" in reasons["pipe.png"]


def test_what_a_folder_holds_is_accounted_for(model, odd_folder):
    result = runner.invoke(app, ["detect", "--model", str(model), "--json", "odd"])
    assert result.exit_code == 1, result.output
    records = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    assert set(records) == {"device.png", "good.png", "logo.svg", "photo.heic", "pipe.png"}
    assert records["good.png"]["error"] is None
    assert "HEIC" in records["photo.heic"]["error"] and "SVG" in records["logo.svg"]["error"]
    assert "not a regular file" in records["pipe.png"]["error"]
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "1 file that is not images (.txt 1)" in notes[0] and "1 empty folder (odd/empty)" in notes[0]


@pytest.mark.parametrize("command", ["detect", "attribute", "embed", "enroll", "inspect"])
def test_an_empty_folder_is_no_images_found(model, work, tmp_path, command):
    (work / "nothing").mkdir()
    args = {"detect": ["detect", "--model", str(model)], "attribute": ["attribute", "--model", str(model)],
            "embed": ["embed", "--model", str(model), "--out", str(tmp_path / "e.npz")],
            "enroll": ["enroll", "--model", str(model), "--gallery", str(tmp_path / "g.npz"), "--generator", "x"],
            "inspect": ["inspect", "--json"]}[command]
    result = runner.invoke(app, [*args, "nothing"])
    assert result.exit_code == 2, result.output
    assert len(error_lines(result)) == 1 and "no images found" in error_lines(result)[0]
    assert not (tmp_path / "e.npz").exists()


# --------------------------------------------------------------------------- the k rule (risk)


def _big_gallery(model: Path, path: Path, per_class: int = 21) -> None:
    from aidetect.config import ModelConfig
    from aidetect.gallery import Gallery

    config = ModelConfig.load(model)
    dim = config.architecture.output_dim
    g = Gallery.create(config.fingerprint, dim, source="test")
    rng = np.random.default_rng(0)
    for label in ("real", "gen_a"):
        rows = rng.standard_normal((per_class, dim)).astype(np.float32)
        g.add(rows / np.linalg.norm(rows, axis=1, keepdims=True), label, [f"/{label}/{i}.png" for i in range(per_class)],
              [hashlib.sha256(f"{label}{i}".encode()).hexdigest() for i in range(per_class)], source="test")
    g.save(path)


def test_enroll_says_when_the_k_rule_changes(model, work, tmp_path):
    gallery = tmp_path / "g.npz"
    _big_gallery(model, gallery)
    result = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(gallery), "--generator", "one", "--json", "a.png"])
    assert result.exit_code == 0, result.output
    change = json.loads(result.stdout)["k_rule_change"]
    assert change["from"] == 11 and change["to"] == 3 and "one" in change["reason"]
    text = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(gallery), "--generator", "two", "b.png"])
    assert text.exit_code == 0 and "k = 3" not in text.stdout  # already 3: nothing changes, nothing said
    fresh = tmp_path / "g2.npz"
    _big_gallery(model, fresh)
    text = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(fresh), "--generator", "one", "a.png"])
    assert "note:" in text.stdout and "k = 3 instead of 11" in " ".join(text.stdout.split())


def test_enroll_names_the_balanced_vote_when_the_new_class_is_much_smaller(model, work, tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = tmp_path / "new"
    images.mkdir()
    for i in range(30):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(images / f"{i}.png")
    gallery = tmp_path / "g.npz"
    _big_gallery(model, gallery, per_class=100)
    # 21 beside 100: small enough (a quarter or less) and large enough (over 20) for the note
    small = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(gallery), "--generator", "new", "--max", "21",
                                "--json", str(images)])
    assert small.exit_code == 0, small.output
    note = json.loads(small.stdout)["small_class_note"]
    assert note.startswith("new has 21 images beside classes of 100 (the median)") and "--vote balanced" in note
    # 25 beside 100 is a quarter: still said; 30 is more: nothing to say
    quarter = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(gallery), "--generator", "new", "--max", "25",
                                  "--json", str(images)])
    assert json.loads(quarter.stdout)["small_class_note"].startswith("new has 25 images")
    more = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(gallery), "--generator", "new", "--json", str(images)])
    assert more.exit_code == 0 and json.loads(more.stdout)["classes"]["new"] == 30
    assert json.loads(more.stdout)["small_class_note"] is None
    # a class of 20 or fewer: the balanced vote is not what it needs (its rows would weigh too much)
    tiny = tmp_path / "tiny.npz"
    _big_gallery(model, tiny, per_class=100)
    few = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(tiny), "--generator", "one", "--json", "a.png"])
    assert few.exit_code == 0 and json.loads(few.stdout)["small_class_note"] is None
    fresh = tmp_path / "fresh.npz"
    _big_gallery(model, fresh, per_class=100)
    text = runner.invoke(app, ["enroll", "--model", str(model), "--gallery", str(fresh), "--generator", "new", "--max", "21", str(images)])
    assert "--vote balanced" in " ".join(text.stdout.split())


def test_no_small_class_note_when_the_model_votes_by_class():
    """The note names the balanced vote because a row-counting vote can outvote a small class;
    a model whose vote counts each class once (balanced, centroid) has nothing to be told."""
    from types import SimpleNamespace

    from aidetect.cli.inference_cmd import _small_class_note

    result = SimpleNamespace(label="new", added=21, classes={"new": 21, "a": 100, "b": 100})
    assert "--vote balanced" in _small_class_note(result, "weighted")
    assert _small_class_note(result, "balanced") is None
    assert _small_class_note(result, "centroid") is None


def test_the_k_rule_change_under_the_centroid_vote_says_k_changes_the_evidence_only():
    from types import SimpleNamespace

    from aidetect.cli.inference_cmd import _k_rule_change

    result = SimpleNamespace(label="new", added=6, classes={"new": 6, "a": 100, "b": 100})
    assert _k_rule_change(result, None)["reason"].startswith("every query of this gallery now votes with k = 3 instead of 11")
    centroid = _k_rule_change(result, None, "centroid")
    assert (centroid["from"], centroid["to"]) == (11, 3)
    assert centroid["reason"].startswith("the neighbours shown as evidence are now the 3 nearest instead of 11")
