"""benchmarks/zoo/feature_probe.py: k-NN attribution from every stage of a trained encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aidetect.embedding import embed_files
from aidetect.models.model_dir import load_model
from helpers import load_script


def _load():
    return load_script("benchmarks/zoo/feature_probe.py", "feature_probe_under_test")


def test_the_head_read_is_the_products_embedding(tiny_model, synthetic_data):
    """The probe's "head output" columns are what `aidetect embed` stores, so its row is the product's."""
    probe = _load()
    model = load_model(tiny_model)
    reader = probe.StageReader(model.encoder).eval()
    paths = sorted(str(p) for p in (synthetic_data / "test" / "gen_a").iterdir())[:6]
    product = embed_files(model.encoder, model.config.preprocess, paths, hash_files=False, progress=None).embeddings
    both = embed_files(reader, model.config.preprocess, paths, hash_files=False, progress=None).embeddings
    size = model.config.preprocess.image_size
    blocks = reader.blocks(torch.zeros(1, 3, size, size))
    np.testing.assert_allclose(both[:, blocks["head output"]], product, atol=1e-5)
    # the tiny trunk's three conv blocks (conv, bn, silu each) give 9 four-dimensional layer outputs
    assert sum(name.endswith(" mean") for name in blocks) == 9
    assert blocks["trunk (head's input)"].stop - blocks["trunk (head's input)"].start == model.encoder.trunk_dim


def test_accuracies_match_a_direct_knn(tiny_model, synthetic_data, tmp_path, capsys):
    probe = _load()
    out = tmp_path / "probe.json"
    assert probe.main([str(tiny_model), str(synthetic_data), "--gallery-per-class", "20", "--conditions", "clean",
                       "--k", "5", "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    head = results["head output"]["clean"]
    # recomputed here without the probe's k-NN: cosine top-5, softmax-weighted vote as the product's
    model = load_model(tiny_model)
    classes = list(model.config.classes)
    g_paths, g_labels = probe.split_files(synthetic_data, "train", classes, 20, 0)
    t_paths, t_labels = probe.split_files(synthetic_data, "test", classes, 0, 0)
    embed = lambda p: embed_files(model.encoder, model.config.preprocess, p, hash_files=False, progress=None).embeddings
    g, t = embed(g_paths), embed(t_paths)
    sims = t @ g.T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :5]
    from aidetect.gallery.knn import WEIGHTED_TEMPERATURE

    right = 0
    for q in range(len(t)):
        w = np.exp((sims[q, top[q]] - sims[q, top[q]].max()) / WEIGHTED_TEMPERATURE)
        votes = np.bincount(g_labels[top[q]], weights=w, minlength=len(classes))
        right += votes.argmax() == t_labels[q]
    assert head["accuracy"] == pytest.approx(100 * right / len(t), abs=1e-6)
    # detection: the similarity gap, mean of the 5 nearest AI rows minus mean of the 5 nearest real rows
    real = classes.index("real")
    top_ai = np.sort(sims[:, g_labels != real], axis=1)[:, -5:].mean(axis=1)
    top_real = np.sort(sims[:, g_labels == real], axis=1)[:, -5:].mean(axis=1)
    from sklearn.metrics import roc_auc_score

    assert head["auc"] == pytest.approx(100 * roc_auc_score(t_labels != real, top_ai - top_real), abs=1e-3)
    assert head["zero_shot"] is None  # the tiny model trained on every class
    assert "| stage 0 mean | clean |" in capsys.readouterr().out


def test_a_root_without_splits_is_a_usage_error(tiny_model, tmp_path):
    with pytest.raises(SystemExit) as exc:
        _load().main([str(tiny_model), str(tmp_path)])
    assert exc.value.code == 2


def test_zero_shot_classes_can_be_named_for_a_model_trained_on_all(tiny_model, synthetic_data, tmp_path):
    probe = _load()
    out = tmp_path / "probe.json"
    assert probe.main([str(tiny_model), str(synthetic_data), "--gallery-per-class", "10", "--conditions", "clean",
                       "--zero-shot", "gen_a", "--json", str(out)]) == 0
    cell = json.loads(out.read_text())["results"]["head output"]["clean"]
    # 4 classes with 20 test images each: the overall accuracy is the mean of 1 zero-shot and 3 seen classes
    assert cell["accuracy"] == pytest.approx((cell["zero_shot"] + 3 * cell["seen"]) / 4, abs=1e-6)
    with pytest.raises(SystemExit) as exc:
        probe.main([str(tiny_model), str(synthetic_data), "--zero-shot", "no-such-class"])
    assert exc.value.code == 2
