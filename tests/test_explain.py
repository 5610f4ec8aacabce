"""``aidetect explain`` (LIME), ``aidetect visualize`` (UMAP map) and the HTML evidence report."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from aidetect.cli.main import app
from synthetic import synthetic_image, write_images

runner = CliRunner()


def _test_image(synthetic_data, label="gen_a"):
    return sorted((synthetic_data / "test" / label).glob("*.png"))[0]


def _png_std(path) -> float:
    with Image.open(path) as image:
        return float(np.asarray(image.convert("RGB"), dtype=np.float32).std())


@pytest.fixture(scope="module")
def loaded_tiny(tiny_model):
    from aidetect.models.model_dir import load_model

    return load_model(tiny_model, "cpu")


# --------------------------------------------------------------------------- explain


def test_explain_cli_writes_png(tiny_model, synthetic_data, tmp_path):
    out = tmp_path / "lime.png"
    result = runner.invoke(
        app,
        ["explain", str(_test_image(synthetic_data)), "--out", str(out), "--samples", "48", "--segments", "12",
         "--model", str(tiny_model), "--device", "cpu", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["samples"] == 48 and summary["segments"] >= 6
    assert 0 < len(summary["top_segments"]) <= 5 and len(summary["weights"]) == summary["segments"]
    assert out.stat().st_size > 10_000
    with Image.open(out) as image:
        assert image.size[0] > 600 and image.size[1] > 250
    assert _png_std(out) > 20, "the PNG is (nearly) one colour"


def test_lime_same_seed_same_top_segments(loaded_tiny, synthetic_data):
    from aidetect.explain import explain_image

    path = _test_image(synthetic_data, "gen_b")
    first = explain_image(loaded_tiny, path, samples=64, segments=16, seed=3, batch_size=16, progress=None)
    second = explain_image(loaded_tiny, path, samples=64, segments=16, seed=3, batch_size=16, progress=None)
    assert first.top_segments == second.top_segments and first.top_segments
    np.testing.assert_array_equal(first.weights, second.weights)
    np.testing.assert_array_equal(first.segments, second.segments)
    other = explain_image(loaded_tiny, path, samples=64, segments=16, seed=4, batch_size=16, progress=None)
    assert not np.array_equal(first.masks, other.masks)
    # The explanation's own pieces are consistent.
    assert first.masks.shape == (64, first.n_segments) and first.masks[0].all()
    assert first.similarities[0] == pytest.approx(1.0, abs=1e-4)  # the unperturbed view
    assert set(np.unique(first.segments)) == set(range(first.n_segments))
    assert first.image.shape[:2] == first.segments.shape
    assert -1.0 <= first.score <= 1.0


def test_lime_grid_segmenter_needs_no_scikit_image(loaded_tiny, synthetic_data, monkeypatch):
    import aidetect.explain as explain

    monkeypatch.setattr(explain, "_skimage_segmentation", lambda: None)
    assert explain.resolve_segmenter("auto") == "grid"
    with pytest.raises(explain.AidetectError, match=re.escape("aidetect[viz]")):
        explain.resolve_segmenter("slic")
    result = explain.explain_image(loaded_tiny, _test_image(synthetic_data), samples=32, segments=16, progress=None)
    assert result.segmenter == "grid" and result.n_segments == 16


def test_segmenters_give_usable_segments():
    """SLIC on fine stripes and quickshift on a tiny image would make 1-2 segments; both fall back."""
    pytest.importorskip("skimage", reason="scikit-image is not installed (pip install 'aidetect[viz]')")
    from aidetect.explain import segment_image

    striped = np.asarray(synthetic_image("gen_a", 3, 256))
    labels, used = segment_image(striped, 50, "slic")
    assert labels.max() + 1 >= 25 and used.startswith("slic"), used
    labels, used = segment_image(np.asarray(synthetic_image("real", 3, 32)), 30, "quickshift")
    assert labels.max() + 1 >= 15 and "quickshift made only" in used, used
    labels, used = segment_image(striped, 20, "grid")
    assert labels.max() + 1 == 20 and used == "grid"


def test_lime_finds_a_planted_generator_trace(loaded_tiny, tmp_path):
    """A real image with gen_a's trace pasted into a disc: LIME's top segments lie in the disc."""
    from aidetect.explain import explain_image

    real = np.asarray(synthetic_image("real", 123456, 32))
    traced = np.asarray(synthetic_image("gen_a", 123456, 32))  # same content, plus gen_a's pattern
    yy, xx = np.mgrid[0:32, 0:32]
    disc = (xx - 10) ** 2 + (yy - 12) ** 2 < 81  # a quarter of the image
    path = tmp_path / "planted.png"
    Image.fromarray(np.where(disc[..., None], traced, real)).save(path)
    result = explain_image(loaded_tiny, path, samples=200, segments=16, segmenter="grid", seed=0, progress=None)
    inside = [float(disc[result.segments == j].mean()) for j in result.top_segments[:3]]
    assert len(inside) == 3 and np.mean(inside) > 0.6, (result.top_segments, inside)


def test_lime_fit_recovers_planted_weights():
    """The weighted ridge with LIME's kernel finds the segments that carry the response."""
    from aidetect.explain import fit_local_model, lime_kernel

    rng = np.random.default_rng(0)
    masks = rng.integers(0, 2, size=(400, 12)).astype(bool)
    masks[0] = True
    truth = np.zeros(12)
    truth[[7, 2, 9]] = [0.05, 0.03, 0.02]
    responses = 0.9 + masks @ truth + rng.normal(0, 1e-4, 400)
    weights, intercept, score = fit_local_model(masks, responses)
    assert list(np.argsort(-weights)[:3]) == [7, 2, 9]
    assert score > 0.9 and intercept == pytest.approx(0.9, abs=0.02)
    kernel = lime_kernel(masks)
    assert kernel[0] == pytest.approx(1.0) and (kernel <= 1.0).all() and kernel.min() > 0


@pytest.mark.parametrize("views", [1, 5])
def test_lime_crop_mode_explains_what_the_encoder_reads(tiny_model, tmp_path, views):
    """Crop models: only pixels some inference window reads get segments, and each view's response
    equals the encoder's similarity for the masked image put through to_input, bit for bit."""
    import torch

    from aidetect.config import ModelConfig
    from aidetect.explain import explain_image, model_window
    from aidetect.models.model_dir import load_model
    from aidetect.models.preprocess import to_input

    folder = shutil.copytree(tiny_model, tmp_path / "crop_model")
    config = ModelConfig.load(folder)
    config.preprocess.mode = "crop"
    config.preprocess.views = views
    config.save(folder)
    model = load_model(folder, "cpu")
    if views == 1:
        assert model_window(64, 80, model.config.preprocess) == (16, 24, 48, 56)
        assert model_window(20, 64, model.config.preprocess) == (0, 16, 20, 48)  # short side padded: all rows read
    path = tmp_path / "big.png"
    synthetic_image("gen_c", 7, 72).save(path)
    result = explain_image(model, path, samples=12, segments=8, segmenter="grid", seed=1, progress=None)

    seen = np.zeros((72, 72), dtype=bool)
    windows = [(20, 20)] if views == 1 else [(20, 20), (0, 0), (0, 40), (40, 0), (40, 40)]
    for top, left in windows:
        seen[top : top + 32, left : left + 32] = True
    np.testing.assert_array_equal(result.segments >= 0, seen)
    assert np.isnan(result.weight_map()[~seen]).all()

    image = result.image
    colour = np.round(image[seen].mean(axis=0)).astype(np.uint8)
    with torch.inference_mode():
        original = model.encoder(torch.from_numpy(to_input(Image.fromarray(image), model.config.preprocess)[None]))[0].numpy()
        for keep_segments, similarity in zip(result.masks[:4], result.similarities[:4]):
            keep = np.append(keep_segments, True)[result.segments]
            masked = Image.fromarray(np.where(keep[..., None], image, colour))
            embedding = model.encoder(torch.from_numpy(to_input(masked, model.config.preprocess)[None]))[0].numpy()
            assert float(embedding @ original) == pytest.approx(float(similarity), abs=1e-6)


# --------------------------------------------------------------------------- visualize


@pytest.mark.slow
def test_visualize_gallery_png_and_json(tiny_model, tmp_path):
    pytest.importorskip("umap", reason="umap-learn is not installed (pip install 'aidetect[viz]')")
    out = tmp_path / "map.png"
    result = runner.invoke(app, ["visualize", "--gallery", "--model", str(tiny_model), "--out", str(out), "--per-class", "25", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["method"]["metric"] == "cosine"
    points = document["points"]
    assert len(points) == 4 * 25
    assert all(np.isfinite([p["x"], p["y"]]).all() for p in points)
    classes = document["classes"]
    assert set(classes) == {"real", "gen_a", "gen_b", "gen_c"}
    for name, entry in classes.items():
        assert entry["n"] == 25 and entry["nearest_class"] in set(classes) - {name}
        assert len(entry["centroid_2d"]) == 2 and entry["zero_shot"] is False
    assert out.stat().st_size > 10_000 and _png_std(out) > 10

    # A gallery named after --gallery, with a class the encoder was never trained on: drawn as zero-shot.
    from aidetect.gallery import Gallery
    from aidetect.inference import enroll, open_session

    gallery_path = tmp_path / "with_new.npz"
    shutil.copy(tiny_model / "gallery.npz", gallery_path)
    session = open_session(tiny_model, gallery_path, "cpu")
    enroll(session, "gen_d", write_images(tmp_path / "gen_d", "gen_d", 20, start=500000), progress=None)
    assert "gen_d" in Gallery.load(gallery_path).classes()
    result = runner.invoke(app, ["visualize", "--gallery", str(gallery_path), "--model", str(tiny_model), "--out", str(out), "--per-class", "20", "--json"])
    assert result.exit_code == 0, result.output
    classes = json.loads(result.stdout)["classes"]
    assert classes["gen_d"]["zero_shot"] is True and classes["gen_a"]["zero_shot"] is False


def test_visualize_data_uses_the_test_split(tiny_model, synthetic_data, tmp_path):
    pytest.importorskip("umap", reason="umap-learn is not installed (pip install 'aidetect[viz]')")
    out = tmp_path / "data-map.png"
    args = ["visualize", "--data", str(synthetic_data), "--model", str(tiny_model), "--out", str(out), "--per-class", "10", "--device", "cpu"]
    result = runner.invoke(app, args + ["--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert len(document["points"]) == 40
    assert all("/test/" in p["path"] for p in document["points"])
    assert out.is_file()
    table = runner.invoke(app, args)  # the second run reads the embedding cache; prints a table
    assert table.exit_code == 0, table.output
    assert "nearest class" in table.stdout


def test_visualize_options_and_missing_umap(tiny_model, synthetic_data, tmp_path, monkeypatch):
    out = str(tmp_path / "m.png")
    neither = runner.invoke(app, ["visualize", "--model", str(tiny_model), "--out", out])
    assert neither.exit_code == 2 and "--data ROOT" in neither.output
    both = runner.invoke(app, ["visualize", "--gallery", "--data", str(synthetic_data), "--model", str(tiny_model), "--out", out])
    assert both.exit_code == 2
    bare = runner.invoke(app, ["visualize", "g.npz", "--model", str(tiny_model), "--out", out])
    assert bare.exit_code == 2 and "--gallery g.npz" in bare.output
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap -> ImportError
    missing = runner.invoke(app, ["visualize", "--gallery", "--model", str(tiny_model), "--out", out])
    assert missing.exit_code == 2
    assert "pip install 'aidetect[viz]'" in " ".join(missing.output.split())


def test_class_statistics_nearest_class_in_original_space():
    from aidetect.evaluation.visualize import class_statistics

    rng = np.random.default_rng(0)
    centres = {"a": [1.0, 0.0, 0.0], "b": [0.9, 0.43, 0.0], "c": [0.0, 0.0, 1.0]}
    embeddings, labels = [], []
    for name, centre in centres.items():
        rows = np.asarray(centre) + rng.normal(0, 0.02, (30, 3))
        embeddings.append(rows / np.linalg.norm(rows, axis=1, keepdims=True))
        labels += [name] * 30
    stats = class_statistics(np.concatenate(embeddings), labels)
    assert stats["a"]["nearest_class"] == "b" and stats["b"]["nearest_class"] == "a"
    assert stats["c"]["nearest_class"] in ("a", "b")
    assert stats["a"]["nearest_centroid_similarity"] > 0.85 > stats["c"]["nearest_centroid_similarity"]


# --------------------------------------------------------------------------- HTML report


def _records(tiny_model, synthetic_data, tmp_path, task):
    from aidetect.inference import classify_paths, open_session

    session = open_session(tiny_model, None, "cpu")
    hostile = tmp_path / "x<img src=x onerror=alert(1)>&.png"
    shutil.copy(_test_image(synthetic_data, "gen_c"), hostile)
    files = [_test_image(synthetic_data, "gen_a"), _test_image(synthetic_data, "real"), hostile, tmp_path / "missing.png"]
    records = classify_paths(session, files, task=task, top=4, progress=None)
    records[0]["neighbors"][1]["path"] = "/not/on/this/machine/<b>gone</b>.png"
    return session, records


def _data_uris(document: str) -> list[str]:
    return re.findall(r'src="(data:[^"]*)"', document)


def test_html_report_has_every_field_and_is_self_contained(tiny_model, synthetic_data, tmp_path):
    from aidetect.report_html import write_html_report

    session, records = _records(tiny_model, synthetic_data, tmp_path, "attribute")
    explained = []

    def explain(path):
        explained.append(path)
        if "alert" in path:
            raise RuntimeError("no <explanation> here")
        png = tmp_path / f"lime{len(explained)}.png"
        Image.fromarray((np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)).save(png)
        return png

    out = write_html_report(
        records, tmp_path / "report", task="attribute", model_fingerprint=session.fingerprint,
        gallery_fingerprint=session.gallery.fingerprint, explain=explain,
    )
    assert out == tmp_path / "report" / "report.html"
    document = out.read_text(encoding="utf-8")

    # Self-contained: every src is a data: URI, every href an anchor in the page, no script, no url(...).
    for attribute, value in re.findall(r'\b(src|href)\s*=\s*"([^"]*)"', document):
        assert value.startswith("data:" if attribute == "src" else "#"), (attribute, value[:80])
    assert "<script" not in document.lower() and "url(" not in document and "@import" not in document
    assert "x&lt;img src=x onerror=alert(1)&gt;&amp;.png" in document and "<img src=x" not in document  # escaped
    assert "&lt;b&gt;gone&lt;/b&gt;" in document and "image not available" in document  # placeholder
    assert "explanation failed: no &lt;explanation&gt; here" in document

    # Every field of every processed record is shown.
    assert session.fingerprint in document and session.gallery.fingerprint in document
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", document)
    for record in records:
        if record["error"]:
            assert record["error"].split(":")[-1].strip() in document  # the reason, escaped the same way
            continue
        assert record["sha256"] in document and record["label"] in document
        assert f"{record['vote_share']:.4f}" in document and record['verdict'] in document
        for neighbour in record["neighbors"]:
            assert f"{neighbour['similarity']:.4f}" in document
    assert document.count('class="nb"') == sum(len(r.get("neighbors") or []) for r in records)
    assert explained == [r["path"] for r in records if not r["error"]]

    # Thumbnails are images of at most 256 px; the LIME PNGs are embedded.
    uris = _data_uris(document)
    assert len(uris) >= 3 + 12 - 1 + 2
    for uri in uris:
        header, payload = uri.split(",", 1)
        with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
            assert max(image.size) <= 256
            assert header in ("data:image/png;base64", "data:image/jpeg;base64")


def test_html_report_detect(tiny_model, synthetic_data, tmp_path):
    from aidetect.report_html import render_html_report

    session, records = _records(tiny_model, synthetic_data, tmp_path, "detect")
    document = render_html_report(records, task="detect", model_fingerprint=session.fingerprint, gallery_fingerprint=session.gallery.fingerprint)
    assert "threshold" in document and ("P(AI-generated)" in document or "AI vote share" in document)
    for record in records:
        if not record["error"]:
            assert record["verdict"] in document and f"{record['ai_vote_share']:.4f}" in document


def test_html_report_renders_in_chromium(tiny_model, synthetic_data, tmp_path):
    """The report as a browser shows it: headless Chromium's screenshot is not blank."""
    from aidetect.report_html import write_html_report

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from browser import chromium_path, looks_blank, screenshot_html, screenshot_stats

    if chromium_path() is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium); the report was not rendered in a browser")
    session, records = _records(tiny_model, synthetic_data, tmp_path, "attribute")
    out = write_html_report(records, tmp_path / "report", task="attribute", model_fingerprint=session.fingerprint, gallery_fingerprint=session.gallery.fingerprint)
    png = screenshot_html(out, tmp_path / "shot.png", size=(1200, 1600))
    stats = screenshot_stats(png)
    assert (stats["width"], stats["height"]) == (1200, 1600)
    assert not looks_blank(stats), stats
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    assert looks_blank(screenshot_stats(screenshot_html(blank, tmp_path / "blank.png", size=(400, 300))))
