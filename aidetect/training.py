"""Training an encoder with SupCon (or the Euclidean contrastive loss) into a model directory.

The loop is plain PyTorch: class-balanced batches, AdamW, a warm-up then
cosine learning-rate schedule, validation loss every epoch, the best weights
kept, early stopping. Everything needed to continue a run exactly (weights,
optimizer, schedule, RNG state, position in the epoch) is checkpointed through
the tensors-only loader, so ``--resume`` reproduces an uninterrupted run.

Why AdamW: the thesis does not name its optimizer. AdamW with decoupled weight
decay is the usual choice for contrastive training of EfficientNets from
scratch (SupContrast and open_clip use it or SGD with long schedules) and
needs no per-dataset tuning of the learning rate to converge.
"""

from __future__ import annotations

import io
import json
import math
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from aidetect.config import (
    CHECKPOINT_FILE,
    GALLERY_FILE,
    METRICS_FILE,
    ArchitectureConfig,
    AugmentConfig,
    ModelConfig,
    PreprocessConfig,
)
from aidetect.console import err, warn
from aidetect.data.dataset import ImageFileDataset, collate
from aidetect.data.discovery import DataSplits, discover
from aidetect.data.sampler import ClassBalancedBatchSampler
from aidetect.devices import autocast, resolve_device
from aidetect.errors import AidetectError
from aidetect.fileio import atomic_write_bytes
from aidetect.losses import build_loss
from aidetect.models.encoder import FIXED_FEATURE_TRUNKS, Encoder
from aidetect.models.init_weights import load_initial_weights
from aidetect.models.model_dir import save_model
from aidetect.settings import resolve_setting

#: Thesis sweep (table 4.16): 1k per class is within 2 F1 points of 162k.
DEFAULT_GALLERY_PER_CLASS = 1000
#: Training batches on which BatchNorm's statistics are re-estimated before each validation and
#: save (see :func:`recalibrate_batchnorm`): ≈ 3,000 images at the thesis's batch of 186, one
#: forward pass each. Measured on the CPU (EfficientNet-B0, 64 px, batch 18, decoding included):
#: 0.12-0.2 s a batch against 0.74 s a training step, so 16 batches cost about 3-4 training steps
#: per epoch (the fingerprint recipe embeds 128-px crops but trains on 64-px ones: 4× that).
DEFAULT_BN_BATCHES = 16


@dataclass
class TrainOptions:
    data: str
    out: str
    setting: str | None = None
    include: list[str] | None = None
    exclude: list[str] | None = None
    layout: str = "auto"
    arch: str = "efficientnet_b0"
    init: str = "random"
    embedding_dim: int = 128
    projection_hidden: int = 512
    spectrum_weight: float = 0.0
    learned_crop: int | None = None
    #: Choose the spectrum weight on the validation split (aidetect.calibration), from spectrum_weight.
    choose_spectrum_weight: bool = False
    front_end: str = "rgb"
    stem_stride: int = 2
    image_size: int = 256
    preprocess_mode: str = "resize"
    grid: int = 1
    train_image_size: int | None = None
    views: int = 1
    jpeg_p: float = 0.0
    blur_p: float = 0.0
    recipe: str = "custom"
    loss: str = "supcon"
    temperature: float = 0.1
    learnable_temperature: bool = True
    margin: float = 1.0
    batch_size: int = 186
    m_per_class: int | None = None
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    #: SupCon's τ during the learning-rate warm-up (None = the learned τ throughout). A higher τ
    #: spreads the gradient over all negatives while the embedding is still unformed.
    warmup_temperature: float | None = None
    #: Embeddings of recent steps contrasted with each batch (0 = off); see aidetect.losses.memory.
    memory_size: int = 0
    patience: int = 5
    #: BatchNorm statistics re-estimated on this many training batches before each validation
    #: and save (0 = keep the running averages; see recalibrate_batchnorm).
    bn_batches: int = DEFAULT_BN_BATCHES
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    max_per_class: int | None = None
    gallery_per_class: int = DEFAULT_GALLERY_PER_CLASS
    resume: bool = False
    channels_last: bool = True
    compile: bool = False

    def architecture(self) -> ArchitectureConfig:
        return ArchitectureConfig(
            name=self.arch,
            embedding_dim=self.embedding_dim,
            front_end=self.front_end,
            stem_stride=self.stem_stride,
            projection_hidden=self.projection_hidden,
            spectrum_weight=self.spectrum_weight,
            learned_crop=self.learned_crop,
        )

    def preprocess(self) -> PreprocessConfig:
        return PreprocessConfig(
            image_size=self.image_size, mode=self.preprocess_mode, grid=self.grid,
            train_image_size=self.train_image_size, views=self.views,
        )

    def augment(self) -> AugmentConfig:
        return AugmentConfig(jpeg_p=self.jpeg_p, blur_p=self.blur_p)


@dataclass
class TrainResult:
    out: Path
    config: ModelConfig
    epochs_run: int
    best_val_loss: float
    skipped_images: int
    history: list[dict] = field(default_factory=list)


class TrainingInterrupted(AidetectError):
    """Raised after Ctrl-C or SIGTERM, once the checkpoint is saved."""


class _StopSignal(Exception):
    pass


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to 0, as a multiplier of the base rate."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches) -> int:
    """Re-estimate every BatchNorm's running statistics for the model's current weights ("precise
    BN", Wu & Johnson 2021); the weights are not touched. Returns the number of images used.

    Why (docs/training.md, issue 17): the running statistics start at mean 0 / variance 1 and
    follow the batches at momentum 0.1. torchvision initialises EfficientNet's depthwise
    convolutions with a fan-out that ignores their groups, so their outputs have a variance of
    about 2/channels (10⁻³ to 10⁻²); until 0.9^steps has fallen well below that, the initial
    variance of 1 dominates, eval mode divides those channels by far too much, and 16 blocks of
    that leave every image with the same embedding. Re-estimating the statistics from scratch
    with the current weights removes the lag, whatever the step count.

    ``batches`` yields image tensors on the model's device (each of 2 images or more); each is
    normalised by its own statistics and the running statistics become their plain average
    (momentum None), with the other layers in eval mode (no stochastic depth, as at inference).
    With no batch at all the statistics are left as they were. The model is left in eval mode.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    saved = [(bn.momentum, bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()) for bn in layers]
    model.eval()
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
        bn.train()
    seen = 0
    try:
        for images in batches:
            with autocast(images.device):
                model(images)
            seen += len(images)
    finally:
        for bn, (momentum, mean, var, count) in zip(layers, saved):
            bn.momentum = momentum
            if seen == 0:  # nothing to estimate from: keep what there was
                bn.running_mean.copy_(mean), bn.running_var.copy_(var), bn.num_batches_tracked.copy_(count)
        model.eval()
    return seen


def _checkpoint_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _read_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AidetectError(f"{path} cannot be read as a checkpoint ({exc.__class__.__name__}); start again without --resume") from None


class EpochBatches:
    """The batch sampler the training DataLoader keeps for the whole run.

    Each epoch it replays the class-balanced sampler for ``epoch`` (from
    ``start`` when resuming mid-epoch) and hands this rank its slice of every
    global batch, as ``(epoch, index)`` pairs so persistent workers crop with
    the right epoch's seed.
    """

    def __init__(self, sampler: ClassBalancedBatchSampler, rank: int = 0, world_size: int = 1) -> None:
        self.sampler, self.rank, self.world_size = sampler, rank, world_size
        self.epoch, self.start = 0, 0

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.start)

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        for step, batch in enumerate(self.sampler):
            if step >= self.start:
                yield [(self.epoch, i) for i in batch[self.rank :: self.world_size]]


class Trainer:
    """One training run. ``run()`` returns a :class:`TrainResult`.

    ``on_step(epoch, step, loss)`` is called after every optimizer step; tests
    use it to interrupt a run at a chosen point.
    """

    def __init__(self, options: TrainOptions, on_step: Callable[[int, int, float], None] | None = None):
        self.options = options
        self.on_step = on_step
        self.out = Path(options.out)
        from aidetect import distributed

        self.dist = distributed.from_environment()
        self.device = distributed.setup(self.dist, resolve_device(options.device))

    # ---------------------------------------------------------------- data
    def _prepare_data(self) -> None:
        o = self.options
        self.splits: DataSplits = discover(o.data, o.layout, seed=o.seed, max_per_class=o.max_per_class)
        self.setting = resolve_setting(o.setting, self.splits.classes(), o.include, o.exclude)
        self.trained = list(self.setting.trained)
        self.class_to_idx = {name: i for i, name in enumerate(self.trained)}
        train = [s for s in self.splits.train if s.label in self.class_to_idx]
        val = [s for s in self.splits.val if s.label in self.class_to_idx]
        if not train:
            raise AidetectError(f"no training images for {', '.join(self.trained)} under {o.data}; check --data and --layout")
        preprocess = o.preprocess()
        self.train_set = ImageFileDataset(
            [s.path for s in train], [self.class_to_idx[s.label] for s in train], preprocess, train=True, seed=o.seed,
            augment=o.augment(),
        )
        self.val_set = ImageFileDataset(
            [s.path for s in val], [self.class_to_idx[s.label] for s in val], preprocess, train=False, seed=o.seed
        )
        self.sampler = ClassBalancedBatchSampler(self.train_set.labels, o.batch_size, o.m_per_class, seed=o.seed)
        self.epoch_batches = EpochBatches(self.sampler, self.dist.rank, self.dist.world_size)
        self.train_loader = self._loader(self.train_set, self.epoch_batches, persistent=True)

    def _loader(self, dataset, batch_sampler, persistent: bool = False, generator: torch.Generator | None = None) -> DataLoader:
        workers = self.options.workers
        return DataLoader(
            dataset,
            batch_sampler=batch_sampler,
            num_workers=workers,
            collate_fn=collate,
            pin_memory=self.device.type == "cuda",
            persistent_workers=persistent and workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            generator=generator,
        )

    # --------------------------------------------------------------- model
    def _prepare_model(self) -> None:
        o = self.options
        torch.manual_seed(o.seed)
        self.encoder = Encoder(o.architecture())
        self.init_description = load_initial_weights(self.encoder, o.init)
        self.encoder.to(self.device)
        if self.device.type == "cuda" and o.channels_last:
            self.encoder.to(memory_format=torch.channels_last)
        # The module the training step calls: DDP-wrapped and/or compiled; self.encoder stays
        # the plain module whose state_dict is saved.
        self.model = self.encoder
        if self.dist.enabled and any(p.requires_grad for p in self.encoder.parameters()):
            from torch.nn.parallel import DistributedDataParallel

            if self.device.type == "cuda":
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.model = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if o.compile:
            self.model = torch.compile(self.model)
        self.loss_fn = build_loss(
            o.loss, temperature=o.temperature, learnable_temperature=o.learnable_temperature, margin=o.margin
        ).to(self.device)
        self.memory = None
        if o.memory_size:
            if o.loss != "supcon":
                raise AidetectError(f"--memory works with the supcon loss, not {o.loss}")
            from aidetect.losses.memory import CrossBatchMemory

            self.memory = CrossBatchMemory(o.memory_size, o.architecture().output_dim).to(self.device)
        if o.warmup_temperature is not None and o.loss != "supcon":
            raise AidetectError(f"--warmup-temperature works with the supcon loss, not {o.loss}")
        params = list(self.encoder.parameters()) + list(self.loss_fn.parameters())
        self.steps_per_epoch = len(self.sampler)
        if not any(p.requires_grad for p in self.encoder.parameters()):
            return  # a fixed-feature encoder (spectrum): nothing to optimise
        fused = self.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, fused=fused)
        self.total_steps = self.steps_per_epoch * o.epochs
        self.warmup_steps = int(round(o.warmup_epochs * self.steps_per_epoch))

    def _set_lr(self, global_step: int) -> float:
        lr = self.options.lr * _lr_factor(global_step, self.total_steps, self.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _loss_extras(self, warming_up: bool) -> dict:
        """The memory (after the warm-up) and the warm-up temperature, for SupCon."""
        extras = {}
        if self.memory is not None and not warming_up:
            extras["memory"] = self.memory.contents()
        if warming_up and self.options.warmup_temperature is not None:
            extras["temperature"] = self.options.warmup_temperature
        return extras

    def _temperature(self) -> float | None:
        t = getattr(self.loss_fn, "temperature", None)
        return float(t.detach()) if t is not None else None

    # ---------------------------------------------------------- checkpoint
    def _state(self, epoch: int, step: int) -> dict:
        return {
            "encoder": self.encoder.state_dict(),
            "loss": self.loss_fn.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            **({"memory": self.memory.state_dict()} if self.memory is not None else {}),
            "epoch": epoch,
            "step_in_epoch": step,
            "best_val_loss": self.best_val_loss,
            "bad_epochs": self.bad_epochs,
            "skipped": self.skipped,
            "torch_rng": torch.get_rng_state(),
            "options_json": json.dumps(asdict(self.options)),
        }

    def _save_checkpoint(self, epoch: int, step: int) -> None:
        if not self.dist.is_main:
            return  # rank 0 writes; every rank holds the same state
        atomic_write_bytes(self.out / CHECKPOINT_FILE, _checkpoint_bytes(self._state(epoch, step)))

    def _restore(self) -> tuple[int, int]:
        path = self.out / CHECKPOINT_FILE
        if not path.is_file():
            raise AidetectError(f"--resume: no checkpoint at {path}; run without --resume to start")
        state = _read_checkpoint(path)
        saved = json.loads(state["options_json"])
        # --epochs may change (to train longer); the rest must match for the run to continue exactly.
        for key in ("data", "setting", "arch", "batch_size", "image_size", "seed", "loss", "lr"):
            mine = getattr(self.options, key)
            if key in saved and saved[key] != mine and not (key == "data" and Path(saved[key]) == Path(mine)):
                raise AidetectError(f"--resume: the checkpoint was made with {key}={saved[key]!r}, not {mine!r}; use the same options")
        self.encoder.load_state_dict(state["encoder"])
        self.loss_fn.load_state_dict(state["loss"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.memory is not None and "memory" in state:
            self.memory.load_state_dict(state["memory"])
        self.best_val_loss = float(state["best_val_loss"])
        self.bad_epochs = int(state["bad_epochs"])
        self.skipped = int(state["skipped"])
        self._pending_rng = state["torch_rng"]
        return int(state["epoch"]), int(state["step_in_epoch"])

    # ---------------------------------------------------------------- loop
    def _train_epoch(self, epoch: int, start_step: int, progress, task) -> tuple[float, int]:
        from aidetect.distributed import gather_varlen_with_grad

        self.encoder.train()
        self.train_set.set_epoch(epoch)
        self.epoch_batches.epoch, self.epoch_batches.start = epoch, start_step
        # The loader draws its worker seed from the global RNG when iterated. A
        # checkpoint from an epoch's end was taken before that draw, one from
        # mid-epoch after it: restore the RNG on the matching side, so stochastic
        # depth masks continue exactly as in an uninterrupted run.
        if self._pending_rng is not None and start_step == 0:
            torch.set_rng_state(self._pending_rng)
            self._pending_rng = None
        iterator = iter(self.train_loader)
        if self._pending_rng is not None:
            torch.set_rng_state(self._pending_rng)
            self._pending_rng = None
        losses: list[float] = []
        seen = 0
        step = start_step
        for batch in iterator:
            self.skipped += len(batch.failures)
            for _, reason in batch.failures:
                warn(f"skipped {reason}")
            # Under DDP every rank must take part in every step (collectives), whatever it decoded.
            if len(batch.indices) >= 2 or (self.dist.enabled and len(batch.indices) >= 1):
                global_step = epoch * self.steps_per_epoch + step
                lr = self._set_lr(global_step)
                warming_up = global_step < self.warmup_steps
                images = batch.images.to(self.device, non_blocking=True)
                if self.device.type == "cuda" and self.options.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                labels = batch.labels.to(self.device, non_blocking=True)
                with autocast(self.device):
                    embeddings = self.model(images)
                embeddings = gather_varlen_with_grad(embeddings.float(), self.dist)
                labels = gather_varlen_with_grad(labels, self.dist)
                loss = self.loss_fn(embeddings, labels, **self._loss_extras(warming_up))
                if not torch.isfinite(loss):
                    raise AidetectError(
                        f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; the last good checkpoint "
                        f"is kept in {self.out}; lower --lr (now {self.options.lr}) and --resume"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                if self.memory is not None and not warming_up:
                    self.memory.push(embeddings, labels)
                losses.append(float(loss.detach()))
                seen += len(labels)
                progress.update(
                    task,
                    advance=1,
                    loss=losses[-1],
                    temperature=self._temperature() or 0.0,
                    lr=lr,
                )
            else:
                progress.update(task, advance=1)
            step += 1
            if self.on_step is not None:
                self.on_step(epoch, step, losses[-1] if losses else float("nan"))
            if self._stop_requested:
                self._save_checkpoint(epoch, step)
                raise _StopSignal()
        return (float(np.mean(losses)) if losses else float("nan")), seen

    def _recalibrate_batchnorm(self, epoch: int) -> None:
        """BatchNorm statistics for the current weights (see recalibrate_batchnorm), from
        ``bn_batches`` class-balanced batches of training images preprocessed as at inference.

        As at inference, not as in training: a recipe that trains on small crops (fingerprint:
        64 px) and embeds larger ones (128 px) needs the statistics of the larger ones. Measured
        (docs/training.md): statistics from the training crops left the fingerprint recipe's
        validation loss near the collapsed value, those from the inference input did not.

        Deterministic (batches seeded by the run's seed and the epoch, the loader by its own
        generator, never the global RNG), so a resumed run saves the same statistics as an
        uninterrupted one. Under DDP every rank uses the same whole batches, so every rank holds
        the same statistics (SyncBatchNorm sees identical inputs everywhere).
        """
        o = self.options
        if o.bn_batches <= 0 or not batchnorm_layers(self.encoder):
            return
        sampler = ClassBalancedBatchSampler(self.train_set.labels, o.batch_size, o.m_per_class, seed=o.seed)
        sampler.set_epoch(epoch)
        chosen = [batch for _, batch in zip(range(o.bn_batches), sampler)]
        inference_view = ImageFileDataset(self.train_set.paths, self.train_set.labels, o.preprocess(), train=False)
        loader = self._loader(inference_view, chosen, generator=torch.Generator().manual_seed(o.seed))

        def images():
            for batch in loader:
                if len(batch.indices) >= 2:
                    x = batch.images.to(self.device, non_blocking=True)
                    if self.device.type == "cuda" and o.channels_last and x.ndim == 4:
                        x = x.contiguous(memory_format=torch.channels_last)
                    yield x

        recalibrate_batchnorm(self.encoder, images())

    @torch.no_grad()
    def _validate(self) -> float:
        if len(self.val_set) == 0:
            return float("nan")
        self.encoder.eval()
        sampler = ClassBalancedBatchSampler(self.val_set.labels, self.options.batch_size, self.options.m_per_class, seed=self.options.seed)
        sampler.set_epoch(0)  # the same validation batches every epoch
        losses = []
        for batch in self._loader(self.val_set, list(sampler)):
            if len(batch.indices) < 2:
                continue
            images = batch.images.to(self.device)
            with autocast(self.device):
                embeddings = self.encoder(images)
            losses.append(float(self.loss_fn(embeddings, batch.labels.to(self.device))))
        return float(np.mean(losses)) if losses else float("nan")

    def _model_config(self, history: list[dict]) -> ModelConfig:
        o = self.options
        return ModelConfig(
            architecture=o.architecture(),
            preprocess=o.preprocess(),
            setting=self.setting.to_dict(),
            classes=self.splits.classes(),
            augment=o.augment(),
            recipe=o.recipe,
            training={
                "loss": o.loss,
                "optimizer": None if o.arch in FIXED_FEATURE_TRUNKS else "AdamW",
                "lr": o.lr,
                "weight_decay": o.weight_decay,
                "batch_size": self.sampler.batch_size,
                "m_per_class": self.sampler.m,
                "epochs_planned": o.epochs,
                "epochs_run": len(history),
                "init": self.init_description,
                "temperature": self._temperature(),
                "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
                "skipped_images": self.skipped,
                "device": str(self.device),
                "seed": o.seed,
                "options": asdict(o),
            },
            data=self.splits.summary(),
        )

    def _handle_signal(self, signum, frame) -> None:
        self._stop_requested = True

    def _fit_spectrum(self, spectrum: nn.Module) -> int:
        """Standardisation statistics of a spectrum feature over the training split, each image
        preprocessed as at inference (the gallery and every query see it that way)."""
        # The training set's own preprocessing crops at random and augments; fit on what inference sees.
        images = ImageFileDataset(self.train_set.paths, self.train_set.labels, self.options.preprocess(), train=False)
        loader = self._loader(images, list(_chunks(range(len(images)), 64)))
        from aidetect.progress import progress_bar

        def batches():
            with progress_bar("standardisation statistics", total=len(images), unit="images") as advance:
                for batch in loader:
                    self.skipped += len(batch.failures)
                    advance(len(batch.indices) + len(batch.failures))
                    if batch.indices:
                        views = batch.images.flatten(0, 1) if batch.images.ndim == 5 else batch.images
                        yield views.to(self.device)

        seen = spectrum.fit(batches())
        if seen == 0:
            raise AidetectError(f"no training image under {self.options.data} could be read")
        return seen

    def _fit_fixed_features(self) -> TrainResult:
        """Fixed-feature encoders (spectrum) learn nothing: only their standardisation statistics."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.best_val_loss, self.bad_epochs, self.skipped = float("nan"), 0, 0
        seen = self._fit_spectrum(self.encoder.trunk)
        history = [{"epoch": 0, "images": seen, "note": "statistics only, no training"}]
        save_model(self.out, self.encoder.cpu(), self._model_config(history))
        config = self._finish(history)
        return TrainResult(self.out, config, 0, float("nan"), self.skipped, history)

    def _untrained(self) -> TrainResult:
        """``--epochs 0``: the initial weights as they are (a baseline: what the architecture does untrained)."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.best_val_loss, self.bad_epochs, self.skipped = float("nan"), 0, 0
        history = [{"epoch": 0, "note": f"no training: {self.init_description} weights"}]
        if not Path(self.options.init).is_dir():
            # Random (or ImageNet) weights with statistics of this data; an aidetect model keeps its own.
            self._recalibrate_batchnorm(0)
        if self.dist.is_main:
            save_model(self.out, self.encoder.cpu(), self._model_config(history))
            config = self._finish(history)
        return TrainResult(self.out, config, 0, float("nan"), 0, history)

    def run(self) -> TrainResult:
        o = self.options
        self._prepare_data()
        self._prepare_model()
        if o.arch in FIXED_FEATURE_TRUNKS:
            return self._fit_fixed_features()
        if self.encoder.spectrum is not None and not o.resume:
            self.skipped = 0
            self._fit_spectrum(self.encoder.spectrum)
        if o.epochs == 0:
            return self._untrained()
        self.out.mkdir(parents=True, exist_ok=True)
        self.best_val_loss = float("inf")
        self.bad_epochs = 0
        self.skipped = 0
        self._pending_rng = None
        self._stop_requested = False
        start_epoch, start_step = (0, 0)
        metrics_path = self.out / METRICS_FILE
        if o.resume:
            start_epoch, start_step = self._restore()
            err.print(f"resuming at epoch {start_epoch + 1}, step {start_step}")
        elif metrics_path.exists() and self.dist.is_main:
            metrics_path.unlink()  # a fresh run: its metrics start afresh
        history = [json.loads(line) for line in metrics_path.read_text().splitlines()] if metrics_path.exists() else []

        if self.dist.enabled:
            err.print(f"rank {self.dist.rank} of {self.dist.world_size}: each takes 1/{self.dist.world_size} of every global batch")
        err.print(
            f"training {o.arch} on {len(self.train_set)} images of {', '.join(self.trained)} "
            f"(zero-shot: {', '.join(self.setting.zero_shot) or 'none'}), {self.steps_per_epoch} steps/epoch "
            f"of {self.sampler.batch_size}, on {self.device}"
        )
        from rich.progress import TextColumn

        from aidetect.progress import make_progress

        previous = {}
        import threading

        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
            for s in previous:
                signal.signal(s, self._handle_signal)
        try:
            with make_progress(
                TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("τ {task.fields[temperature]:.3f}"),
                TextColumn("{task.fields[ips]:.1f} img/s"),
                disable=not self.dist.is_main,
            ) as progress:
                epoch = start_epoch
                for epoch in range(start_epoch, o.epochs):
                    task = progress.add_task(
                        f"epoch {epoch + 1}/{o.epochs}",
                        total=self.steps_per_epoch,
                        completed=start_step,
                        loss=float("nan"),
                        temperature=self._temperature() or 0.0,
                        lr=0.0,
                        ips=0.0,
                    )
                    began = time.perf_counter()
                    train_loss, seen = self._train_epoch(epoch, start_step, progress, task)
                    elapsed = time.perf_counter() - began
                    progress.update(task, ips=seen / max(elapsed, 1e-9))
                    start_step = 0
                    self._recalibrate_batchnorm(epoch)
                    val_loss = self._validate()
                    record = {
                        "epoch": epoch + 1,
                        "train_loss": train_loss,
                        "val_loss": val_loss,
                        "temperature": self._temperature(),
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "images_per_s": seen / max(elapsed, 1e-9),
                        "seconds": elapsed,
                        "skipped_images": self.skipped,
                    }
                    history.append(record)
                    if self.dist.is_main:
                        with open(metrics_path, "a", encoding="utf-8") as handle:
                            handle.write(json.dumps(record) + "\n")
                    # No validation data: keep the latest weights.
                    improved = not math.isfinite(val_loss) or val_loss < self.best_val_loss
                    if improved:
                        self.best_val_loss = val_loss if math.isfinite(val_loss) else self.best_val_loss
                        self.bad_epochs = 0
                        if self.dist.is_main:
                            save_model(self.out, self.encoder, self._model_config(history))
                    else:
                        self.bad_epochs += 1
                    self._save_checkpoint(epoch + 1, 0)
                    if self.bad_epochs >= o.patience:
                        err.print(f"early stop: validation loss has not improved for {o.patience} epochs")
                        break
        except _StopSignal:
            raise TrainingInterrupted(
                f"training interrupted; the checkpoint is saved in {self.out}, continue with the same command and --resume"
            ) from None
        except KeyboardInterrupt:
            raise TrainingInterrupted(f"training interrupted before a checkpoint; {self.out} keeps the last one") from None
        except torch.cuda.OutOfMemoryError:
            raise AidetectError(
                f"the GPU ran out of memory at batch size {self.sampler.batch_size} and image size {o.image_size}; "
                "lower --batch-size (or --image-size) and --resume"
            ) from None
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

        from aidetect import distributed

        distributed.barrier(self.dist)
        if not self.dist.is_main:
            distributed.cleanup(self.dist)
            return TrainResult(self.out, self._model_config(history), len(history), self.best_val_loss, self.skipped, history)
        config = self._finish(history)
        distributed.cleanup(self.dist)
        return TrainResult(self.out, config, len(history), self.best_val_loss, self.skipped, history)

    def _finish(self, history: list[dict]) -> ModelConfig:
        """Reload the best weights, build the initial gallery and calibrate the thresholds."""
        from aidetect.calibration import build_initial_gallery

        from aidetect.models.model_dir import load_model

        model = load_model(self.out, self.device)
        config = model.config
        config.training["epochs_run"] = sum(1 for h in history if h.get("epoch", 0) > 0)
        config.training["history"] = history
        build_initial_gallery(
            model,
            self.splits,
            gallery_per_class=self.options.gallery_per_class,
            seed=self.options.seed,
            batch_size=min(self.options.batch_size, 256),
            workers=self.options.workers,
            device=self.device,
            choose_weight=self.options.choose_spectrum_weight,
        )
        config.save(self.out)
        (self.out / GALLERY_FILE).exists() or warn("no gallery was written")
        return config


def _chunks(items, size):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def train(options: TrainOptions, on_step: Callable[[int, int, float], None] | None = None) -> TrainResult:
    """Train an encoder per ``options`` into ``options.out``; see :class:`Trainer`."""
    return Trainer(options, on_step).run()
