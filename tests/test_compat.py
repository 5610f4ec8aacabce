"""A model directory written before the refactor into gallery/ and ClassifierConfig loads and gives the same records."""

import json
import shutil
from pathlib import Path

import pytest

from aidetect.config import ClassifierConfig, ModelConfig
from aidetect.inference import classify_paths, open_session

FIXTURE = Path(__file__).parent / "fixtures" / "model_v0_1"
COMPARED = ("label", "confidence", "nearest_label", "nearest_in_class_similarity", "unknown_threshold", "runner_up",
            "runner_up_confidence", "score_ai", "verdict", "score", "threshold", "k", "vote", "sha256",
            "model_fingerprint", "gallery_fingerprint", "error")


def test_old_config_reads_into_the_typed_classifier():
    config = ModelConfig.load(FIXTURE)
    assert isinstance(config.classifier, ClassifierConfig)
    old = json.loads((FIXTURE / "config.json").read_text())["classifier"]
    assert config.classifier.vote == old["vote"]
    assert config.classifier.detect_threshold == pytest.approx(old["detect_threshold"])
    assert config.classifier.detect_threshold_rule == old["detect_threshold_rule"]


@pytest.mark.parametrize("task", ["attribute", "detect"])
def test_old_model_directory_gives_identical_records(task, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(FIXTURE, model, ignore=shutil.ignore_patterns("queries", "records.json", "README.md"))
    expected = json.loads((FIXTURE / "records.json").read_text())[task]
    session = open_session(model, device="cpu")
    records = classify_paths(session, [FIXTURE / "queries"], task=task, progress=None, metadata=False)
    assert [Path(r["path"]).name for r in records] == [e["path"] for e in expected]
    for got, want in zip(records, expected):
        for key in COMPARED:
            if key in want:
                assert got.get(key) == pytest.approx(want[key], abs=1e-5) if isinstance(want[key], float) else got.get(key) == want[key], key
        assert [(n["label"], n["path"].rsplit("/", 1)[-1]) for n in got["neighbors"]] == [
            (n["label"], n["path"].rsplit("/", 1)[-1]) for n in want["neighbors"]
        ]
        assert [n["similarity"] for n in got["neighbors"]] == pytest.approx([n["similarity"] for n in want["neighbors"]], abs=1e-5)
