"""``aidetect evaluate``: the thesis's chapter-4 tables for a model on a data set.

Protocol (thesis 3.5.2–3.5.3): the encoder embeds the test split; a gallery is
drawn from the training split of *every* class in the data, zero-shot ones
included; the classifier attributes each test image (closed set, as in the
thesis: no "unknown"), and detection pools all generators against ``real``.
Zero-shot classes are the classes the encoder was not trained on, as recorded
in the model directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from aidetect.config import GALLERY_FILE
from aidetect.console import warn
from aidetect.data.discovery import discover
from aidetect.data.perturb import CLEAN, parse_perturbation
from aidetect.data.sampling import rows_per_class, sample_per_class
from aidetect.devices import resolve_device
from aidetect.errors import AidetectError
from aidetect.evaluation.cache import EmbeddingCache, default_cache_dir
from aidetect.evaluation.classifiers import build_classifier
from aidetect.evaluation.metrics import attribution_metrics, detection_metrics
from aidetect.evaluation.report import write_outputs
from aidetect.gallery import Gallery
from aidetect.calibration import expected_calibration_error, reliability_bins
from aidetect.gallery.classifier import classifier_for, detection_score, detection_value
from aidetect.labels import REAL
from aidetect.session import open_model
from aidetect.settings import SETTINGS


@dataclass
class EvalOptions:
    data: str
    out: str
    model: str | None = None
    setting: str | None = None
    layout: str = "auto"
    gallery_per_class: int | None = 1000  # None = the whole training split
    k: int | None = None
    vote: str | None = None
    classifier: str = "knn"
    perturb: list[str] = field(default_factory=list)
    seed: int = 0
    max_per_class: int | None = None
    batch_size: int | None = None  # None: aidetect.embedding.default_batch_size
    workers: int = 0
    device: str = "auto"
    cache_dir: str | None = None
    #: Test images embedded as detect/attribute see them: the mean of up to this many tiles
    #: covering the image at native resolution (1 = the model's own input, e.g. the centre crop).
    #: The gallery is built as training builds it, whatever this is.
    tiles: int = 1


@dataclass
class EvalContext:
    """What evaluate and sweep share: the model, the data, the cached embeddings."""

    model: object
    splits: object
    zero_shot: list[str]
    setting_name: str
    options: EvalOptions
    cache_hits: int = 0
    cache_misses: int = 0

    def embed(self, samples, perturbation=None, label: str = "embedding", tiles: int = 1):
        perturbation = perturbation or CLEAN
        key = perturbation.key if tiles <= 1 else f"{perturbation.key}+tiles{tiles}"
        cache = EmbeddingCache(self.options.cache_dir or default_cache_dir(), self.model.config.fingerprint, key)
        paths = [s.path for s in samples]
        result, hits = cache.embed(
            self.model.encoder,
            self.model.config.preprocess,
            paths,
            perturb=None if not perturbation.steps else perturbation,
            progress=label,
            batch_size=self.options.batch_size,
            workers=self.options.workers,
            device=self.model.encoder_device,
            tiles=tiles,
            known=self._model_gallery_rows,
        )
        self.cache_hits += hits
        self.cache_misses += len(result.paths) - hits
        for _, reason in result.errors:
            warn(f"skipped {reason}")
        label_of = {s.path: s.label for s in samples}
        return result, [label_of[p] for p in result.paths]

    @cached_property
    def _model_gallery(self):
        """The model directory's gallery and its row of each SHA-256, loaded once per evaluation;
        None when the folder has none or it belongs to another model."""
        gallery_path = Path(self.model.folder) / GALLERY_FILE
        if not gallery_path.is_file():
            return None
        try:
            gallery = Gallery.load(gallery_path, expected_model_fingerprint=self.model.config.fingerprint, mmap=True)
        except AidetectError:
            return None
        return gallery, {gallery.sha256s[i]: i for i in range(len(gallery))}

    def _model_gallery_rows(self, digests) -> dict:
        """The model directory's gallery holds this model's clean embeddings of its training
        images: those of ``digests`` it holds (by SHA-256), so they need not be embedded again."""
        if self._model_gallery is None:
            return {}
        gallery, row_of = self._model_gallery
        return {d: gallery.embeddings[row_of[d]] for d in digests if d in row_of}


def prepare(options: EvalOptions) -> EvalContext:
    """Open the model, discover the data and check the setting against what the model was trained on."""
    device = resolve_device(options.device)
    model, _ = open_model(options.model, device)
    model.encoder_device = device
    splits = discover(options.data, options.layout, seed=options.seed, max_per_class=options.max_per_class)
    trained = set(model.config.trained_classes)
    setting_name = model.config.setting.get("name", "custom")
    if options.setting:
        key = options.setting.lower()
        if key not in SETTINGS:
            raise AidetectError(f"unknown setting {options.setting!r}; choose one of {', '.join(SETTINGS)}")
        if trained and set(SETTINGS[key].trained) != trained:
            raise AidetectError(
                f"--setting {key} trains on {', '.join(SETTINGS[key].trained)}, but the model was trained on "
                f"{', '.join(sorted(trained))}; pass the model trained for {key} with --model"
            )
        setting_name = key
    zero_shot = sorted(c for c in splits.classes() if c not in trained)
    if not splits.test:
        raise AidetectError(f"{options.data} has no test split; evaluate needs one (GenImage val/, folders test/)")
    return EvalContext(model, splits, zero_shot, setting_name, options)


def gallery_from_embeddings(ctx: EvalContext, embedded, labels, per_class: int | None, seed: int):
    """A :class:`~aidetect.gallery.Gallery` of at most ``per_class`` rows per class (seeded draw)."""
    labels = np.asarray(labels)
    gallery = Gallery.create(ctx.model.config.fingerprint, ctx.model.config.architecture.output_dim, source="evaluation")
    keep = rows_per_class(labels, per_class, seed, "evaluation-gallery").tolist()
    gallery.add_labelled(embedded.embeddings[keep], labels[keep], [embedded.paths[i] for i in keep],
                         [embedded.sha256[i] for i in keep], source="evaluation")
    return gallery


def classify(ctx: EvalContext, gallery, embeddings, classifier: str, k=None, vote=None):
    """Closed-set labels, detection score and confidence for each test embedding.

    ``knn`` is the product's own classifier (aidetect.gallery.classifier) with the model's rules,
    its detection score the rules' own (the AI vote share or the similarity gap, before
    calibration); the others are the thesis's alternatives (aidetect.evaluation.classifiers),
    scored by 1 − their real-class score.
    """
    rules = ctx.model.config.classifier
    vote = vote or rules.vote
    if classifier == "knn":
        knn = classifier_for(gallery, rules, k=k, vote=vote, unknown_thresholds={})
        predictions = knn.predict(embeddings, top=0)
        predicted = [p.vote_label for p in predictions]
        confidence = np.array([p.confidence for p in predictions])
        values = [detection_value(p, rules) for p in predictions]
        score_ai = np.array([np.nan if v is None else v for v in values])
        return predicted, score_ai, confidence, knn.k, vote
    model = build_classifier(classifier, gallery, k=k, vote=vote, seed=ctx.options.seed)
    scores = model.scores(embeddings)
    names = model.class_names
    predicted = [names[i] for i in scores.argmax(axis=1)]
    confidence = scores.max(axis=1)
    score_ai = 1.0 - scores[:, names.index(REAL)] if REAL in names else np.full(len(scores), np.nan)
    return predicted, score_ai, confidence, None, vote


def evaluate(options: EvalOptions) -> dict:
    """Run the evaluation and write metrics.json, report.md, predictions.csv and confusion PNGs to ``options.out``."""
    started = time.perf_counter()
    ctx = prepare(options)
    perturbations = [CLEAN] + [parse_perturbation(spec) for spec in options.perturb]
    train_embedded, train_labels = ctx.embed(_gallery_pool(ctx), label="gallery images")
    gallery = gallery_from_embeddings(ctx, train_embedded, train_labels, options.gallery_per_class, options.seed)
    rules = ctx.model.config.classifier
    threshold = rules.detect_threshold
    results = {}
    predictions = {}
    for perturbation in perturbations:
        embedded, truth = ctx.embed(ctx.splits.test, perturbation, label=f"test images ({perturbation.key})", tiles=options.tiles)
        predicted, score_ai, confidence, k, vote = classify(ctx, gallery, embedded.embeddings, options.classifier, options.k, options.vote)
        finite = bool(len(score_ai)) and np.isfinite(score_ai).all()
        # The threshold applies to what the product compares it with: P(AI) for a calibrated model.
        scores = np.array([detection_score(v, rules) for v in score_ai]) if finite and options.classifier == "knn" else score_ai
        results[perturbation.key] = {
            "detection": detection_metrics(truth, scores, threshold) if finite else None,
            "attribution": attribution_metrics(truth, predicted, ctx.zero_shot),
            "calibration": _calibration(scores, truth) if finite and options.classifier == "knn" and rules.calibrated else None,
            "n_test": len(truth),
        }
        predictions[perturbation.key] = list(zip(embedded.paths, truth, predicted, score_ai, confidence))
    metrics = {
        "model": str(ctx.model.folder),
        "model_fingerprint": ctx.model.config.fingerprint,
        "data": str(Path(options.data)),
        "layout": ctx.splits.layout,
        "setting": ctx.setting_name,
        "trained_classes": ctx.model.config.trained_classes,
        "zero_shot_classes": ctx.zero_shot,
        "classifier": options.classifier,
        "k": k,
        "vote": vote,
        "gallery_per_class": options.gallery_per_class,
        "test_tiles": options.tiles,
        "gallery_classes": gallery.classes(),
        "detect_threshold": threshold,
        # the score detection rested on (the product's k-NN only; the thesis's alternatives score 1 − P(real))
        "detection_score": rules.detection_score if options.classifier == "knn" else None,
        "results": results,
        "cache": {"hits": ctx.cache_hits, "misses": ctx.cache_misses},
        "seconds": time.perf_counter() - started,
    }
    write_outputs(Path(options.out), metrics, predictions)
    return metrics


def _calibration(probabilities: np.ndarray, truth) -> dict:
    """How well P(AI) matches the observed share of AI images on the test split."""
    is_ai = np.asarray(truth) != REAL
    return {"ece": expected_calibration_error(probabilities, is_ai), "bins": reliability_bins(probabilities, is_ai)}


def _gallery_pool(ctx: EvalContext):
    """Training-split samples the gallery is drawn from: at most gallery_per_class per class, drawn now so
    only those are embedded (a full GenImage training split is 1.3 million images)."""
    return sample_per_class(ctx.splits.train, ctx.options.gallery_per_class, ctx.options.seed)
