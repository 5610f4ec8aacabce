"""A training run's options, composed of typed configs.

The encoder's own configs (:class:`ArchitectureConfig`, :class:`PreprocessConfig`,
:class:`AugmentConfig`, from aidetect.config) are the ones saved in the model directory; the
configs here say what to train on (:class:`DataConfig`), with which objective
(:class:`LossConfig`), how to optimise (:class:`OptimConfig`) and where to run
(:class:`RuntimeConfig`). Recipes (aidetect.recipes) are presets of the first three.

:class:`TrainOptions` also takes every option by its flat command-line name (``arch``,
``image_size``, ``lr`` …), which :data:`FLAT_OPTIONS` routes to its config, and
:meth:`TrainOptions.flat` gives them back in that form: ``config.json`` (``training.options``)
and checkpoints store the flat form, as before the configs existed, so older model directories
and checkpoints read the same.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aidetect.config import LOSSES, SUPCON_MAX_TEMPERATURE, SUPCON_MIN_TEMPERATURE, ArchitectureConfig, AugmentConfig, PreprocessConfig, check_named_vote, check_spectral_options
from aidetect.errors import AidetectError
from aidetect.recipes import RECIPE_OPTIONS

#: Thesis sweep (table 4.16): 1k per class is within 2 F1 points of 162k.
DEFAULT_GALLERY_PER_CLASS = 1000
#: Training batches on which BatchNorm's statistics are re-estimated before each validation and
#: save (see aidetect.training.batchnorm): ≈ 3,000 images at the thesis's batch of 186, one
#: forward pass each. Measured on the CPU (EfficientNet-B0, 64 px, batch 18, decoding included):
#: 0.12-0.2 s a batch against 0.74 s a training step, so 16 batches cost about 3-4 training steps
#: per epoch (the fingerprint recipe embeds 128-px crops but trains on 64-px ones: 4× that).
DEFAULT_BN_BATCHES = 16


@dataclass
class DataConfig:
    """Which images: the data root, its layout, the setting's classes."""

    root: str = ""
    #: es1 … es4.5 (aidetect.settings); None = every class of the data.
    setting: str | None = None
    include: list[str] | None = None
    exclude: list[str] | None = None
    layout: str = "auto"
    #: Cap per class and split (quick runs).
    max_per_class: int | None = None
    #: A second data root whose classes' training images train the encoder beside the data's own and
    #: nothing else (not the gallery, validation or calibration): e.g. procedural up-sampling networks
    #: (benchmarks/zoo/procedural.py). None = none.
    extra_classes: str | None = None


@dataclass
class LossConfig:
    """The training objective: SupCon (the thesis), the Euclidean contrastive loss, or a softmax over
    the classes (aidetect.losses.softmax: a classifier head used only in training)."""

    name: str = "supcon"
    temperature: float = 0.1
    learnable_temperature: bool = True
    margin: float = 1.0
    #: SupCon's τ during the learning-rate warm-up (None = the learned τ throughout). A higher τ
    #: spreads the gradient over all negatives while the embedding is still unformed.
    warmup_temperature: float | None = None
    #: Embeddings of recent steps contrasted with each batch (0 = off); see aidetect.losses.memory.
    memory_size: int = 0
    #: SupCon anchors (softmax terms) of the ``real`` class count this many times the others (1 = the thesis): a
    #: photograph taken for a generator is the costliest error, and real is the one class with no
    #: fingerprint of its own to cluster by.
    real_weight: float = 1.0

    def check(self) -> None:
        if self.name not in LOSSES:
            raise AidetectError(f"--loss {self.name!r}: choose one of {', '.join(LOSSES)}")
        if self.memory_size and self.name != "supcon":
            raise AidetectError(f"--memory works with the supcon loss, not {self.name}")
        if self.warmup_temperature is not None and self.name != "supcon":
            raise AidetectError(f"--warmup-temperature works with the supcon loss, not {self.name}")
        if self.real_weight != 1.0 and self.name not in ("supcon", "softmax"):
            raise AidetectError(f"--real-weight works with the supcon and softmax losses, not {self.name}")
        if not self.real_weight > 0:
            raise AidetectError(f"--real-weight {self.real_weight}: must be above 0")
        if self.name == "softmax" and not self.temperature > 0:
            raise AidetectError(f"--temperature {self.temperature}: the softmax loss divides by it; give a value above 0")
        if self.name == "supcon" and not SUPCON_MIN_TEMPERATURE <= self.temperature <= SUPCON_MAX_TEMPERATURE:
            raise AidetectError(f"--temperature {self.temperature}: SupCon's temperature lies between "
                                f"{SUPCON_MIN_TEMPERATURE:g} and {SUPCON_MAX_TEMPERATURE:g}")


@dataclass
class OptimConfig:
    """Batches, AdamW and its schedule (warm-up then cosine), early stopping, BatchNorm statistics."""

    epochs: int = 30
    #: Rounded down to a multiple of the classes per batch (aidetect.data.sampler).
    batch_size: int = 186
    m_per_class: int | None = None
    #: With extra classes (DataConfig.extra_classes): that many of them join each batch, with
    #: ``extra_m_per_class`` images each (aidetect.data.sampler.ExtraClassesBatchSampler).
    extra_classes_per_batch: int = 64
    extra_m_per_class: int = 8
    #: Batches that take the same source images across classes, each with the same crop and
    #: augmentation (aidetect.data.sampler.AlignedBatchSampler; sources matched by file name).
    aligned: bool = False
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    #: Stop after this many epochs without a better validation loss.
    patience: int = 5
    #: BatchNorm statistics re-estimated on this many training batches before each validation
    #: and save (0 = keep the running averages; see aidetect.training.batchnorm).
    bn_batches: int = DEFAULT_BN_BATCHES


@dataclass
class RuntimeConfig:
    """Where and how the run executes; none of it changes the trained model."""

    device: str = "auto"
    workers: int = 2
    resume: bool = False
    channels_last: bool = True
    compile: bool = False
    #: Folder of decoded pixels (aidetect.data.pixel_cache): each image is decoded once, by
    #: ``workers`` processes before the first epoch, and read from there after. None = decode every epoch.
    pixel_cache: str | None = None


#: Every flat option (the command line's names, in the order ``training.options`` has always
#: listed them) → (config, field); config None = a field of TrainOptions itself.
FLAT_OPTIONS: dict[str, tuple[str | None, str]] = {
    "data": ("data", "root"),
    "out": (None, "out"),
    "setting": ("data", "setting"),
    "include": ("data", "include"),
    "exclude": ("data", "exclude"),
    "layout": ("data", "layout"),
    "arch": RECIPE_OPTIONS["arch"],
    "init": (None, "init"),
    "embedding_dim": ("architecture", "embedding_dim"),
    "projection_hidden": ("architecture", "projection_hidden"),
    "spectrum_weight": ("architecture", "spectrum_weight"),
    "learned_crop": ("architecture", "learned_crop"),
    "choose_spectrum_weight": (None, "choose_spectrum_weight"),
    **{k: RECIPE_OPTIONS[k] for k in ("front_end", "stem_stride", "image_size", "preprocess_mode", "grid",
                                      "train_image_size", "views", "jpeg_p", "blur_p")},
    "recipe": (None, "recipe"),
    "loss": ("loss", "name"),
    "temperature": ("loss", "temperature"),
    "learnable_temperature": ("loss", "learnable_temperature"),
    "margin": ("loss", "margin"),
    "batch_size": ("optim", "batch_size"),
    "m_per_class": ("optim", "m_per_class"),
    "epochs": ("optim", "epochs"),
    "lr": ("optim", "lr"),
    "weight_decay": ("optim", "weight_decay"),
    "warmup_epochs": ("optim", "warmup_epochs"),
    "warmup_temperature": ("loss", "warmup_temperature"),
    "memory_size": ("loss", "memory_size"),
    "patience": ("optim", "patience"),
    "bn_batches": ("optim", "bn_batches"),
    "seed": (None, "seed"),
    "device": ("runtime", "device"),
    "workers": ("runtime", "workers"),
    "max_per_class": ("data", "max_per_class"),
    "gallery_per_class": (None, "gallery_per_class"),
    "resume": ("runtime", "resume"),
    "channels_last": ("runtime", "channels_last"),
    "compile": ("runtime", "compile"),
    "pixel_cache": ("runtime", "pixel_cache"),
    "real_weight": ("loss", "real_weight"),
    "resize_p": RECIPE_OPTIONS["resize_p"],
    "webp_p": RECIPE_OPTIONS["webp_p"],
    "readout": ("architecture", "readout"),
    "aligned": ("optim", "aligned"),
    "spectrum": ("architecture", "spectrum"),
    "extra_classes": ("data", "extra_classes"),
    "extra_classes_per_batch": ("optim", "extra_classes_per_batch"),
    "extra_m_per_class": ("optim", "extra_m_per_class"),
    "vote": (None, "vote"),
}

_CONFIGS = {
    "data": DataConfig, "architecture": ArchitectureConfig, "preprocess": PreprocessConfig, "augment": AugmentConfig,
    "loss": LossConfig, "optim": OptimConfig, "runtime": RuntimeConfig,
}


@dataclass(init=False)
class TrainOptions:
    """One run's options: the typed configs, and what belongs to the run as a whole.

    Either pass configs (``TrainOptions(DataConfig(root=...), "runs/m", optim=OptimConfig(epochs=3))``)
    or flat options by their command-line names (``TrainOptions(data="ROOT", out="runs/m", epochs=3)``),
    or both: flat options are applied over the configs given. ``data`` may be the data root and
    ``loss`` the loss name, as on the command line.
    """

    data: DataConfig
    out: str
    architecture: ArchitectureConfig
    preprocess: PreprocessConfig
    augment: AugmentConfig
    loss: LossConfig
    optim: OptimConfig
    runtime: RuntimeConfig
    #: Name of the recipe the options came from (recorded in the model), "custom" when none.
    recipe: str
    #: random, imagenet, a weights file or an aidetect model directory (aidetect.models.init_weights).
    init: str
    seed: int
    gallery_per_class: int
    #: The vote the model ships with, named by its builder (aidetect.calibration); None: chosen on
    #: the validation split between weighted and majority.
    vote: str | None
    #: Choose the spectrum weight on the validation split (aidetect.calibration), from
    #: architecture.spectrum_weight.
    choose_spectrum_weight: bool

    def __init__(
        self,
        data: DataConfig | str = "",
        out: str = "",
        *,
        architecture: ArchitectureConfig | None = None,
        preprocess: PreprocessConfig | None = None,
        augment: AugmentConfig | None = None,
        loss: LossConfig | str | None = None,
        optim: OptimConfig | None = None,
        runtime: RuntimeConfig | None = None,
        recipe: str = "custom",
        init: str = "random",
        seed: int = 0,
        gallery_per_class: int = DEFAULT_GALLERY_PER_CLASS,
        choose_spectrum_weight: bool = False,
        vote: str | None = None,
        **flat: Any,
    ) -> None:
        unknown = sorted(set(flat) - set(FLAT_OPTIONS))
        if unknown:
            raise TypeError(f"TrainOptions got unexpected options {', '.join(unknown)}")
        given = {"data": data, "architecture": architecture, "preprocess": preprocess, "augment": augment,
                 "loss": loss, "optim": optim, "runtime": runtime}
        if not isinstance(data, DataConfig):
            flat["data"], given["data"] = str(data), None
        if isinstance(loss, str):
            flat["loss"], given["loss"] = loss, None
        for name, cls in _CONFIGS.items():
            # A copy, so that applying flat options never changes a config the caller holds.
            setattr(self, name, dataclasses.replace(given[name]) if given[name] is not None else cls())
        self.out, self.recipe, self.init, self.seed = str(out), recipe, init, seed
        self.gallery_per_class, self.choose_spectrum_weight, self.vote = gallery_per_class, choose_spectrum_weight, vote
        for option, value in flat.items():
            config, name = FLAT_OPTIONS[option]
            setattr(self if config is None else getattr(self, config), name, value)

    def flat(self) -> dict[str, Any]:
        """Every option under its command-line name: what config.json and checkpoints record."""
        values = {}
        for option, (config, name) in FLAT_OPTIONS.items():
            value = getattr(self if config is None else getattr(self, config), name)
            values[option] = list(value) if isinstance(value, (list, tuple)) else value
        return values

    def check_spectrum(self) -> None:
        """:func:`~aidetect.config.check_spectral_options` on these options."""
        a, p = self.architecture, self.preprocess
        check_spectral_options(a.name, a.spectrum, a.spectrum_weight, self.optim.epochs, p.image_size, p.train_image_size)

    def check_vote(self) -> None:
        """A named vote must be one calibration takes (checked before training, not after it)."""
        check_named_vote(self.vote)

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> "TrainOptions":
        """The inverse of :meth:`flat` (options it does not know are refused)."""
        return cls(**values)
