import csv
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from aidetect.cli.main import app
from aidetect.evaluation.metrics import attribution_metrics, detection_metrics
from aidetect.data.perturb import parse_perturbation
from aidetect.errors import AidetectError

runner = CliRunner()


def test_detection_metrics_by_hand():
    truth = ["real", "real", "a", "a", "b", "b"]
    score_ai = np.array([0.1, 0.6, 0.7, 0.9, 0.2, 0.8])
    m = detection_metrics(truth, score_ai, threshold=0.5)
    # Generator a vs real: real scores (1 - p) = 0.9, 0.4; a: 0.3, 0.1 -> every real above every a: AUC 1.
    assert m["per_generator"]["a"]["auc"] == pytest.approx(1.0)
    # verdicts: real 0.1 -> real (ok), real 0.6 -> ai (wrong), a 0.7, 0.9 -> ai (ok): 3/4
    assert m["per_generator"]["a"]["accuracy"] == pytest.approx(0.75)
    # b vs real: real (0.9, 0.4) vs b (0.8, 0.1): pairs real>b: 0.9>0.8, 0.9>0.1, 0.4>0.1, 0.4<0.8 -> 3/4
    assert m["per_generator"]["b"]["auc"] == pytest.approx(0.75)
    # verdicts: real ok, real wrong, b 0.2 -> real (wrong), b 0.8 -> ai (ok): 2/4
    assert m["per_generator"]["b"]["accuracy"] == pytest.approx(0.5)
    assert m["mean_auc"] == pytest.approx(0.875)


def test_attribution_metrics_by_hand():
    truth = ["a", "a", "a", "b", "b", "real"]
    pred = ["a", "a", "b", "b", "real", "real"]
    m = attribution_metrics(truth, pred, zero_shot=["b"])
    # a: tp 2, fp 0, fn 1 -> P 1, R 2/3, F1 0.8
    assert m["per_class"]["a"]["precision"] == pytest.approx(1.0)
    assert m["per_class"]["a"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["a"]["f1"] == pytest.approx(0.8)
    # b: tp 1, fp 1, fn 1 -> P 0.5, R 0.5, F1 0.5
    assert m["zero_shot"]["f1"] == pytest.approx(0.5) and m["zero_shot"]["classes"] == ["b"]
    # seen = a and real; real: tp 1, fp 1, fn 0 -> P .5 R 1 F1 2/3
    assert m["seen"]["recall"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion"]["labels"] == ["a", "b", "real"]
    assert m["confusion"]["matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_perturbation_specs():
    p = parse_perturbation("jpeg:75+resize:0.5")
    assert p.key == "jpeg:75+resize:0.5"
    from PIL import Image

    image = Image.new("RGB", (40, 30), (10, 200, 30))
    assert p(image).size == (20, 15)
    assert parse_perturbation("crop:16")(image).size == (16, 16)
    assert parse_perturbation("webp:80+resize:0.5")(image).size == (20, 15)
    for bad in ("jpeg:0", "zoom:2", "blur:x", "webp:101", "wild:x"):
        with pytest.raises(AidetectError):
            parse_perturbation(bad)


@pytest.mark.slow
def test_evaluate_end_to_end_and_cache(tiny_model, synthetic_data, tmp_path):
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(synthetic_data), "--model", str(tiny_model), "--out", str(out), "--perturb", "jpeg:80"]
    first = runner.invoke(app, args + ["--json"])
    assert first.exit_code == 0, first.output
    for name in ("metrics.json", "report.md", "predictions.csv", "confusion-clean.png", "confusion-jpeg_80.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [r for r in csv.DictReader(open(out / "predictions.csv")) if r["perturbation"] == "clean"]
    assert len(rows) == 80
    # The AUC in metrics.json equals scikit-learn's on predictions.csv.
    for generator, entry in metrics["results"]["clean"]["detection"]["per_generator"].items():
        subset = [r for r in rows if r["true_class"] in ("real", generator)]
        y = [r["true_class"] == "real" for r in subset]
        s = [1 - float(r["score_ai"]) for r in subset]
        assert entry["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)
    assert metrics["results"]["clean"]["attribution"]["accuracy"] > 0.8
    # The model is calibrated: the ECE of its P(AI) on the test split and a reliability diagram.
    calibration = metrics["results"]["clean"]["calibration"]
    assert 0.0 <= calibration["ece"] <= 1.0 and sum(b["count"] for b in calibration["bins"]) == 80
    assert (out / "reliability-clean.png").is_file() and "expected calibration error" in (out / "report.md").read_text()
    assert metrics["cache"]["misses"] > 0
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    again = json.loads((out / "metrics.json").read_text())
    assert again["cache"]["misses"] == 0 and again["cache"]["hits"] == metrics["cache"]["hits"] + metrics["cache"]["misses"]
    assert again["results"] == metrics["results"]


def test_zero_shot_split_follows_the_model(synthetic_data, tmp_path):
    from aidetect.training import train
    from conftest import tiny_train_options

    model = tmp_path / "m"
    train(tiny_train_options(synthetic_data, model, epochs=1, exclude=["gen_c", "real"], gallery_per_class=10))
    out = tmp_path / "e"
    result = runner.invoke(app, ["evaluate", "--data", str(synthetic_data), "--model", str(model), "--out", str(out), "--gallery-per-class", "20"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["zero_shot_classes"] == ["gen_c", "real"]
    clean = metrics["results"]["clean"]["attribution"]
    assert clean["zero_shot"]["classes"] == ["gen_c", "real"] and clean["seen"]["classes"] == ["gen_a", "gen_b"]
    assert "zero-shot: gen_c, real" in (out / "report.md").read_text()
    assert list(metrics["results"]) == ["clean", "jpeg:75", "wild:0"]  # the default test conditions


def test_wild_conditions_are_seeded_per_image_and_follow_their_distribution():
    from PIL import Image

    from aidetect.data.perturb import WildConditions

    wild = parse_perturbation("wild")
    assert isinstance(wild, WildConditions) and wild.key == "wild:0" and parse_perturbation("wild:3").key == "wild:3"
    images = [Image.fromarray((np.random.default_rng(i).random((64, 64, 3)) * 255).astype(np.uint8)) for i in range(300)]
    chains = [wild.chain(im) for im in images]
    assert [c.key for c in chains] == [wild.chain(im).key for im in images]  # same pixels, same chain
    assert [c.key for c in chains] != [parse_perturbation("wild:1").chain(im).key for im in images]
    first_format = [next((k for k, _ in c.steps if k in ("jpeg", "webp")), "none") for c in chains]
    # first lossy step: JPEG 0.7, plus 0.1 x 0.3 of lossless-then-second-JPEG; WebP 0.2 (tolerances ~4 sigma)
    assert abs(first_format.count("jpeg") / 300 - 0.73) < 0.1 and abs(first_format.count("webp") / 300 - 0.2) < 0.09
    assert abs(sum(any(k == "resize" for k, _ in c.steps) for c in chains) / 300 - 0.5) < 0.1
    for c in chains:
        for kind, value in c.steps:
            assert {"jpeg": 65 <= value <= 95 or 70 <= value <= 90, "webp": 60 <= value <= 90,
                    "resize": 0.5 <= value <= 0.9, "crop": 0.8 * 64 - 1 <= value <= 0.95 * 64 + 1}[kind]
    out = wild(images[0])
    assert out.mode == "RGB" and out.size[0] <= 64


@pytest.mark.parametrize("classifier", ["knn", "centroid", "ffn-centroid", "ffn-representative"])
def test_each_classifier_runs(tiny_model, synthetic_data, tmp_path, classifier):
    out = tmp_path / classifier
    result = runner.invoke(app, ["evaluate", "--data", str(synthetic_data), "--model", str(tiny_model), "--out", str(out),
                                 "--classifier", classifier, "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["classifier"] == classifier
    assert metrics["results"]["clean"]["attribution"]["accuracy"] > 0.5


def test_sweep_runs(tiny_model, synthetic_data, tmp_path):
    out = tmp_path / "sweep"
    result = runner.invoke(app, ["sweep", "--data", str(synthetic_data), "--model", str(tiny_model), "--out", str(out),
                                 "--sizes", "10,20,50,100,0", "--ks", "3,11,21,1001", "--draws", "2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc["by_gallery_size"]) == ["10", "20", "50", "all"]  # 100 > 60 available per class: skipped
    assert doc["by_gallery_size"]["10"]["draws"] == 2
    assert set(doc["by_k"]) == {"3", "11", "21"}  # 1001 > gallery size
    assert (out / "sweep.png").stat().st_size > 1000 and (out / "sweep.md").is_file()
    assert doc["k_sweep_vote"] in ("weighted", "majority")
    # a model that votes by class means sweeps k with the weighted vote, which reads k
    import shutil

    model = shutil.copytree(tiny_model, tmp_path / "centroid-model")
    config = json.loads((model / "config.json").read_text())
    config["classifier"]["vote"] = "centroid"
    (model / "config.json").write_text(json.dumps(config))
    centroid = runner.invoke(app, ["sweep", "--data", str(synthetic_data), "--model", str(model), "--out",
                                   str(tmp_path / "sweep-centroid"), "--sizes", "10", "--ks", "3,11", "--draws", "1",
                                   "--json"])
    assert centroid.exit_code == 0, centroid.output
    doc = json.loads(centroid.stdout)
    assert doc["k_sweep_vote"] == "weighted" and set(doc["by_k"]) == {"3", "11"}
    assert "(weighted vote, %)" in (tmp_path / "sweep-centroid" / "sweep.md").read_text()


def test_contrastive_loss_trains(synthetic_data, tmp_path):
    result = runner.invoke(app, ["train", "--data", str(synthetic_data), "--out", str(tmp_path / "c"), "--arch", "tiny",
                                 "--image-size", "32", "--batch-size", "16", "--epochs", "1", "--workers", "0",
                                 "--loss", "contrastive", "--margin", "2", "--gallery-per-class", "10"])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["training"]["loss"] == "contrastive" and config["training"]["options"]["margin"] == 2.0


def test_tiled_evaluation_embeds_test_images_as_detect_does(tmp_path):
    """``--tiles N``: each test image is the mean of its tiles (embed_tiled, what detect and
    attribute use), under every condition, cached apart from the centre-crop embeddings."""
    from conftest import tiny_train_options
    from synthetic import write_folders_dataset

    from aidetect.embedding import embed_tiled
    from aidetect.models.model_dir import load_model
    from aidetect.training import train

    data = write_folders_dataset(tmp_path / "data", ["gen_a", "real"], 12, 4, 4, size=64)
    model_dir = tmp_path / "spectrum"
    train(tiny_train_options(data, model_dir, arch="spectrum", preprocess_mode="crop", gallery_per_class=12))
    out = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--model", str(model_dir), "--out", str(out),
                                 "--perturb", "jpeg:80", "--tiles", "4", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_tiles"] == 4 and metrics["results"]["clean"]["n_test"] == 8
    model = load_model(model_dir)
    test = sorted((data / "test").rglob("*.png"))
    jpeg = parse_perturbation("jpeg:80")
    for key, perturb in (("clean+tiles4", None), ("jpeg_80+tiles4", jpeg)):
        cached = np.load(next(p for p in _cache_files() if p.name.endswith(f"-{key}.npz")))
        direct = embed_tiled(model.encoder, model.config.preprocess, [str(p) for p in test], max_tiles=4, perturb=perturb,
                             progress=None)
        assert all(len(t) == 4 for t in direct.tile_embeddings)  # 64-px images, 32-px tiles
        by_hash = dict(zip(cached["sha256"], cached["embeddings"].astype(np.float32)))
        for digest, embedding in zip(direct.sha256, direct.embeddings):
            assert np.allclose(by_hash[digest], embedding, atol=2e-3)  # stored as float16
    # the centre-crop embeddings of the same files are another cache entry
    centre = runner.invoke(app, ["evaluate", "--data", str(data), "--model", str(model_dir), "--out", str(tmp_path / "e1"),
                                 "--perturb", "none"])
    assert centre.exit_code == 0, centre.output
    assert any(p.name.endswith("-clean.npz") for p in _cache_files())


def _cache_files():
    from aidetect.evaluation.cache import default_cache_dir

    return list(default_cache_dir().glob("*.npz"))


def test_clean_embeddings_are_seeded_from_the_models_own_gallery(tiny_model, synthetic_data, tmp_path):
    """The model directory's gallery already holds this model's embeddings of its training files:
    evaluate adopts them (after re-embedding a few to check) instead of embedding them again,
    and the metrics are those of a run that embeds everything."""
    import shutil

    from aidetect.evaluation.evaluate import EvalOptions, evaluate

    bare = tmp_path / "bare"
    shutil.copytree(tiny_model, bare)
    (bare / "gallery.npz").unlink()
    common = dict(data=str(synthetic_data), perturb=[], gallery_per_class=None)
    seeded = evaluate(EvalOptions(out=str(tmp_path / "a"), model=str(tiny_model), cache_dir=str(tmp_path / "ca"), **common))
    full = evaluate(EvalOptions(out=str(tmp_path / "b"), model=str(bare), cache_dir=str(tmp_path / "cb"), **common))
    assert seeded["model_fingerprint"] == full["model_fingerprint"]
    assert full["cache"]["hits"] == 0
    assert seeded["cache"]["hits"] > 0 and seeded["cache"]["misses"] < full["cache"]["misses"]
    assert seeded["results"] == full["results"]


def test_a_gallery_that_does_not_agree_with_the_model_is_not_adopted(tmp_path):
    from aidetect.evaluation.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path, "model", "clean")
    rows = {f"{i:064x}": np.eye(4, dtype=np.float32)[i] for i in range(4)}
    assert cache.seed(rows, lambda digests: np.stack([np.roll(rows[d], 1) for d in digests])) == 0
    assert cache.index == {}
    assert cache.seed(rows, lambda digests: np.stack([rows[d] for d in digests])) == 4
    assert set(cache.index) == set(rows)
