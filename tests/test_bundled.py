"""The default model shipped with the package works out of the box."""

import json

import pytest
from typer.testing import CliRunner

from aidetect.cli.main import app
from aidetect.home import BUNDLED_MODEL

runner = CliRunner()
EXAMPLES = BUNDLED_MODEL.parent / "examples"
pytestmark = pytest.mark.skipif(not (BUNDLED_MODEL / "config.json").is_file(), reason="no bundled model in this checkout")


def test_bundled_model_config_matches_its_weights():
    from aidetect.models.model_dir import load_model

    model = load_model(BUNDLED_MODEL)  # checks the fingerprint and every tensor's shape against config.json
    assert model.config.fingerprint and model.config.classes
    assert (BUNDLED_MODEL / "model.safetensors").stat().st_size < 30 * 2**20
    card = (BUNDLED_MODEL / "MODEL_CARD.md").read_text()
    assert model.config.fingerprint in card


def test_attribute_example_with_no_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("AIDETECT_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["attribute", "--json", str(EXAMPLES / "realesrgan-x4.png")])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert record["label"] in json.loads((BUNDLED_MODEL / "config.json").read_text())["classes"] + ["unknown"]
    assert len(record["neighbors"]) >= 3 and record["neighbors"][0]["label"]
    detect = runner.invoke(app, ["detect", "--json", str(EXAMPLES / "real.png")])
    assert detect.exit_code == 0
    verdict = json.loads(detect.stdout)[0]
    assert verdict["verdict"] in ("ai", "real", "inconclusive")
    assert (verdict["reason"] is not None) == (verdict["verdict"] == "inconclusive")


def test_enroll_writes_into_the_home_never_the_package(tmp_path, monkeypatch):
    from synthetic import write_images

    home = tmp_path / "home"
    monkeypatch.setenv("AIDETECT_HOME", str(home))
    before = {p.name: p.stat().st_mtime_ns for p in BUNDLED_MODEL.iterdir()}
    folder = tmp_path / "new"
    write_images(folder, "gen_a", 6, size=64)
    result = runner.invoke(app, ["enroll", "--generator", "x", str(folder)])
    assert result.exit_code == 0, result.output
    assert {p.name: p.stat().st_mtime_ns for p in BUNDLED_MODEL.iterdir()} == before
    copies = list((home / "galleries").glob("*.npz"))
    assert len(copies) == 1
    listing = json.loads(runner.invoke(app, ["gallery", "list", "--json"]).stdout)
    assert listing["classes"]["x"] == 6 and listing["gallery"] == str(copies[0])


def test_the_report_shows_the_bundled_galleries_neighbours_on_any_machine(tmp_path):
    """Evidence a reader can check: every neighbour in the HTML report is drawn from the
    thumbnail stored in the bundled gallery, not from a file on the machine that built it."""
    import re
    import sys
    from pathlib import Path

    report = tmp_path / "report"
    result = runner.invoke(app, ["detect", "--top", "5", "--report", str(report), str(EXAMPLES / "style-transfer.png")])
    assert result.exit_code == 0, result.output
    document = (report / "report.html").read_text(encoding="utf-8")
    neighbours = re.findall(r'<figure class="nb">(.*?)</figure>', document, re.S)
    assert len(neighbours) == 5
    assert all("data:image/png;base64," in n and "image not available" not in n for n in neighbours)
    sides = re.findall(r'<figure class="nb side">(.*?)</figure>', document, re.S)  # what the similarity gap compares
    assert len(sides) == 2 and all("data:image/png;base64," in n for n in sides)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from browser import chromium_path, looks_blank, screenshot_html, screenshot_stats

    if chromium_path() is None:
        return  # the data URIs above are what a browser draws; the screenshot needs Chromium
    assert not looks_blank(screenshot_stats(screenshot_html(report / "report.html", tmp_path / "shot.png", size=(1200, 1600))))
