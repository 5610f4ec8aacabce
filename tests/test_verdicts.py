"""One decision per image (aidetect.gallery.classifier.decide), the whole image in tiles, input conditions."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from aidetect.cli.main import app
from aidetect.config import ClassifierConfig, PreprocessConfig
from aidetect.data.conditions import read_conditions
from aidetect.gallery.classifier import decide
from aidetect.gallery.knn import Prediction
from aidetect.models.preprocess import covered_fraction, default_max_tiles, tile_boxes, to_tiles
from conftest import tiny_train_options
from synthetic import synthetic_image

runner = CliRunner()


class FakeClassifier:
    unknown_thresholds = {"gen_a": 0.9, "real": 0.9}


def prediction(label="gen_a", vote_label=None, share=0.9, runner_up="real", runner_share=0.1, score_ai=0.9, near=0.95):
    return Prediction(label=label, vote_label=vote_label or label, confidence=share, runner_up=runner_up,
                      runner_up_confidence=runner_share, score_ai=score_ai, nearest_in_class=near)


RULES = ClassifierConfig(detect_threshold=0.5)


def test_agreeing_signals_give_a_verdict():
    d = decide(prediction(), FakeClassifier(), RULES)
    assert (d.label, d.verdict, d.reason) == ("gen_a", "ai", None)
    d = decide(prediction("real", share=0.8, runner_up="gen_a", runner_share=0.2, score_ai=0.2), FakeClassifier(), RULES)
    assert (d.label, d.verdict) == ("real", "real")


def test_conflicting_signals_are_inconclusive_with_the_reason():
    strict = ClassifierConfig(detect_threshold=0.95)
    d = decide(prediction(score_ai=0.9), FakeClassifier(), strict)
    assert d.verdict == "inconclusive" and "below the threshold" in d.reason and d.label == "gen_a"
    d = decide(prediction("real", share=0.45, runner_up="gen_a", runner_share=0.3, score_ai=0.55), FakeClassifier(), RULES)
    assert d.verdict == "inconclusive" and "nearest class is real" in d.reason


def test_unknown_is_inconclusive_and_ties_are_called_ties():
    d = decide(prediction("unknown", vote_label="gen_a", near=0.5), FakeClassifier(), RULES)
    assert d.verdict == "inconclusive" and "farther from every gallery class" in d.reason
    # under the centroid vote the rule read the class mean, and the reason says so (not "every class")
    centroid = FakeClassifier()
    centroid.vote = "centroid"
    d = decide(prediction("unknown", vote_label="gen_a", near=0.5), centroid, RULES)
    assert d.verdict == "inconclusive" and d.reason.startswith("farther from the mean of gen_a, the nearest class mean")
    assert "0.5000 below its floor 0.9000" in d.reason
    # the centroid vote judged by the nearest row (unknown_on="row", the bundled model's rule): the reason names the rows
    centroid.unknown_reads_rows = True
    d = decide(prediction("unknown", vote_label="gen_a", near=0.5), centroid, RULES)
    assert d.reason.startswith("farther from every gallery image of gen_a, the nearest class mean, than its own images")
    assert "nearest: similarity 0.5000 below its floor 0.9000" in d.reason
    d = decide(prediction("real", share=0.5, runner_up="gen_a", runner_share=0.5, score_ai=0.5), FakeClassifier(), RULES)
    assert d.tie and d.margin == pytest.approx(0.0) and d.verdict == "inconclusive" and "tie between real and gen_a" in d.reason


def test_a_tile_that_looks_ai_makes_real_inconclusive():
    real = prediction("real", share=0.9, runner_up="gen_a", runner_share=0.1, score_ai=0.1)
    assert decide(real, FakeClassifier(), RULES, tile_ai=[False] * 9).verdict == "real"
    d = decide(real, FakeClassifier(), RULES, tile_ai=[True] + [False] * 8)
    assert d.verdict == "inconclusive" and "1 of 9 tiles" in d.reason


def test_calibrated_probability_and_threshold_on_it():
    rules = ClassifierConfig(detect_threshold=0.7, probability_method="isotonic", probability_x=[0.0, 1.0], probability_y=[0.1, 0.9])
    d = decide(prediction(score_ai=0.9), FakeClassifier(), rules)
    assert d.threshold_on == "p_ai" and d.p_ai == pytest.approx(0.1 + 0.9 * 0.8)
    assert d.verdict == "ai"
    assert decide(prediction(score_ai=0.55), FakeClassifier(), rules).verdict == "inconclusive"  # p 0.54 < 0.7


def test_tiles_cover_the_image_and_the_cap_is_stated():
    assert tile_boxes(256, 256, 256) == [(0, 0, 256, 256)]
    boxes = tile_boxes(512, 768, 256)
    assert len(boxes) == 6 and covered_fraction(512, 768, boxes) == 1.0
    big = tile_boxes(3000, 4000, 256, max_tiles=16)
    assert len(big) <= 16 and 0.0 < covered_fraction(3000, 4000, big) < 0.2
    assert all(b[2] - b[0] == 256 and b[3] - b[1] == 256 for b in big)
    assert {b[0] for b in big} >= {0, 3000 - 256} and {b[1] for b in big} >= {0, 4000 - 256}  # edge to edge


def test_tile_budget_is_an_area_so_a_smaller_input_reads_as_much_of_the_image():
    assert default_max_tiles(256) == 16 and default_max_tiles(128) == 64 and default_max_tiles(4096) == 1
    assert default_max_tiles(32) == 64  # bounded: a real verdict needs every tile to look real
    photo = Image.new("RGB", (1024, 768))  # 0.79 megapixels: within the budget at either input size
    for size in (128, 256):
        tiles, boxes, covered = to_tiles(photo, PreprocessConfig(mode="crop", image_size=size))
        assert covered == 1.0 and len(boxes) == tiles.shape[0] == (1024 // size) * (768 // size)
    # an explicit cap still wins: 16 tiles of 128 px read only part of it
    _, boxes, covered = to_tiles(photo, PreprocessConfig(mode="crop", image_size=128), max_tiles=16)
    assert len(boxes) <= 16 and covered < 0.5


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95, 100])
def test_jpeg_quality_from_the_quantisation_table(quality, tmp_path):
    path = tmp_path / "q.jpg"
    synthetic_image("real", 0, 64).save(path, quality=quality)
    info = read_conditions(path, 256)
    assert info["container"] == "JPEG" and info["jpeg_quality"] == quality and info["jpeg_quality_exact"]
    assert info["smaller_than_input"] is True
    assert (quality < 90) == any("recompression" in n for n in info["notes"])


def test_png_has_no_jpeg_quality(tmp_path):
    path = tmp_path / "x.png"
    synthetic_image("real", 0, 300).save(path)
    info = read_conditions(path, 256)
    assert info["container"] == "PNG" and info["jpeg_quality"] is None and info["notes"] == []


def test_an_off_centre_ai_region_is_found(synthetic_data, tmp_path):
    """A 96×96 real image whose top-left 32×32 corner is made by gen_a: the centre window alone
    calls it real; the tiles find the corner and the record says so."""
    from aidetect.training import train

    out = tmp_path / "spectrum"
    train(tiny_train_options(synthetic_data, out, arch="spectrum", preprocess_mode="crop", gallery_per_class=30))
    canvas = np.asarray(synthetic_image("real", 7, 96)).copy()
    canvas[:32, :32] = np.asarray(synthetic_image("gen_a", 7, 32))
    image = tmp_path / "composite.png"
    Image.fromarray(canvas).save(image)
    centre = json.loads(runner.invoke(app, ["detect", "--model", str(out), "--json", "--tiles", "1", str(image)]).stdout)[0]
    tiled = json.loads(runner.invoke(app, ["detect", "--model", str(out), "--json", str(image)]).stdout)[0]
    assert centre["analysed"]["tiles"] == 1 and centre["analysed"]["area_fraction"] == pytest.approx(1 / 9, abs=1e-4)
    assert centre["verdict"] == "real"
    assert tiled["analysed"]["tiles"] == 9 and tiled["analysed"]["area_fraction"] == 1.0
    assert tiled["analysed"]["tile_labels"][0] == "gen_a"  # the corner tile, on its own
    assert tiled["verdict"] in ("ai", "inconclusive") and (tiled["verdict"] == "ai" or tiled["reason"])


def test_small_defects_of_the_cli(tiny_model, synthetic_data, tmp_path):
    import shutil

    model = shutil.copytree(tiny_model, tmp_path / "model")
    image = str(next((synthetic_data / "test" / "gen_a").glob("*.png")))
    bogus = runner.invoke(app, ["attribute", "--model", str(model), "--vote", "bogus", image])
    assert bogus.exit_code == 2 and "--vote 'bogus'" in bogus.output and "Traceback" not in bogus.output
    assert len(bogus.output.strip().splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = runner.invoke(app, ["detect", "--model", str(model), str(empty)])
    assert nothing.exit_code == 2 and "no images found" in nothing.output
    top = json.loads(runner.invoke(app, ["attribute", "--model", str(model), "--json", "--top", "5", "--k", "3", image]).stdout)[0]
    assert len(top["neighbors"]) == 5 and top["k"] == 3
    table = runner.invoke(app, ["attribute", "--model", str(model), "--top", "5", image], env={"COLUMNS": "80"})
    counts = [int(n) for n in __import__("re").findall(r"×(\d+) nearest", table.stdout)]
    assert sum(counts) == 5, table.stdout
    # enrolling files the gallery already holds under another class names that class
    again = runner.invoke(app, ["enroll", "--model", str(model), "--generator", "newgen", str(synthetic_data / "train" / "gen_b")])
    assert again.exit_code == 0, again.output
    assert "already in the gallery" in again.stdout and "in gen_b" in again.stdout


@pytest.mark.parametrize("vote", ["balanced", "centroid"])
def test_another_vote_from_the_cli(tiny_model, synthetic_data, vote):
    images = sorted(str(p) for p in (synthetic_data / "test" / "gen_a").glob("*.png"))[:3]
    result = runner.invoke(app, ["attribute", "--model", str(tiny_model), "--vote", vote, "--json", *images])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["vote"] for r in records] == [vote] * 3
    for r in records:
        assert 0.0 <= r["vote_share"] <= 1.0 and r["label"] and r["neighbors"]


def test_another_vote_on_a_vote_share_model_says_p_ai_is_uncalibrated(tiny_model, synthetic_data, tmp_path):
    import shutil

    model = shutil.copytree(tiny_model, tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    config["classifier"].update(vote="weighted", detection_score="ai_vote_share", probability_method="isotonic",
                                probability_x=[0.0, 1.0], probability_y=[0.0, 1.0], detection_k=None)
    (model / "config.json").write_text(json.dumps(config))
    image = str(next((synthetic_data / "test" / "gen_a").glob("*.png")))
    other = runner.invoke(app, ["attribute", "--model", str(model), "--vote", "balanced", "--json", image])
    assert other.exit_code == 0, other.output
    assert "calibrated on the weighted vote's AI share; with --vote balanced" in other.stderr
    same = runner.invoke(app, ["attribute", "--model", str(model), "--vote", "weighted", "--json", image])
    assert same.exit_code == 0 and "calibrated on" not in same.stderr
    # a model whose P(AI) rests on the similarity gap: the gap is the same for every vote, nothing to say
    config["classifier"].update(detection_score="ai_similarity_gap", probability_x=[-0.1, 0.1])
    (model / "config.json").write_text(json.dumps(config))
    gap = runner.invoke(app, ["attribute", "--model", str(model), "--vote", "balanced", "--json", image])
    assert gap.exit_code == 0 and "calibrated on" not in gap.stderr


def test_labels_are_not_truncated_at_80_columns(tiny_model, synthetic_data, tmp_path):
    import shutil

    model = shutil.copytree(tiny_model, tmp_path / "model")
    long_name = "realesrgan-x4plus-anime-long-name"
    enroll = runner.invoke(app, ["enroll", "--model", str(model), "--generator", long_name, str(synthetic_data / "test" / "gen_c")])
    assert enroll.exit_code == 0, enroll.output
    table = runner.invoke(app, ["attribute", "--model", str(model), str(synthetic_data / "test" / "gen_c")], env={"COLUMNS": "80"})
    assert table.exit_code == 0
    assert long_name in table.stdout.replace("│", "").replace(" ", "").replace("\n", "") or "…" not in table.stdout
    assert "…" not in table.stdout


def test_threads_option_sets_torch_threads(tiny_model, synthetic_data):
    import torch

    before = torch.get_num_threads()
    try:
        image = str(next((synthetic_data / "test" / "gen_a").glob("*.png")))
        result = runner.invoke(app, ["attribute", "--model", str(tiny_model), "--threads", "1", "--json", image])
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
        assert runner.invoke(app, ["attribute", "--threads", "0", image]).exit_code == 2  # min 1
    finally:
        torch.set_num_threads(before)


def test_a_model_calibrated_on_the_gap_reads_p_ai_from_the_gap():
    rules = ClassifierConfig(detection_score="ai_similarity_gap", detect_threshold=0.5, probability_method="isotonic",
                             probability_x=[-0.1, 0.1], probability_y=[0.0, 1.0])
    p = prediction(score_ai=1.0)  # every neighbour AI-generated, yet nearer the real rows than the AI ones
    p.ai_similarity_gap = -0.05
    d = decide(p, FakeClassifier(), rules)
    assert d.p_ai == pytest.approx(0.25) and d.ai_vote_share == 1.0 and d.p_ai_from == "ai_similarity_gap"
    assert d.verdict == "inconclusive" and "P(AI) 0.250 is below the threshold" in d.reason
    record = d.to_dict()
    assert record["ai_similarity_gap"] == -0.05 and record["p_ai_from"] == "ai_similarity_gap"
    p.ai_similarity_gap = None  # a gallery of real images only: no AI side to measure against
    d = decide(p, FakeClassifier(), rules)
    assert d.verdict == "inconclusive" and "no AI-generated class" in d.reason


def test_tiles_and_evaluate_read_the_gap_when_the_model_rests_on_it(synthetic_data, tmp_path):
    """A model calibrated on the gap: detect's whole image, each of its tiles and evaluate all take
    P(AI) from the gap. The curve P = gap + 0.5 sends a vote share of 0 (a real image's) to 0.5, on
    the threshold, so a path that fed the vote share in would call real tiles AI."""
    from aidetect.embedding import embed_tiled
    from aidetect.gallery.classifier import classifier_for
    from aidetect.session import open_session
    from aidetect.training import train

    out = tmp_path / "spectrum"
    train(tiny_train_options(synthetic_data, out, arch="spectrum", preprocess_mode="crop", gallery_per_class=30))
    config = json.loads((out / "config.json").read_text())
    config["schema_version"] = 2
    config["classifier"].update(detection_score="ai_similarity_gap", detection_k=5, detect_threshold=0.5,
                                probability_method="isotonic", probability_x=[-0.5, 0.5], probability_y=[0.0, 1.0])
    (out / "config.json").write_text(json.dumps(config))
    image = tmp_path / "real96.png"
    Image.fromarray(np.asarray(synthetic_image("real", 7, 96))).save(image)
    record = json.loads(runner.invoke(app, ["detect", "--model", str(out), "--json", "--report", str(tmp_path / "report"),
                                            str(image)]).stdout)[0]
    assert record["p_ai_from"] == "ai_similarity_gap" and record["analysed"]["tiles"] == 9
    html = (tmp_path / "report" / "report.html").read_text()  # the evidence report shows both sides of the gap
    assert "What the gap compares" in html and "nearest real" in html and f"{record['similarity_gap']['real_mean']:.4f}" in html
    assert record["p_ai"] == pytest.approx(record["ai_similarity_gap"] + 0.5, abs=1e-5)
    # each tile on its own: AI exactly where its gap (over the calibrated k = 5) is >= 0; a vote
    # share, never below 0, would have made all 9 look AI
    session = open_session(out, out / "gallery.npz", device="cpu")
    tiles = embed_tiled(session.model.encoder, session.model.config.preprocess, [str(image)], progress=None)
    gaps = [p.ai_similarity_gap for p in classifier_for(session.gallery, session.rules).predict(tiles.tile_embeddings[0], top=0)]
    assert record["analysed"]["tiles_ai"] == sum(g >= 0 for g in gaps) < 9
    result = runner.invoke(app, ["evaluate", "--data", str(synthetic_data), "--model", str(out), "--out", str(tmp_path / "eval"),
                                 "--gallery-per-class", "30"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["detection_score"] == "ai_similarity_gap"
    rows = (tmp_path / "eval" / "predictions.csv").read_text().splitlines()[1:]
    real_scores = [float(r.split(",")[3]) for r in rows if r.split(",")[1] == "real"]
    assert real_scores and min(real_scores) < 0  # the gap, not a vote share (never below 0)


def test_a_gallery_of_real_images_alone_calls_nothing_real():
    from aidetect.gallery import Gallery
    from aidetect.gallery.knn import KNNClassifier

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(10, 4)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    gallery = Gallery.create("f" * 16, 4)
    gallery.add_labelled(rows, ["real"] * 10, [f"/g/{i}.png" for i in range(10)], [f"{i:064x}" for i in range(10)])
    knn = KNNClassifier(gallery, unknown_thresholds={})
    p = knn.predict(rows[:1])[0]
    assert p.score_ai is None and p.ai_similarity_gap is None  # no AI side: neither score exists
    d = decide(p, knn, ClassifierConfig())  # the vote share alone would have said "real"
    assert d.verdict == "inconclusive" and "no AI-generated class" in d.reason
