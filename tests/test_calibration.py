"""Calibration on validation images (aidetect.calibration), with hand-made inputs."""

import numpy as np
import pytest

from aidetect.calibration import calibrate, choose_spectrum_weight, youden_threshold
from aidetect.config import DEFAULT_DETECT_THRESHOLD, ClassifierConfig
from aidetect.gallery import Gallery
from aidetect.gallery.knn import KNNClassifier
from aidetect.models.fusion import reweigh_fused
from test_knn import CENTRES, clusters, gallery_of


def test_youden_threshold_is_the_midpoint_of_the_best_range():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    is_ai = np.array([False, False, False, True, True, True])
    # any threshold in (0.3, 0.7] separates perfectly; the midpoint of [0.3, 0.7] is 0.5
    assert youden_threshold(scores, is_ai) == pytest.approx(0.5)


def test_youden_threshold_with_overlap():
    scores = np.array([0.1, 0.4, 0.6, 0.5, 0.8, 0.9])
    is_ai = np.array([False, False, False, True, True, True])
    t = youden_threshold(scores, is_ai)
    # best J = 2/3: at 0.5 < t ≤ 0.6 (one real above) or 0.6 < t ≤ 0.8 (one AI below); the range found is one of these
    verdict = scores >= t
    j = verdict[is_ai].mean() - verdict[~is_ai].mean()
    assert j == pytest.approx(2 / 3)


def test_calibrate_on_separable_validation_set():
    embeddings, labels = clusters(CENTRES, 30, 0.05)
    gallery = gallery_of(embeddings, labels)
    val, val_labels = clusters(CENTRES, 10, 0.05, seed=4)
    rules = calibrate(gallery, val, val_labels)
    assert isinstance(rules, ClassifierConfig)
    assert rules.vote == "weighted"  # ties go to weighted
    assert rules.validation_accuracy == {"majority": 1.0, "weighted": 1.0, "centroid": 1.0}
    assert rules.detect_threshold_rule.startswith("youden-validation")
    assert rules.calibrated and rules.threshold_on == "p_ai"
    assert rules.probability(1.0) > 0.5 > rules.probability(0.0)
    assert 0.0 <= rules.probability_ece_validation < 0.5
    assert 0.0 < rules.detect_threshold <= 1.0
    assert rules.detect_balanced_accuracy_validation == 1.0
    assert rules.validation_images == 30
    assert 0.0 <= rules.false_unknown_rate_validation <= 0.2


def test_calibrate_without_real_images_keeps_the_default_threshold():
    centres = {k: v for k, v in CENTRES.items() if k != "real"}
    embeddings, labels = clusters(centres, 20, 0.05)
    gallery = gallery_of(embeddings, labels)
    val, val_labels = clusters(centres, 5, 0.05, seed=5)
    rules = calibrate(gallery, val, val_labels)
    assert rules.detect_threshold == DEFAULT_DETECT_THRESHOLD
    assert rules.detect_threshold_rule.startswith("default")


def test_reweigh_fused_changes_the_shares_of_the_cosine():
    rng = np.random.default_rng(0)
    learned, spectrum = rng.normal(size=(2, 4)), rng.normal(size=(2, 3))
    learned /= np.linalg.norm(learned, axis=1, keepdims=True)
    spectrum /= np.linalg.norm(spectrum, axis=1, keepdims=True)

    def fused(w):
        return np.concatenate([np.sqrt(1 - w) * learned, np.sqrt(w) * spectrum], axis=1)

    again = reweigh_fused(fused(0.3), 4, 0.3, 0.8)
    np.testing.assert_allclose(again, fused(0.8), atol=1e-6)


def test_choose_spectrum_weight_picks_the_part_that_separates():
    # The learned part separates the two classes, the spectrum part is noise: small weights must win.
    rng = np.random.default_rng(1)
    labels = ["a"] * 20 + ["b"] * 20
    learned = np.where(np.array(labels)[:, None] == "a", [1.0, 0.0], [0.0, 1.0]) + rng.normal(0, 0.05, (40, 2))
    noise = rng.normal(size=(40, 3))
    learned /= np.linalg.norm(learned, axis=1, keepdims=True)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    w = 0.5
    embeddings = np.concatenate([np.sqrt(1 - w) * learned, np.sqrt(w) * noise], axis=1).astype(np.float32)

    def make_gallery(rows):
        g = Gallery.create("f" * 16, rows.shape[1])
        g.add_labelled(rows[::2], labels[::2], [f"/g/{i}" for i in range(20)], [f"{i:064x}" for i in range(20)])
        return g

    best, scores = choose_spectrum_weight(make_gallery, embeddings, [(embeddings[1::2], labels[1::2])], 2, w)
    assert scores[best] == max(scores.values())
    assert best <= 0.5 and scores[0.1] == 1.0


def test_expected_calibration_error_on_hand_made_bins():
    from aidetect.calibration import expected_calibration_error, reliability_bins

    # Equal numbers of real and AI images, so the equal-prior weights are uniform:
    # 10 predicted 0.5, half AI (calibrated); 10 predicted 0.95, half AI (off by 0.45).
    p = np.array([0.5] * 10 + [0.95] * 10)
    y = np.array([1] * 5 + [0] * 5 + [1] * 5 + [0] * 5)
    assert expected_calibration_error(p[:10], y[:10]) == pytest.approx(0.0)
    assert expected_calibration_error(p, y) == pytest.approx(0.5 * 0.0 + 0.5 * 0.45)
    bins = reliability_bins(p, y)
    assert [b["count"] for b in bins][5] == 10 and bins[9]["count"] == 10
    # With 9 AI images for every real one, each real image weighs 9 times as much.
    p2 = np.array([0.9] * 10)
    y2 = np.array([1] * 9 + [0])
    assert reliability_bins(p2, y2)[9]["observed_ai"] == pytest.approx(0.5)


def test_isotonic_probability_is_monotone_at_even_prior_odds():
    from aidetect.calibration import expected_calibration_error, fit_isotonic

    rng = np.random.default_rng(0)
    # 9 AI images for each real one, as on the zoo: the curve must not carry that prior.
    shares = np.concatenate([rng.beta(5, 1, 900), rng.beta(1, 5, 100)])
    is_ai = np.array([True] * 900 + [False] * 100)
    xs, ys = fit_isotonic(shares, is_ai)
    rules = ClassifierConfig(probability_method="isotonic", probability_x=xs, probability_y=ys)
    values = [rules.probability(s) for s in np.linspace(0, 1, 21)]
    assert values == sorted(values) and 0.0 <= values[0] < 0.5 < values[-1] <= 1.0
    p = np.array([rules.probability(s) for s in shares])
    assert expected_calibration_error(p, is_ai) < 0.02  # on its own data
    # config.json round trip, and a damaged curve is refused in one line
    again = ClassifierConfig.from_dict(__import__("dataclasses").asdict(rules))
    assert again.probability(0.7) == rules.probability(0.7)
    from aidetect.errors import CorruptFileError

    with pytest.raises(CorruptFileError, match="non-decreasing"):
        ClassifierConfig(probability_method="isotonic", probability_x=[0.0, 1.0], probability_y=[0.9, 0.1])


def test_isotonic_probability_never_claims_certainty_from_a_finite_split():
    from aidetect.calibration import fit_isotonic

    rng = np.random.default_rng(1)
    # 141 real and 1,974 AI validation images, as on the zoo; the 1,000 highest-scoring are all AI
    # and the 20 lowest all real: a plain isotonic curve reads 1.000 and 0.000 there.
    low = rng.uniform(0.2, 0.6, 974 + 121)
    scores = np.concatenate([np.full(1000, 0.9), low, np.full(20, 0.05)])
    is_ai = np.concatenate([np.ones(1000, bool), np.arange(len(low)) < 974, np.zeros(20, bool)])
    plain_xs, plain_ys = fit_isotonic(scores, is_ai, pseudo_images=0)
    assert plain_ys[-1] == 1.0 and plain_ys[0] == 0.0
    xs, ys = fit_isotonic(scores, is_ai)
    assert ys == sorted(ys) and 0.0 < ys[0] and ys[-1] < 1.0
    # one pseudo-image each side, weighing what a validation image of its kind weighs:
    # 1,000 + 1 AI images of 1,974 against 0 + 1 real image of 141
    ai, real = 1001 / 1974, 1 / 141
    assert ys[-1] == pytest.approx(ai / (ai + real))
    real_low, ai_low = 21 / 141, 1 / 1974
    assert ys[0] == pytest.approx(ai_low / (ai_low + real_low))
    # a small pure step is shrunk much further than a large one: 20 AI images of 1,974 are weak evidence
    few = np.concatenate([scores[1000:], np.full(20, 0.95)])
    few_ai = np.concatenate([is_ai[1000:], np.ones(20, bool)])
    _, few_ys = fit_isotonic(few, few_ai)
    n_ai = int(few_ai.sum())
    assert few_ys[-1] == pytest.approx((21 / n_ai) / (21 / n_ai + 1 / 141)) and few_ys[-1] < 0.8


def test_isotonic_with_one_vote_share_is_a_flat_curve():
    from aidetect.calibration import fit_isotonic

    xs, ys = fit_isotonic(np.full(20, 0.7), np.array([True] * 10 + [False] * 10))
    rules = ClassifierConfig(probability_method="isotonic", probability_x=xs, probability_y=ys)
    assert rules.probability(0.0) == rules.probability(1.0) == pytest.approx(0.5)


def test_calibration_rests_detection_on_the_score_that_separates_better():

    def at(degrees, n, rng):
        a = np.radians(degrees + rng.normal(0, 0.3, n))
        return np.stack([np.cos(a), np.sin(a), rng.normal(0, 0.002, n)], axis=1).astype(np.float32)

    rng = np.random.default_rng(1)
    gallery = gallery_of(np.concatenate([at(0, 20, rng), at(20, 200, rng)]), ["real"] * 20 + ["gen_a"] * 200)
    val = np.concatenate([at(12, 15, rng), at(20, 15, rng)])
    val /= np.linalg.norm(val, axis=1, keepdims=True)
    rules = calibrate(gallery, val, ["real"] * 15 + ["gen_a"] * 15)
    # every validation image has a vote share of 1.0; the gap separates them
    assert rules.detection_auc_validation == {"ai_vote_share": 0.5, "ai_similarity_gap": 1.0}
    assert rules.detection_score == "ai_similarity_gap" and rules.calibrated
    assert rules.detect_balanced_accuracy_validation == 1.0
    gaps = [p.ai_similarity_gap for p in KNNClassifier(gallery).predict(val)]
    assert rules.probability(max(gaps[:15])) < rules.detect_threshold <= rules.probability(min(gaps[15:]))


def test_ties_between_detection_scores_keep_the_vote_share():
    from aidetect.calibration import choose_detection_score

    is_ai = np.array([False, False, True, True])
    both = choose_detection_score({"ai_vote_share": np.array([0.0, 0.1, 0.9, 1.0]),
                                   "ai_similarity_gap": np.array([-0.2, -0.1, 0.1, 0.2])}, is_ai)
    assert both == {"detection_score": "ai_vote_share", "detection_auc_validation": {"ai_vote_share": 1.0, "ai_similarity_gap": 1.0}}
    missing = choose_detection_score({"ai_vote_share": np.array([0.0, 1.0, 0.9, 1.0]),
                                      "ai_similarity_gap": np.array([np.nan, -0.1, 0.1, 0.2])}, is_ai)
    assert missing["detection_score"] == "ai_vote_share" and "ai_similarity_gap" not in missing["detection_auc_validation"]


def test_a_detection_score_config_json_cannot_use_is_refused():
    from aidetect.errors import CorruptFileError

    with pytest.raises(CorruptFileError, match="detection_score is 'bogus'"):
        ClassifierConfig.from_dict({"detection_score": "bogus"})
    with pytest.raises(CorruptFileError, match="needs a calibration"):
        ClassifierConfig.from_dict({"detection_score": "ai_similarity_gap"})
    # a config.json written before the gap existed: the vote share, as it was calibrated on
    assert ClassifierConfig.from_dict({"detect_threshold": 0.4}).detection_score == "ai_vote_share"


def test_a_config_resting_on_the_gap_is_written_as_schema_2_and_read_back():
    from aidetect.config import ModelConfig
    from aidetect.errors import CorruptFileError

    config = ModelConfig(fingerprint="0" * 16, classifier=ClassifierConfig(detection_score="ai_similarity_gap", detection_k=11, probability_method="isotonic",
                                                     probability_x=[-0.1, 0.1], probability_y=[0.0, 1.0]))
    data = config.to_dict()
    assert data["schema_version"] == 2  # a release reading only 1 refuses it rather than misread it
    assert ModelConfig.from_dict(data).classifier.detection_k == 11
    assert ModelConfig(fingerprint="0" * 16).to_dict()["schema_version"] == 1  # nothing of 2 needed
    with pytest.raises(CorruptFileError, match="schema version 4"):
        ModelConfig.from_dict(dict(data, schema_version=4))


def test_a_config_whose_unknown_rule_an_older_release_would_misapply_is_written_as_schema_3():
    from aidetect.config import ModelConfig
    from aidetect.errors import CorruptFileError

    def version(**rules) -> int:
        return ModelConfig(fingerprint="0" * 16, classifier=ClassifierConfig(**rules)).to_dict()["schema_version"]

    # a release before 3 ignores the fields it does not know: it would judge the class mean, unshifted
    assert version(vote="centroid", unknown_on="row") == 3
    assert version(vote="weighted", unknown_shift=-0.01) == 3
    # the votes over neighbours read the row anyway, and a centroid model on the class mean is what older
    # releases apply: nothing of 3 needed
    assert version(vote="weighted", unknown_on="row") == 1
    assert version(vote="centroid") == version(vote="centroid", unknown_on="vote") == 1
    data = ModelConfig(fingerprint="0" * 16, classifier=ClassifierConfig(vote="centroid", unknown_on="row", unknown_shift=-0.02)).to_dict()
    read = ModelConfig.from_dict(data).classifier
    assert (read.unknown_on, read.unknown_shift) == ("row", -0.02)
    for field, value, message in (("unknown_on", "mean", "classifier.unknown_on"), ("unknown_shift", 2.0, "classifier.unknown_shift"),
                                  ("unknown_shift", "0.1", "classifier.unknown_shift")):
        with pytest.raises(CorruptFileError, match=message):
            ClassifierConfig.from_dict({field: value})



def test_a_named_vote_is_kept_and_every_vote_is_measured():
    embeddings, labels = clusters(CENTRES, 30, 0.3, seed=2)
    gallery = gallery_of(embeddings, labels)
    val, val_labels = clusters(CENTRES, 10, 0.3, seed=3)
    chosen = calibrate(gallery, val, val_labels)
    named = calibrate(gallery, val, val_labels, vote="centroid")
    assert chosen.vote in ("weighted", "majority") and chosen.vote_rule.startswith("best validation accuracy")
    assert named.vote == "centroid" and named.vote_rule.startswith("named by the model's builder")
    # the stored unknown rule is the one the vote applies: the nearest row by default, whatever the vote
    assert named.unknown_rule.startswith("leave-one-out") and chosen.unknown_rule.startswith("leave-one-out")
    assert named.unknown_on == chosen.unknown_on == "row"
    on_the_mean = calibrate(gallery, val, val_labels, vote="centroid", unknown_on="vote")
    assert on_the_mean.unknown_rule.startswith("class mean") and on_the_mean.unknown_on == "vote"
    assert set(named.validation_accuracy) == {"majority", "weighted", "centroid"}
    assert named.validation_accuracy == chosen.validation_accuracy
    # the similarity gap is read from each side's nearest rows, whatever the vote
    assert named.detection_auc_validation["ai_similarity_gap"] == chosen.detection_auc_validation["ai_similarity_gap"]
    with pytest.raises(ValueError, match="balanced"):
        calibrate(gallery, val, val_labels, vote="balanced")


def test_recalibrate_keeps_a_named_vote_unless_told(tiny_model, synthetic_data, tmp_path, monkeypatch):
    """benchmarks/zoo/recalibrate.py: --vote centroid names the vote; a later run without --vote
    keeps it (a vote named on outside measurements is not the validation split's to undo);
    --vote auto chooses on validation again."""
    import json
    import shutil

    from helpers import load_script

    monkeypatch.setenv("AIDETECT_HOME", str(tmp_path / "home"))
    script = load_script("benchmarks/zoo/recalibrate.py", "zoo_recalibrate")
    model = shutil.copytree(tiny_model, tmp_path / "model")

    def stored():
        return json.loads((model / "config.json").read_text())["classifier"]

    assert script.main([str(model), "--data", str(synthetic_data), "--vote", "centroid"]) == 0
    assert stored()["vote"] == "centroid" and stored()["vote_rule"].startswith("named")
    assert script.main([str(model), "--data", str(synthetic_data)]) == 0
    assert stored()["vote"] == "centroid"
    assert script.main([str(model), "--data", str(synthetic_data), "--vote", "auto"]) == 0
    assert stored()["vote"] in ("weighted", "majority") and stored()["vote_rule"].startswith("best validation accuracy")


def test_train_names_the_vote(synthetic_data, tmp_path):
    """`train --vote centroid` stores the named vote with the rest of the calibration; a vote that
    calibration does not take (balanced) is a usage error before anything is written."""
    import json

    from typer.testing import CliRunner

    from aidetect.cli.main import app

    runner = CliRunner()
    common = ["train", "--data", str(synthetic_data), "--arch", "tiny", "--image-size", "32", "--batch-size", "16",
              "--epochs", "1", "--workers", "0", "--gallery-per-class", "20"]
    refused = runner.invoke(app, [*common, "--out", str(tmp_path / "b"), "--vote", "balanced"])
    assert refused.exit_code == 2 and "--vote balanced: choose one of majority, weighted, centroid" in refused.output
    assert not (tmp_path / "b").exists()
    named = runner.invoke(app, [*common, "--out", str(tmp_path / "c"), "--vote", "centroid"])
    assert named.exit_code == 0, named.output
    classifier = json.loads((tmp_path / "c" / "config.json").read_text())["classifier"]
    assert classifier["vote"] == "centroid" and classifier["vote_rule"].startswith("named by the model's builder")
    assert set(classifier["validation_accuracy"]) == {"majority", "weighted", "centroid"}


def test_the_unknown_shift_makes_the_floors_turn_away_five_percent_of_validation_images():
    """Floors fitted leave-one-out on the gallery's own rows promise to keep 95 % of a class; the
    shift chosen on the validation split makes that hold there, whatever the floors did before."""
    from aidetect.calibration import UNKNOWN_SHIFT_MIN_IMAGES
    from aidetect.gallery.classifier import classifier_for
    from aidetect.labels import UNKNOWN

    embeddings, labels = clusters(CENTRES, 60, 0.1, seed=7)
    gallery = gallery_of(embeddings, labels)
    # validation images spread wider than the gallery's: unshifted floors turn away far more than 5 %
    val, val_labels = clusters(CENTRES, 60, 0.2, seed=8)
    unshifted = KNNClassifier(gallery, vote="centroid", unknown_on="row").predict(val)
    assert np.mean([p.label == UNKNOWN for p in unshifted]) > 0.15
    rules = calibrate(gallery, val, val_labels, vote="centroid")
    assert rules.unknown_shift < 0 and "5 % quantile of 180" in rules.unknown_shift_rule
    called = [p.label for p in classifier_for(gallery, rules).predict(val)]
    rate = np.mean([c == UNKNOWN for c in called])
    assert rate == pytest.approx(0.05, abs=1 / len(val)) and rules.false_unknown_rate_validation == pytest.approx(rate)
    # another vote than the calibrated one runs the model's rule unshifted; the rule itself stays the model's
    other = classifier_for(gallery, rules, vote="weighted")
    assert other.unknown_shift == 0.0 and other.unknown_reads_rows
    weighted_rules = ClassifierConfig(vote="weighted", unknown_on="row", unknown_shift=-0.02)
    assert classifier_for(gallery, weighted_rules, vote="centroid").unknown_reads_rows  # rows, as the model was calibrated
    assert not classifier_for(gallery, ClassifierConfig(vote="weighted"), vote="centroid").unknown_reads_rows  # an older model
    # too few validation images: no shift, and the rule says why
    few = calibrate(gallery, val[:UNKNOWN_SHIFT_MIN_IMAGES - 1], val_labels[:UNKNOWN_SHIFT_MIN_IMAGES - 1], vote="centroid")
    assert few.unknown_shift == 0.0 and few.unknown_shift_rule.startswith("none")
