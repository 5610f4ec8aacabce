"""Typed configuration saved beside the weights as ``config.json``.

A model directory describes itself: architecture, preprocessing, recipe,
setting, classes, calibrated thresholds and training metrics. Inference reads
every one of these from here and never from command-line defaults.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from aidetect.errors import AidetectError, CorruptFileError
from aidetect.fileio import atomic_write_json

#: The newest config.json schema this release writes and reads. 2: ``classifier.detection_score``
#: may name the similarity gap (``detection_k`` beside it). A config that needs nothing of 2 is
#: still written as 1, so releases that read only 1 keep opening it; one that needs 2 is refused
#: by them (their version check) instead of misread as a vote-share model. 3: ``classifier.unknown_on``
#: may say ``row`` under the centroid vote, or ``unknown_shift`` move the floors (a release before 3
#: would apply another unknown rule than the one the model was calibrated with).
CONFIG_SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
GALLERY_FILE = "gallery.npz"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
#: Rings of the radial spectrum when it is fused with a learned embedding (ArchitectureConfig.spectrum_weight).
SPECTRUM_BINS = 128
#: The spectra a learned embedding can be fused with (``--spectrum``; aidetect.models.encoder.SPECTRA).
SPECTRUM_KINDS = ("radial", "welch")
#: Where the product's embedding is read (aidetect.models.readout): the head's output, the trunk's
#: stages or the head's hidden layer, the last two through a map fitted on the training split.
READOUTS = ("head", "stages", "hidden")
#: Side of the tiles whose spectra the Welch spectrum averages (aidetect.models.welch): k/8 cycles
#: per pixel falls on whole bins, and a 128-px crop gives four tiles, a 256-px image sixteen.
WELCH_TILE = 64
#: Encoders that are an MLP over fixed statistics of the pixels, the 2-D Welch spectrum first
#: (aidetect.models.encoder): they read WELCH_TILE-px tiles and compute their own residuals.
WELCH_ENCODERS = ("welch-mlp", "welch-cooc-mlp")


# --------------------------------------------------------------------------- #
# validation of values read from config.json (one line naming the field)
# --------------------------------------------------------------------------- #
#: The largest image side a config may ask for (a 8192² float input is 0.8 GB a batch row).
MAX_IMAGE_SIDE = 8192
PREPROCESS_MODES = ("resize", "crop")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")
#: Views averaged at inference in crop mode: the centre and up to four corners.
MAX_VIEWS = 5


def _bad(source: str, name: str, value: Any, want: str) -> CorruptFileError:
    return CorruptFileError(f"{source}: {name} is {value!r}; {want} (the model directory is damaged or was edited: fix the value or copy it again)")


def _check_int(source: str, name: str, value: Any, low: int, high: int | None = None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"between {low} and {high}" if high is not None else f"of at least {low}"
        raise _bad(source, name, value, f"give a whole number {span}" + (" or null" if optional else ""))


def _check_number(source: str, name: str, value: Any, low: float, high: float, *, high_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok:
        ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        raise _bad(source, name, value, f"give a number from {low} to {high}" + (" (exclusive)" if high_open else ""))
    return float(value)


def _check_choice(source: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _bad(source, name, value, f"give one of {', '.join(choices)}")


def _check_text(source: str, name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _bad(source, name, value, "give a non-empty string")


def _check_pair(source: str, name: str, value: Any, check) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise _bad(source, name, value, "give two values [low, high]")
    low, high = (check(f"{name}[{i}]", v) for i, v in enumerate(value))
    if low > high:
        raise _bad(source, name, list(value), "give [low, high] with low <= high")
    return (low, high)


#: LIME defaults (aidetect.explain): 200 samples took 29 s with the bundled model on this project's
#: 2-core machine while another job used both cores (143 ms per sample); 500 took minutes there.
EXPLAIN_SAMPLES = 200
EXPLAIN_SEGMENTS = 50
#: The tiles ``detect``/``attribute`` read by default, as their total pixels: 16 tiles of 256 px, about a
#: megapixel (aidetect.models.preprocess.default_max_tiles). Budgeted in pixels, not tiles, so a model
#: with a smaller input reads as much of an image at about the same cost (64 tiles of 128 px; 16 read
#: 72 % of the 30 real photos of benchmarks/verdicts.py, 64 read all of them); ``--tiles N`` caps the
#: count instead.
TILE_PIXEL_BUDGET = 16 * 256 * 256
#: ...and at most this many tiles whatever the input's size: a real verdict needs every tile to look
#: real on its own (docs/inference.md, rule 5), so the count must not grow without bound for tiny inputs.
MAX_DEFAULT_TILES = 64


@dataclass
class PreprocessConfig:
    """How an image becomes the encoder's input: a [3, S, S] tensor in [0, 1].

    ``mode``:
      * ``resize`` (the thesis): the whole image resampled to S×S. Sees all of
        the image but the resampling blurs the pixel-level traces generators leave.
      * ``crop``: a S×S window at native resolution (random during training,
        centred at inference; smaller images are padded by reflection). Keeps
        those traces intact but looks at part of the image only.
    ``grid``: crop offsets are rounded down to a multiple of this, so crops stay
    aligned with a generator's 2×2/4×4 up-sampling grid (1 = any offset).
    """

    image_size: int = 256
    mode: str = "resize"
    interpolation: str = "bilinear"
    grid: int = 1
    #: Crop side during training (crop mode); None = ``image_size``. A fully convolutional
    #: trunk with global pooling trains on small patches and embeds larger ones.
    train_image_size: int | None = None
    #: Views averaged at inference (crop mode): 1 = the centre crop; 5 = centre and four
    #: corners. Their projections are averaged before the one L2 normalisation.
    views: int = 1

    def validate(self, source: str = "config.json") -> None:
        """One-line errors for values no image could be prepared with (checked on load)."""
        _check_int(source, "preprocess.image_size", self.image_size, 1, MAX_IMAGE_SIDE)
        _check_choice(source, "preprocess.mode", self.mode, PREPROCESS_MODES)
        _check_choice(source, "preprocess.interpolation", self.interpolation, INTERPOLATIONS)
        _check_int(source, "preprocess.grid", self.grid, 1, MAX_IMAGE_SIDE)
        _check_int(source, "preprocess.train_image_size", self.train_image_size, 1, MAX_IMAGE_SIDE, optional=True)
        _check_int(source, "preprocess.views", self.views, 1, MAX_VIEWS)


@dataclass
class AugmentConfig:
    """Training-time degradations, so fingerprints survive what images go through on their way to
    an analyst (CNNDetection's recipe): JPEG re-encoding and blur, each with a probability,
    downscaling (platforms and thumbnails resample what they pass on), applied first, and lossy
    WebP instead of JPEG (what several platforms now serve)."""

    jpeg_p: float = 0.0
    jpeg_quality: tuple[int, int] = (60, 100)
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 1.5)
    resize_p: float = 0.0
    #: factors drawn uniformly from this range; bicubic, as platforms and PIL thumbnails resample
    resize_scale: tuple[float, float] = (0.5, 1.0)
    #: one draw chooses the format: JPEG with ``jpeg_p``, else WebP with ``webp_p``, else neither
    #: (as the ``wild`` test conditions do), so ``jpeg_p + webp_p`` is at most 1
    webp_p: float = 0.0
    webp_quality: tuple[int, int] = (60, 95)

    @property
    def format_shares_exceed_one(self) -> bool:
        """Whether JPEG and WebP, which share one draw, ask for more than the whole of it."""
        return self.jpeg_p + self.webp_p > 1.0 + 1e-9

    def check_format_shares(self, jpeg_given: bool = True) -> None:
        """Before training: JPEG and WebP share one draw, so their probabilities add up to 1 at most
        (named as the command-line options; ``jpeg_given`` says whether --jpeg-p came from the user
        or from the recipe)."""
        if self.format_shares_exceed_one:
            origin = "yours" if jpeg_given else "the recipe's"
            raise AidetectError(
                f"--webp-p {self.webp_p:g} with --jpeg-p {self.jpeg_p:g} ({origin}) adds up to more than 1: one draw "
                f"chooses JPEG, WebP or neither; give --webp-p {max(0.0, 1 - self.jpeg_p):g} or less, or a lower --jpeg-p")

    @property
    def active(self) -> bool:
        """Whether any degradation can happen (training items then differ from epoch to epoch)."""
        return self.jpeg_p > 0 or self.blur_p > 0 or self.resize_p > 0 or self.webp_p > 0

    def validate(self, source: str = "config.json") -> None:
        """One-line errors for values training could not use (checked on load)."""
        self.jpeg_p = _check_number(source, "augment.jpeg_p", self.jpeg_p, 0.0, 1.0)
        self.blur_p = _check_number(source, "augment.blur_p", self.blur_p, 0.0, 1.0)
        self.resize_p = _check_number(source, "augment.resize_p", self.resize_p, 0.0, 1.0)
        self.webp_p = _check_number(source, "augment.webp_p", self.webp_p, 0.0, 1.0)
        if self.format_shares_exceed_one:
            raise _bad(source, "augment.webp_p", self.webp_p,
                       f"give at most 1 - jpeg_p = {1.0 - self.jpeg_p:g} (one draw chooses JPEG, WebP or neither)")
        self.jpeg_quality = _check_pair(source, "augment.jpeg_quality", self.jpeg_quality,
                                        lambda name, v: (_check_int(source, name, v, 1, 100), v)[1])
        self.blur_sigma = _check_pair(source, "augment.blur_sigma", self.blur_sigma,
                                      lambda name, v: _check_number(source, name, v, 0.0, 100.0))
        self.resize_scale = _check_pair(source, "augment.resize_scale", self.resize_scale,
                                        lambda name, v: _check_number(source, name, v, 0.05, 4.0))
        self.webp_quality = _check_pair(source, "augment.webp_quality", self.webp_quality,
                                        lambda name, v: (_check_int(source, name, v, 1, 100), v)[1])


#: The crop alignment (pixels) a front-end needs so its cells stay in phase with a generator's
#: up-sampling grid; training and inference crops are aligned to a multiple of it.
FRONT_END_GRID: dict[str, int] = {"npr-latent": 8}


@dataclass
class ArchitectureConfig:
    """The encoder: a registered trunk, an optional input front-end, a projection head."""

    name: str = "efficientnet_b0"
    embedding_dim: int = 128
    #: ``rgb`` (the thesis), ``npr`` (neighbouring-pixel residual, Tan et al. 2024), ``npr-latent``
    #: (npr and the residual over 8×8 cells, a latent decoder's) or ``srm`` (high-pass residual,
    #: the spatial rich model's 5×5 KV filter).
    front_end: str = "rgb"
    #: 2 as in EfficientNet; 1 keeps full resolution in the first block (finer traces).
    stem_stride: int = 2
    #: Width of the hidden layer of the projection head (0 = a single linear layer).
    projection_hidden: int = 512
    #: Share of the spectrum yardstick in the embedding (0 = none). The embedding is then the
    #: learned one and the spectrum feature side by side, weighted so that the cosine
    #: similarity of two images is (1 − w)·cos(learned) + w·cos(spectrum).
    spectrum_weight: float = 0.0
    #: Which spectrum is fused (with ``spectrum_weight`` > 0): ``radial`` (the yardstick's ring
    #: average, standardised) or ``welch`` (the 2-D power spectrum of 64-px tiles, projected and
    #: whitened within class on the training split; aidetect.models.welch). Both give 128 values.
    spectrum: str = "radial"
    #: With the spectrum fused: the side of the centre window the learned part sees (None = the
    #: whole input). The spectrum is sharper over a whole 256-px image, while the learned part,
    #: trained on small crops, needs no more than a 128-px window, at a quarter of the cost.
    learned_crop: int | None = None
    #: Where the product's embedding is read: ``head`` (the projection head's output, what training
    #: shapes), ``stages`` (the trunk's stages pooled and projected with training-split statistics;
    #: aidetect.models.readout) or ``hidden`` (the head's hidden layer through the same kind of map).
    #: Either way the head is what the loss trains.
    readout: str = "head"

    @property
    def output_dim(self) -> int:
        """Values per embedding: what galleries made with this encoder hold."""
        return self.embedding_dim + (SPECTRUM_BINS if self.spectrum_weight > 0 else 0)

    def validate(self, source: str = "config.json") -> None:
        """One-line errors for values no encoder can be built from (checked on load; the trunk and
        front-end names are checked against their registries when the encoder is built)."""
        _check_text(source, "architecture.name", self.name)
        _check_int(source, "architecture.embedding_dim", self.embedding_dim, 1, 65536)
        _check_text(source, "architecture.front_end", self.front_end)
        _check_int(source, "architecture.stem_stride", self.stem_stride, 1, 64)
        _check_int(source, "architecture.projection_hidden", self.projection_hidden, 0, 65536)
        self.spectrum_weight = _check_number(source, "architecture.spectrum_weight", self.spectrum_weight, 0.0, 1.0, high_open=True)
        _check_int(source, "architecture.learned_crop", self.learned_crop, 1, MAX_IMAGE_SIDE, optional=True)
        _check_choice(source, "architecture.readout", self.readout, READOUTS)
        _check_text(source, "architecture.spectrum", self.spectrum)
        if self.spectrum not in SPECTRUM_KINDS:
            raise _bad(source, "architecture.spectrum", self.spectrum, f"choose one of {', '.join(SPECTRUM_KINDS)}")


#: The training losses by their command-line names (aidetect.losses.build_loss).
LOSSES = ("supcon", "contrastive", "softmax")
#: SupCon's temperature range: where a learned τ is clamped and what a given one must lie in.
SUPCON_MIN_TEMPERATURE, SUPCON_MAX_TEMPERATURE = 0.01, 1.0

#: Detection threshold on the AI score when none was calibrated (no validation split).
DEFAULT_DETECT_THRESHOLD = 0.5
VOTES = ("majority", "weighted", "balanced", "centroid")
#: The votes calibration measures and a model's builder may name (`train --vote`); ``balanced``
#: is a per-call choice only (aidetect.calibration).
CALIBRATION_VOTES = ("majority", "weighted", "centroid")
#: What the unknown rule measures (aidetect.gallery.knn): what the vote read, or the nearest row of
#: the winning class whatever the vote.
UNKNOWN_ON = ("vote", "row")


def unknown_reads_rows(vote: str, unknown_on: str) -> bool:
    """Whether the unknown rule reads the winning class's nearest row (else its mean): every vote
    over neighbours does, and the centroid vote with ``unknown_on="row"``."""
    return vote != "centroid" or unknown_on == "row"


#: How ``classifier.vote_rule`` begins for a vote the model's builder named.
NAMED_VOTE_RULE = "named by the model's builder"


def check_named_vote(vote: str | None) -> None:
    """A vote named for training (``train --vote``) must be one calibration takes."""
    if vote is not None and vote not in CALIBRATION_VOTES:
        raise AidetectError(f"--vote {vote}: choose one of {', '.join(CALIBRATION_VOTES)} "
                            "(balanced is chosen per call, on detect and attribute)")

PROBABILITY_METHODS = ("isotonic",)
#: The numbers a verdict can rest on (aidetect.gallery.knn): the share of the k-NN vote outside
#: ``real``, and the mean similarity to the k nearest AI-generated gallery images minus that to the
#: k nearest real ones. Models calibrated before the gap existed use the vote share.
DETECTION_SCORES = ("ai_vote_share", "ai_similarity_gap")
#: How reports name them.
DETECTION_SCORE_NAMES = {"ai_vote_share": "AI vote share", "ai_similarity_gap": "similarity gap (AI − real)"}


@dataclass
class ClassifierConfig:
    """The decision rules a model directory ships with (applied in aidetect.gallery.classifier).

    Chosen on the validation split by aidetect.calibration; ``evaluate``, ``sweep``, ``detect``
    and ``attribute`` all read them from here. Field names are the keys config.json has always
    used, so model directories written before this class existed load unchanged.
    """

    #: ``weighted`` (softmax of similarity / 0.07) or ``majority`` (the thesis's mode of the k labels),
    #: chosen by aidetect.calibration, or ``centroid`` (class means; aidetect.gallery.knn) where the
    #: model's builder named it; ``balanced`` is a per-call choice (``--vote``), never calibration's.
    vote: str = "weighted"
    #: None = the k rule (11; 3 when the smallest class has <= 20 members); a number fixes k.
    k: int | None = None
    k_rule: str = "11; 3 when the smallest class has <= 20 images"
    #: The score detection rests on (:data:`DETECTION_SCORES`): chosen on the validation split by
    #: its AUC (``detection_auc_validation``); a model without calibration uses the vote share.
    detection_score: str = "ai_vote_share"
    detection_auc_validation: dict[str, float] = field(default_factory=dict)
    #: The k of each side's k nearest that the similarity gap was calibrated with: the gap is
    #: always computed with it, whatever ``--k`` or the small-gallery rule make the vote's k
    #: (a gap over other k is another score, and its P(AI) would not hold). None: the vote's k.
    detection_k: int | None = None
    #: Threshold at or above which an image counts as AI-generated: on ``p_ai`` when the model has
    #: a calibrated probability (``probability_method``), else on the raw AI vote share.
    detect_threshold: float = DEFAULT_DETECT_THRESHOLD
    #: How the threshold was chosen (``youden-validation`` or a default with its reason).
    detect_threshold_rule: str = "default"
    detect_balanced_accuracy_validation: float | None = None
    #: The unknown rule (aidetect.gallery.knn.leave_one_out_thresholds) and what it cost on validation.
    unknown_rule: str = ("leave-one-out: farther than 95 % of the class's members are from each other, and than half "
                         "its gap to the next class (at most 4x the former)")
    false_unknown_rate_validation: float | None = None
    #: What the unknown rule measures (:data:`UNKNOWN_ON`): ``vote``, what the vote read (the
    #: winning class's nearest gallery row for the votes over neighbours, its mean for ``centroid``),
    #: or ``row``, the winning class's nearest gallery row whatever the vote (aidetect.gallery.knn).
    unknown_on: str = "vote"
    #: Added to every floor the rule computes from the gallery: chosen on the validation split so
    #: that the floors turn away the share of its images they promise (aidetect.calibration).
    unknown_shift: float = 0.0
    unknown_shift_rule: str = ""
    validation_images: int = 0
    validation_accuracy: dict[str, float] = field(default_factory=dict)
    #: How ``vote`` was chosen (aidetect.calibration); empty for models calibrated before it was stored.
    vote_rule: str = ""
    #: How the detection score becomes a probability, fitted on validation images with real and AI
    #: weighted equally (so P(AI) at even prior odds): ``isotonic`` (a non-decreasing step curve,
    #: linear between ``probability_x`` → ``probability_y``), or None (an older model: no probability).
    probability_method: str | None = None
    probability_x: list[float] | None = None
    probability_y: list[float] | None = None
    #: Expected calibration error of that probability on the validation images (10 equal-width bins).
    probability_ece_validation: float | None = None

    @property
    def calibrated(self) -> bool:
        return self.probability_method in PROBABILITY_METHODS

    @property
    def vote_named(self) -> bool:
        """The vote was named by the model's builder, not chosen on validation (aidetect.calibration)."""
        return self.vote_rule.startswith(NAMED_VOTE_RULE)

    @property
    def threshold_on(self) -> str:
        """What ``detect_threshold`` applies to: ``p_ai`` or the uncalibrated ``ai_vote_share``."""
        return "p_ai" if self.calibrated else "ai_vote_share"

    def probability(self, score: float) -> float | None:
        """P(AI-generated) for a value of the detection score; None when the model has no calibration."""
        if not self.calibrated:
            return None
        return _interpolate(float(score), self.probability_x, self.probability_y)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str = "config.json") -> None:
        """One-line errors for values no rule can use (a hand-edited or damaged config.json)."""
        if self.vote not in VOTES:
            raise CorruptFileError(f"{source}: classifier.vote is {self.vote!r}, not one of {', '.join(VOTES)}; fix or remove it")
        if self.unknown_on not in UNKNOWN_ON:
            raise CorruptFileError(f"{source}: classifier.unknown_on is {self.unknown_on!r}, not one of {', '.join(UNKNOWN_ON)}; fix or remove it")
        shift = self.unknown_shift
        if isinstance(shift, bool) or not isinstance(shift, (int, float)) or not -1.0 <= float(shift) <= 1.0:
            raise CorruptFileError(f"{source}: classifier.unknown_shift is {shift!r}; give a number between -1 and 1 "
                                   "or recalibrate the model (benchmarks/zoo/recalibrate.py)")
        self.unknown_shift = float(shift)
        if self.k is not None and (isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1):
            raise CorruptFileError(f"{source}: classifier.k is {self.k!r}; give a positive integer or null")
        t = self.detect_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0.0 <= float(t) <= 1.0):
            raise CorruptFileError(f"{source}: classifier.detect_threshold is {t!r}; give a number between 0 and 1")
        self.detect_threshold = float(t)
        if self.detection_score not in DETECTION_SCORES:
            raise CorruptFileError(f"{source}: classifier.detection_score is {self.detection_score!r}, not one of "
                                   f"{', '.join(DETECTION_SCORES)}; fix it or recalibrate the model (benchmarks/zoo/recalibrate.py)")
        if self.detection_k is not None and (isinstance(self.detection_k, bool) or not isinstance(self.detection_k, int)
                                             or self.detection_k < 1):
            raise CorruptFileError(f"{source}: classifier.detection_k is {self.detection_k!r}; give a positive integer or null")
        if self.detection_score != "ai_vote_share" and not self.probability_method:
            # Only the vote share has a threshold that means something uncalibrated (0.5 of the vote).
            raise CorruptFileError(f"{source}: classifier.detection_score {self.detection_score!r} needs a calibration "
                                   "(probability_method); recalibrate the model (benchmarks/zoo/recalibrate.py)")
        if self.probability_method not in (None, *PROBABILITY_METHODS):
            raise CorruptFileError(f"{source}: classifier.probability_method is {self.probability_method!r}; "
                                   f"one of {', '.join(PROBABILITY_METHODS)} or null")
        if self.probability_method == "isotonic":
            xs, ys = self.probability_x, self.probability_y
            ok = (isinstance(xs, list) and isinstance(ys, list) and 2 <= len(xs) == len(ys)
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in xs + ys)
                  and all(a <= b for a, b in zip(xs, xs[1:])) and all(a <= b for a, b in zip(ys, ys[1:]))
                  and all(0.0 <= v <= 1.0 for v in ys))
            if not ok:
                raise CorruptFileError(f"{source}: classifier.probability_x/_y are not a non-decreasing curve into [0, 1]; "
                                       "recalibrate the model (benchmarks/zoo/recalibrate.py)")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, source: str = "config.json") -> "ClassifierConfig":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise CorruptFileError(f"{source}: classifier is not a JSON object; the model directory is damaged or edited")
        known = {f.name for f in fields(cls)}
        try:
            config = cls(**{k: v for k, v in data.items() if k in known})
        except CorruptFileError as exc:
            raise CorruptFileError(str(exc).replace("config.json", source, 1)) from None
        return config


def _interpolate(x: float, xs: list[float], ys: list[float]) -> float:
    """numpy.interp for one point, in plain Python (config.py stays free of numpy: the CLI imports it)."""
    if x <= xs[0]:
        return float(ys[0])
    if x >= xs[-1]:
        return float(ys[-1])
    i = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0))


@dataclass
class ModelConfig:
    schema_version: int = CONFIG_SCHEMA_VERSION
    architecture: ArchitectureConfig = field(default_factory=ArchitectureConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    #: name, trained_classes, zero_shot_classes, description
    setting: dict[str, Any] = field(default_factory=dict)
    #: every class the initial gallery holds
    classes: list[str] = field(default_factory=list)
    #: SHA-256 (first 16 hex digits) of the weights file; checked on load.
    fingerprint: str = ""
    #: k-NN rule and calibrated thresholds (see ClassifierConfig).
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    recipe: str = "custom"
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def trained_classes(self) -> list[str]:
        return list(self.setting.get("trained_classes", []))

    @property
    def zero_shot_classes(self) -> list[str]:
        return list(self.setting.get("zero_shot_classes", []))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        rules = self.classifier
        data["schema_version"] = (3 if (rules.unknown_on != "vote" and rules.vote == "centroid") or rules.unknown_shift
                                  else 2 if rules.detection_score != "ai_vote_share" else 1)
        # training-only fields added later, written when used: a model trained without them
        # stays readable by the releases before them (which refuse fields they do not know)
        for used, keys in ((self.augment.resize_p, ("resize_p", "resize_scale")),
                           (self.augment.webp_p, ("webp_p", "webp_quality"))):
            if not used:
                for key in keys:
                    data["augment"].pop(key)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config.json") -> "ModelConfig":
        if not isinstance(data, dict):
            raise CorruptFileError(f"{source} does not hold a JSON object; the model directory is damaged, copy it again")
        version = data.get("schema_version")
        if version not in READABLE_SCHEMA_VERSIONS:
            raise CorruptFileError(
                f"{source} has schema version {version!r}, this aidetect reads versions "
                f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))}; "
                "use the aidetect release that wrote it"
            )
        for part in ("architecture", "preprocess", "augment", "setting", "training", "data"):
            if part in data and not isinstance(data[part], dict):
                raise _bad(source, part, data[part], "give a JSON object")
        try:
            kwargs = {f.name: data[f.name] for f in fields(cls) if f.name in data}
            kwargs["architecture"] = ArchitectureConfig(**data.get("architecture", {}))
            kwargs["preprocess"] = PreprocessConfig(**data.get("preprocess", {}))
            kwargs["classifier"] = ClassifierConfig.from_dict(data.get("classifier"), source)
            augment = dict(data.get("augment", {}))
            for key in ("jpeg_quality", "blur_sigma", "resize_scale", "webp_quality"):
                if isinstance(augment.get(key), list):
                    augment[key] = tuple(augment[key])
            kwargs["augment"] = AugmentConfig(**augment)
            config = cls(**kwargs)
        except TypeError as exc:
            raise CorruptFileError(f"{source} has unexpected fields ({exc}); the model directory is damaged or edited") from exc
        config.validate(source)
        return config

    def validate(self, source: str = "config.json") -> None:
        """One-line errors for values a model directory cannot be used with (checked on load).

        An empty or missing fingerprint is refused: the weights check compares the weights'
        SHA-256 with it, so an empty one would let edited or swapped weights through silently.
        """
        self.architecture.validate(source)
        self.preprocess.validate(source)
        self.augment.validate(source)
        self.classifier.validate(source)
        fp = self.fingerprint
        if not isinstance(fp, str) or not fp.strip():
            raise CorruptFileError(
                f"{source}: fingerprint is {fp!r}, so the weights could not be checked and are not used; "
                f"copy the model directory again, or if you trust its {WEIGHTS_FILE}, set fingerprint to the first 16 "
                f"hex digits of its SHA-256 (sha256sum {WEIGHTS_FILE} | cut -c1-16)"
            )
        if not isinstance(self.classes, list) or not all(isinstance(c, str) for c in self.classes):
            raise _bad(source, "classes", self.classes, "give a list of class names")
        if not isinstance(self.recipe, str):
            raise _bad(source, "recipe", self.recipe, "give a string")

    def save(self, folder: str | Path) -> None:
        atomic_write_json(Path(folder) / CONFIG_FILE, self.to_dict())

    @classmethod
    def load(cls, folder: str | Path) -> "ModelConfig":
        path = Path(folder) / CONFIG_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CorruptFileError(f"{path} is missing; point --model at a directory made by `aidetect train`") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptFileError(f"{path} is not valid JSON ({exc.__class__.__name__}); the model directory is damaged, copy it again") from None
        return cls.from_dict(data, str(path))


def check_spectral_options(arch: str, spectrum: str, spectrum_weight: float, epochs: int,
                           image_size: int | None, train_image_size: int | None) -> None:
    """The options that read a Welch spectrum, checked by the CLI before anything is written and by
    the Trainer for a library caller:

    * the spectrum to fuse is one of the encoder's spectra, and has a share to fuse it at; the Welch
      spectrum fuses a trained model (``epochs`` 0): trained through, it would read the recipe's
      64-px training crops as one tile where its map was fitted on several, which is not measured;
    * the ``welch-mlp`` encoders (WELCH_ENCODERS) read ``WELCH_TILE``-px tiles, in training crops as at inference.
    """
    if spectrum not in SPECTRUM_KINDS:
        raise AidetectError(f"--spectrum {spectrum!r}: choose one of {', '.join(SPECTRUM_KINDS)}")
    if spectrum != "radial" and spectrum_weight == 0:
        raise AidetectError(f"--spectrum {spectrum} needs --fuse-spectrum (a share, or 'auto'): without it no spectrum is fused")
    if spectrum == "welch":
        if epochs != 0:
            raise AidetectError("--spectrum welch fuses a trained model: give --epochs 0 with --init MODEL_DIR "
                                "(training through it is not supported)")
        if image_size is not None and image_size < WELCH_TILE:
            raise AidetectError(f"--spectrum welch reads {WELCH_TILE}-px tiles: give --image-size {WELCH_TILE} or more")
    if arch in WELCH_ENCODERS:
        for option, size in (("--image-size", image_size), ("--train-image-size", train_image_size)):
            if size is not None and size < WELCH_TILE:
                raise AidetectError(f"{option} {size}: the {arch} encoder reads {WELCH_TILE}-px tiles; "
                                    f"give {option} {WELCH_TILE} or more (the welch recipe uses 256)")
