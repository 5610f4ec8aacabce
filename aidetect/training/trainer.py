"""One training run: prepare the data and the model, fit (the epoch loop inside its signal and
progress wrapper), then calibrate and save.

The loop is plain PyTorch: class-balanced batches, AdamW, a warm-up then cosine learning-rate
schedule, BatchNorm statistics re-estimated and the validation loss measured every epoch, the
best weights kept, early stopping. Everything needed to continue a run exactly (weights,
optimizer, schedule, RNG state, position in the epoch) is checkpointed through the tensors-only
loader, so ``--resume`` reproduces an uninterrupted run.

Why AdamW: the thesis does not name its optimizer. AdamW with decoupled weight decay is the
usual choice for contrastive training of EfficientNets from scratch (SupContrast and open_clip
use it or SGD with long schedules) and needs no per-dataset tuning of the learning rate to
converge.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from aidetect import distributed
from aidetect.calibration import build_initial_gallery
from aidetect.config import CHECKPOINT_FILE, FRONT_END_GRID, GALLERY_FILE, METRICS_FILE, ModelConfig
from aidetect.console import err, warn
from aidetect.data.dataset import ImageFileDataset, collate
from aidetect.data.discovery import DataSplits, discover
from aidetect.data.pixel_cache import PixelCache, announce
from aidetect.data.sampler import AlignedBatchSampler, ClassBalancedBatchSampler, ExtraClassesBatchSampler, source_groups
from aidetect.data.sampling import rows_per_class
from aidetect.devices import autocast, resolve_device, to_model_input
from aidetect.embedding import default_batch_size
from aidetect.errors import AidetectError
from aidetect.labels import REAL
from aidetect.losses import build_loss
from aidetect.models.encoder import FIXED_FEATURE_TRUNKS, Encoder, TrainingView
from aidetect.models.init_weights import load_initial_weights
from aidetect.models.model_dir import load_model, save_model
from aidetect.progress import progress_bar
from aidetect.settings import resolve_setting
from aidetect.training.batchnorm import batchnorm_layers, recalibrate_batchnorm
from aidetect.training.checkpoint import check_same_run, read_checkpoint, write_checkpoint
from aidetect.training.options import TrainOptions
from aidetect.training.schedule import EpochBatches, ReplayedBatches, lr_factor
from aidetect.training.ui import StopRequested, epoch_progress, stop_signals, user_facing_errors


@dataclass
class TrainResult:
    out: Path
    config: ModelConfig
    epochs_run: int
    best_val_loss: float
    skipped_images: int
    history: list[dict] = field(default_factory=list)


#: Steps between reads of the loss on a GPU (each read waits for the GPU).
LOSS_READ_EVERY = 25


def _check_front_end_grid(options: TrainOptions) -> None:
    """A front-end that works on cells (npr-latent) needs crops in phase with them; the CLI raises the
    grid itself (aidetect.recipes), a library caller is told here, before anything is written."""
    needed = FRONT_END_GRID.get(options.architecture.front_end, 1)
    if options.preprocess.grid % needed:
        raise AidetectError(f"front-end {options.architecture.front_end} works on {needed}×{needed} cells: set the "
                            f"preprocessing grid to {needed} (or a multiple), not {options.preprocess.grid}")


class Trainer:
    """One training run. ``run()`` returns a :class:`TrainResult`.

    ``on_step(epoch, step, loss)`` is called after every optimizer step; tests
    use it to interrupt a run at a chosen point.
    """

    def __init__(self, options: TrainOptions, on_step: Callable[[int, int, float], None] | None = None):
        options.loss.check()
        # the CLI checked this before writing anything; a library caller learns it here, not when
        # the finished model fails to load
        options.augment.check_format_shares()
        _check_front_end_grid(options)
        options.check_spectrum()
        options.check_vote()
        self.options = options
        self.on_step = on_step
        self.out = Path(options.out)
        self.dist = distributed.from_environment()
        self.device = distributed.setup(self.dist, resolve_device(options.runtime.device))
        # Reading a loss on a GPU waits for its step to finish, and the host then sits idle while it
        # queues the next step's kernels: there the losses are read (and checked to be finite) every
        # LOSS_READ_EVERY steps, the model-only benchmark's way; on a CPU, where reading is free, every step.
        self.loss_read_every = LOSS_READ_EVERY if self.device.type == "cuda" else 1

    # ---------------------------------------------------------------- data
    def _prepare_data(self) -> None:
        o, d = self.options, self.options.data
        self.splits: DataSplits = discover(d.root, d.layout, seed=o.seed, max_per_class=d.max_per_class)
        self.setting = resolve_setting(d.setting, self.splits.classes(), d.include, d.exclude)
        self.trained = list(self.setting.trained)
        self.class_to_idx = {name: i for i, name in enumerate(self.trained)}
        train = [s for s in self.splits.train if s.label in self.class_to_idx]
        val = [s for s in self.splits.val if s.label in self.class_to_idx]
        if not train:
            raise AidetectError(f"no training images for {', '.join(self.trained)} under {d.root}; check --data and --layout")
        self.pixel_cache = PixelCache(o.runtime.pixel_cache) if o.runtime.pixel_cache else None
        train_paths = [s.path for s in train]
        train_labels = [self.class_to_idx[s.label] for s in train]
        # The data's own training images come first (items 0 .. n_main - 1): the passes that must not
        # see the extra classes (the readout and spectrum fits) read only those.
        self.n_main = len(train_paths)
        extra_paths, extra_labels, self.extra_names = self._extra_classes()
        train_paths, train_labels = train_paths + extra_paths, train_labels + extra_labels
        groups = source_groups(train_paths) if o.optim.aligned else None
        self.train_set = ImageFileDataset(
            train_paths, train_labels, o.preprocess, train=True, seed=o.seed,
            augment=o.augment, pixel_cache=self.pixel_cache, as_uint8=True, rng_keys=groups,
        )
        self.val_set = ImageFileDataset(
            [s.path for s in val], [self.class_to_idx[s.label] for s in val], o.preprocess, train=False, seed=o.seed,
            pixel_cache=self.pixel_cache, as_uint8=True,
        )
        if self.pixel_cache is not None and self.dist.is_main:
            # Written through by the loader's workers as epoch 1 decodes (aidetect.data.pixel_cache):
            # no separate pass, so the first epoch costs what it did without a cache.
            announce(self.pixel_cache, self.train_set.paths, self.train_set.cache_form, "training images")
            announce(self.pixel_cache, self.val_set.paths, self.val_set.cache_form, "validation images")
        if groups is not None:
            self.sampler = AlignedBatchSampler(train_labels, groups, o.optim.batch_size, o.optim.m_per_class, seed=o.seed)
            if self.dist.is_main:
                share = self.sampler.aligned_share()
                if share:
                    err.print(f"aligned batches: {share:.0%} of the training images share their source (file name) with another class")
                else:
                    warn("--aligned: no file name is in two class folders, so batches are the usual class-balanced ones")
        else:
            self.sampler = ClassBalancedBatchSampler(train_labels[: self.n_main], o.optim.batch_size, o.optim.m_per_class, seed=o.seed)
        self.sampler = self._with_extra_classes(self.sampler, extra_labels)
        self.epoch_batches = EpochBatches(self.sampler, self.dist.rank, self.dist.world_size)
        self.train_loader = self._loader(self.train_set, self.epoch_batches, persistent=True)
        # The passes after every epoch, each over the same batches every time (ReplayedBatches), their
        # loaders kept with their workers for the run: starting a worker pool twice per epoch cost
        # more than an epoch's steps on a GPU (docs/performance.md). A loader starts its workers
        # when first read, so a run without BatchNorm or validation starts none.
        # BatchNorm re-estimation reads training images preprocessed as at inference.
        bn_view = ImageFileDataset(self.train_set.paths, self.train_set.labels, o.preprocess, train=False,
                                   pixel_cache=self.pixel_cache, as_uint8=True)
        # Drawn as training batches are, extra classes included: the statistics must be those the
        # weights were trained under (in training mode BatchNorm normalised each mixed batch by its own).
        self.bn_batches = ReplayedBatches(self._first_epoch_batches(self.train_set.labels[: self.n_main], o.optim.bn_batches,
                                                                    extra_labels=extra_labels))
        self.bn_loader = self._replayed_loader(bn_view, self.bn_batches)
        self.val_batches = ReplayedBatches(self._first_epoch_batches(self.val_set.labels) if len(self.val_set) else [])
        self.val_loader = self._replayed_loader(self.val_set, self.val_batches)

    def _extra_classes(self) -> tuple[list[str], list[int], list[str]]:
        """The training images of ``--extra-classes`` (paths, label ids after the data's classes, class
        names), or nothing. They train the encoder only; their names must differ from the data's."""
        o, d = self.options, self.options.data
        if not d.extra_classes:
            return [], [], []
        if o.optim.aligned:
            raise AidetectError("--aligned and --extra-classes cannot be combined: aligned batches pair the data's own "
                                "classes by source image; leave one of them out")
        extra = discover(d.extra_classes, "auto", seed=o.seed, max_per_class=d.max_per_class)
        # Its train and val splits both train (nothing validates on extra classes, and a set without a
        # val folder would otherwise lose the share discovery carves from train for one); a test
        # split stays out, in case someone measures on it.
        samples = list(extra.train) + list(extra.val)
        names = sorted({s.label for s in samples})  # a class with no image trains nothing
        clash = sorted(set(names) & set(self.splits.classes()))
        if clash:
            raise AidetectError(f"--extra-classes {d.extra_classes}: {', '.join(clash[:5])} also a class of --data "
                                f"{d.root}; extra classes only train the encoder and need names of their own")
        if not samples:
            raise AidetectError(f"--extra-classes {d.extra_classes}: no training images found; give a folder-per-class "
                                "set (its train and val splits are used)")
        first = len(self.trained)
        ids = {name: first + i for i, name in enumerate(names)}
        return [s.path for s in samples], [ids[s.label] for s in samples], names

    def _with_extra_classes(self, sampler, extra_labels):
        """``sampler`` with ``extra_labels``' classes added to each of its batches as the options say
        (aidetect.data.sampler.ExtraClassesBatchSampler), or ``sampler`` itself when there are none."""
        if not len(extra_labels):
            return sampler
        o = self.options
        return ExtraClassesBatchSampler(sampler, extra_labels, o.optim.extra_classes_per_batch, o.optim.extra_m_per_class, seed=o.seed)

    def _first_epoch_batches(self, labels, limit: int | None = None, extra_labels=()) -> list[list[int]]:
        """The class-balanced draw of epoch 0 over ``labels`` (its first ``limit`` batches), with
        ``extra_labels``' classes added to each batch as in training (their items follow ``labels``')."""
        o = self.options
        sampler = self._with_extra_classes(ClassBalancedBatchSampler(labels, o.optim.batch_size, o.optim.m_per_class, seed=o.seed),
                                           extra_labels)
        sampler.set_epoch(0)
        return list(itertools.islice(sampler, limit))

    def _replayed_loader(self, dataset: ImageFileDataset, batches: ReplayedBatches) -> DataLoader:
        # its own generator, never the global RNG: a resumed run draws what an uninterrupted one does
        return self._loader(dataset, batches, persistent=True, generator=torch.Generator().manual_seed(self.options.seed))

    def _loader(self, dataset, batch_sampler, persistent: bool = False, generator: torch.Generator | None = None) -> DataLoader:
        workers = self.options.runtime.workers
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

    def _to_device(self, images: torch.Tensor) -> torch.Tensor:
        channels_last = self.device.type == "cuda" and self.options.runtime.channels_last
        return to_model_input(images, self.device, channels_last=channels_last)

    # --------------------------------------------------------------- model
    def _prepare_model(self) -> None:
        o, loss = self.options, self.options.loss
        torch.manual_seed(o.seed)
        self.encoder = Encoder(o.architecture)
        self.init_description = load_initial_weights(self.encoder, o.init)
        self.encoder.to(self.device)
        if self.device.type == "cuda" and o.runtime.channels_last:
            self.encoder.to(memory_format=torch.channels_last)
        # The module the training step calls: DDP-wrapped and/or compiled; self.encoder stays
        # the plain module whose state_dict is saved.
        self.model = TrainingView(self.encoder)
        if self.dist.enabled and any(p.requires_grad for p in self.encoder.parameters()):
            from torch.nn.parallel import DistributedDataParallel

            if self.device.type == "cuda":
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.model = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if o.runtime.compile:
            self.model = torch.compile(self.model)
        self.loss_fn = build_loss(
            loss.name, temperature=loss.temperature, learnable_temperature=loss.learnable_temperature, margin=loss.margin,
            n_classes=len(self.trained) + len(self.extra_names), dim=o.architecture.output_dim,
        ).to(self.device)
        self.class_weights = None
        if loss.real_weight != 1.0:
            if REAL not in self.class_to_idx:
                raise AidetectError(f"--real-weight {loss.real_weight}: no '{REAL}' class among the trained classes "
                                    f"({', '.join(self.trained)}); train with a real class or leave --real-weight out")
            self.class_weights = torch.ones(len(self.trained) + len(self.extra_names), device=self.device)
            self.class_weights[self.class_to_idx[REAL]] = loss.real_weight
        self.memory = None
        if loss.memory_size:
            from aidetect.losses.memory import CrossBatchMemory

            self.memory = CrossBatchMemory(loss.memory_size, o.architecture.output_dim).to(self.device)
        params = list(self.encoder.parameters()) + list(self.loss_fn.parameters())
        self.steps_per_epoch = len(self.sampler)
        if not any(p.requires_grad for p in self.encoder.parameters()):
            return  # a fixed-feature encoder (spectrum): nothing to optimise
        fused = self.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(params, lr=o.optim.lr, weight_decay=o.optim.weight_decay, fused=fused)
        self.total_steps = self.steps_per_epoch * o.optim.epochs
        self.warmup_steps = int(round(o.optim.warmup_epochs * self.steps_per_epoch))

    def _set_lr(self, global_step: int) -> float:
        lr = self.options.optim.lr * lr_factor(global_step, self.total_steps, self.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _loss_extras(self, warming_up: bool) -> dict:
        """The memory (after the warm-up), the warm-up temperature and the real class's weight, for SupCon."""
        extras = {}
        if self.class_weights is not None:
            extras["class_weights"] = self.class_weights
        if self.memory is not None and not warming_up:
            extras["memory"] = self.memory.contents()
        if warming_up and self.options.loss.warmup_temperature is not None:
            extras["temperature"] = self.options.loss.warmup_temperature
        return extras

    def _temperature(self) -> float | None:
        t = getattr(self.loss_fn, "temperature", None)
        return float(t.detach()) if isinstance(t, torch.Tensor) else t

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
            "options_json": json.dumps(self.options.flat()),
        }

    def _save_checkpoint(self, epoch: int, step: int) -> None:
        if not self.dist.is_main:
            return  # rank 0 writes; every rank holds the same state
        write_checkpoint(self.out / CHECKPOINT_FILE, self._state(epoch, step))

    def _restore(self) -> tuple[int, int]:
        state = read_checkpoint(self.out / CHECKPOINT_FILE)
        check_same_run(state, self.options.flat())
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

    # ------------------------------------------------------- one epoch
    def _step(self, batch, epoch: int, step: int) -> tuple[float, int, float]:
        """One optimizer step on ``batch``: (loss, images, learning rate)."""
        global_step = epoch * self.steps_per_epoch + step
        lr = self._set_lr(global_step)
        warming_up = global_step < self.warmup_steps
        images = self._to_device(batch.images)
        labels = batch.labels.to(self.device, non_blocking=True)
        with autocast(self.device):
            embeddings = self.model(images)
        embeddings = distributed.gather_varlen_with_grad(embeddings.float(), self.dist)
        labels = distributed.gather_varlen_with_grad(labels, self.dist)
        loss = self.loss_fn(embeddings, labels, **self._loss_extras(warming_up))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.memory is not None and not warming_up:
            self.memory.push(embeddings, labels)
        return loss.detach(), len(labels), lr

    def _check_losses(self, pending: list[torch.Tensor], epoch: int, last_step: int) -> list[float]:
        """The losses of the last ``len(pending)`` steps (up to ``last_step``) as floats; stops the
        run with the last good checkpoint kept when one is not finite. Reading a CUDA tensor waits for
        its step to finish, so on a GPU this runs every few steps, not every step."""
        values = torch.stack(pending).float().cpu().tolist()
        for offset, value in enumerate(values):
            if not np.isfinite(value):
                at = last_step - len(values) + 1 + offset
                raise AidetectError(
                    f"the loss became {value} at epoch {epoch + 1}, step {at + 1}; the last good checkpoint "
                    f"is kept in {self.out}; lower --lr (now {self.options.optim.lr}) and --resume"
                )
        return values

    def _train_epoch(self, epoch: int, start_step: int, progress, task) -> tuple[float, int]:
        """The steps of ``epoch`` from ``start_step``: (mean loss, images seen)."""
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
        pending: list[torch.Tensor] = []  # losses of steps whose values have not been read yet
        seen = 0
        step = start_step
        self.data_wait = 0.0
        while True:
            # Time spent waiting for the loader: what the data path costs beyond the model
            # (on a GPU, where decoding is the wall, this is most of an epoch without a cache).
            waited = time.perf_counter()
            batch = next(iterator, None)
            self.data_wait += time.perf_counter() - waited
            if batch is None:
                break
            self.skipped += len(batch.failures)
            for _, reason in batch.failures:
                warn(f"skipped {reason}")
            # Under DDP every rank must take part in every step (collectives), whatever it decoded.
            if len(batch.indices) >= 2 or (self.dist.enabled and len(batch.indices) >= 1):
                loss, images, lr = self._step(batch, epoch, step)
                pending.append(loss)
                seen += images
                if len(pending) >= self.loss_read_every or self.on_step is not None:
                    losses += self._check_losses(pending, epoch, step)
                    pending = []
                    progress.update(task, loss=losses[-1], temperature=self._temperature() or 0.0, lr=lr)
            progress.update(task, advance=1)
            step += 1
            if self.on_step is not None:
                self.on_step(epoch, step, losses[-1] if losses else float("nan"))
            if self._stop_requested:
                if pending:  # no checkpoint of weights a non-finite loss has touched
                    losses += self._check_losses(pending, epoch, step - 1)
                self._save_checkpoint(epoch, step)
                raise StopRequested()
        if pending:
            losses += self._check_losses(pending, epoch, step - 1)
        return (float(np.mean(losses)) if losses else float("nan")), seen

    def _recalibrate_batchnorm(self, epoch: int) -> None:
        """BatchNorm statistics for the current weights (aidetect.training.batchnorm), from
        ``bn_batches`` class-balanced batches of training images preprocessed as at inference.

        As at inference, not as in training: a recipe that trains on small crops (fingerprint:
        64 px) and embeds larger ones (128 px) needs the statistics of the larger ones. Measured
        (docs/training.md): statistics from the training crops left the fingerprint recipe's
        validation loss near the collapsed value, those from the inference input did not.

        The same batches every epoch (the class-balanced draw of epoch 0), so with a pixel cache
        only the first re-estimation decodes. Deterministic (seeded by the run's seed, never the
        global RNG), so a resumed run saves the same statistics as an uninterrupted one. Under DDP
        every rank uses the same whole batches, so every rank holds the same statistics
        (SyncBatchNorm sees identical inputs everywhere).
        """
        o = self.options
        if o.optim.bn_batches <= 0 or not batchnorm_layers(self.encoder):
            return
        self.bn_batches.epoch = epoch
        recalibrate_batchnorm(TrainingView(self.encoder), (self._to_device(b.images) for b in self.bn_loader if len(b.indices) >= 2))

    @torch.no_grad()
    def _validate(self, epoch: int) -> float:
        if len(self.val_set) == 0:
            return float("nan")
        self.encoder.eval()
        self.val_batches.epoch = epoch
        losses = []
        for batch in self.val_loader:
            if len(batch.indices) < 2:
                continue
            images = to_model_input(batch.images, self.device, channels_last=False)
            with autocast(self.device):
                embeddings = self.encoder.trained_embedding(images)
            losses.append(float(self.loss_fn(embeddings, batch.labels.to(self.device))))
        return float(np.mean(losses)) if losses else float("nan")

    # --------------------------------------------------------- the loop
    def _epoch(self, epoch: int, start_step: int, progress) -> dict:
        """Train one epoch, re-estimate the BatchNorm statistics, validate: the epoch's record."""
        task = progress.add_task(
            f"epoch {epoch + 1}/{self.options.optim.epochs}",
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
        after_steps = time.perf_counter()
        self._recalibrate_batchnorm(epoch)
        after_bn = time.perf_counter()
        val_loss = self._validate(epoch)
        if self.pixel_cache is not None:
            self.pixel_cache.commit_pending()  # what this process decoded (workers commit their own)
        after_val = time.perf_counter()
        return {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "temperature": self._temperature(),
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": seen / max(elapsed, 1e-9),
            "seconds": elapsed,
            # where the epoch's wall time went: waiting for batches (part of "seconds"), then the
            # BatchNorm re-estimation and validation (after it)
            "data_wait_s": self.data_wait,
            "batchnorm_s": after_bn - after_steps,
            "validation_s": after_val - after_bn,
            "skipped_images": self.skipped,
        }

    def _epoch_loop(self, start_epoch: int, start_step: int, history: list[dict], progress) -> None:
        """Epochs until the planned number or early stopping: metrics, the best weights, a checkpoint after each."""
        o = self.options
        for epoch in range(start_epoch, o.optim.epochs):
            record = self._epoch(epoch, start_step, progress)
            start_step = 0
            history.append(record)
            if self.dist.is_main:
                with open(self.out / METRICS_FILE, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
            val_loss = record["val_loss"]
            # No validation data: keep the latest weights.
            if not math.isfinite(val_loss) or val_loss < self.best_val_loss:
                self.best_val_loss = val_loss if math.isfinite(val_loss) else self.best_val_loss
                self.bad_epochs = 0
                if self.dist.is_main:
                    save_model(self.out, self.encoder, self._model_config(history))
            else:
                self.bad_epochs += 1
            self._save_checkpoint(epoch + 1, 0)
            if self.bad_epochs >= o.optim.patience:
                err.print(f"early stop: validation loss has not improved for {o.optim.patience} epochs")
                break

    def _handle_signal(self, signum, frame) -> None:
        self._stop_requested = True

    def _guarded_loop(self, start_epoch: int, start_step: int, history: list[dict]) -> None:
        """The epoch loop with Ctrl-C/SIGTERM turned into a checkpoint, progress bars, and errors said plainly."""
        o = self.options
        with user_facing_errors(self.out, self.sampler.batch_size, o.preprocess.image_size), stop_signals(self._handle_signal):
            with epoch_progress(self.dist.is_main) as progress:
                self._epoch_loop(start_epoch, start_step, history, progress)

    def fit(self) -> list[dict]:
        """Train (from the checkpoint with ``resume``) until done or stopped early; the per-epoch history.
        The best weights are in the model directory afterwards."""
        o = self.options
        self.out.mkdir(parents=True, exist_ok=True)
        self.best_val_loss = float("inf")
        self.bad_epochs = 0
        self.skipped = 0
        self._pending_rng = None
        self._stop_requested = False
        start_epoch, start_step = (0, 0)
        metrics_path = self.out / METRICS_FILE
        if o.runtime.resume:
            start_epoch, start_step = self._restore()
            err.print(f"resuming at epoch {start_epoch + 1}, step {start_step}")
        elif metrics_path.exists() and self.dist.is_main:
            metrics_path.unlink()  # a fresh run: its metrics start afresh
        history = [json.loads(line) for line in metrics_path.read_text().splitlines()] if metrics_path.exists() else []

        if self.dist.enabled:
            err.print(f"rank {self.dist.rank} of {self.dist.world_size}: each takes 1/{self.dist.world_size} of every global batch")
        extra = ""
        if self.extra_names:
            extra = (f" and {len(self.train_set) - self.n_main} images of {len(self.extra_names)} extra classes from "
                     f"{o.data.extra_classes} (training only; {self.sampler.extra_classes} of them in each batch)")
        err.print(
            f"training {o.architecture.name} on {self.n_main} images of {', '.join(self.trained)}{extra} "
            f"(zero-shot: {', '.join(self.setting.zero_shot) or 'none'}), {self.steps_per_epoch} steps/epoch "
            f"of {self.sampler.batch_size}, on {self.device}"
        )
        self._guarded_loop(start_epoch, start_step, history)
        return history

    # ------------------------------------------- calibrate and save
    def _model_config(self, history: list[dict]) -> ModelConfig:
        o = self.options
        # Copies: what the model directory records must not share objects with the run's options.
        return ModelConfig(
            architecture=dataclasses.replace(o.architecture),
            preprocess=dataclasses.replace(o.preprocess),
            setting=self.setting.to_dict(),
            classes=self.splits.classes(),
            augment=dataclasses.replace(o.augment),
            recipe=o.recipe,
            training={
                "loss": o.loss.name,
                "optimizer": None if o.architecture.name in FIXED_FEATURE_TRUNKS else "AdamW",
                "lr": o.optim.lr,
                "weight_decay": o.optim.weight_decay,
                "batch_size": self.sampler.batch_size,
                "m_per_class": self.sampler.m,
                "epochs_planned": o.optim.epochs,
                "epochs_run": len(history),
                "init": self.init_description,
                "temperature": self._temperature(),
                "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
                "skipped_images": self.skipped,
                "device": str(self.device),
                "seed": o.seed,
                "options": o.flat(),
                **({"extra_classes": {"root": o.data.extra_classes, "classes": len(self.extra_names),
                                      "images": len(self.train_set) - self.n_main,
                                      "per_batch": [self.sampler.extra_classes, self.sampler.extra_m]}}
                   if self.extra_names else {}),
            },
            data=self.splits.summary(),
        )

    def _finish(self, history: list[dict]) -> ModelConfig:
        """Reload the best weights, build the initial gallery and calibrate the thresholds."""
        model = load_model(self.out, self.device)
        if model.encoder.readout is not None:
            seen = self._fit_readout(model.encoder)
            model.config.training["readout_fit_images"] = seen
            save_model(self.out, model.encoder, model.config)  # a new fingerprint: the gallery below records it
        config = model.config
        config.training["epochs_run"] = sum(1 for h in history if h.get("epoch", 0) > 0)
        config.training["history"] = history
        build_initial_gallery(
            model,
            self.splits,
            gallery_per_class=self.options.gallery_per_class,
            vote=self.options.vote,
            seed=self.options.seed,
            batch_size=min(self.options.optim.batch_size, 256),
            workers=self.options.runtime.workers,
            device=self.device,
            choose_weight=self.options.choose_spectrum_weight,
            pixel_cache=getattr(self, "pixel_cache", None),
        )
        config.save(self.out)
        (self.out / GALLERY_FILE).exists() or warn("no gallery was written")
        return config

    def _conclude(self, history: list[dict], epochs_run: int, best_val_loss: float) -> TrainResult:
        """After fitting: rank 0 calibrates and saves (the other ranks wait), then DDP ends."""
        distributed.barrier(self.dist)
        if self.dist.is_main:
            config = self._finish(history)
        else:
            config = self._model_config(history)
        distributed.cleanup(self.dist)
        return TrainResult(self.out, config, epochs_run, best_val_loss, self.skipped, history)

    # ------------------------------------------- runs without training
    def _inference_batches(self, task: str, limit: int | None = None, augmented: bool = False):
        """(images, labels) batches of the training split on the device, each image preprocessed as
        at inference (the gallery and every query see it that way; the training set's own
        preprocessing crops at random). With ``augmented``, each image first goes through the
        recipe's augmentation (JPEG, blur, ...), seeded per image. With ``limit``, a class-balanced
        draw of at most that many images (seeded)."""
        paths, labels = self.train_set.paths[: self.n_main], self.train_set.labels[: self.n_main]
        if limit is not None and len(paths) > limit:
            per_class = max(1, limit // len(set(labels)))
            keep = rows_per_class(labels, per_class, self.options.seed, "readout statistics")
            paths, labels = [paths[i] for i in keep], [labels[i] for i in keep]
        augment = self.options.augment if augmented else None
        images = ImageFileDataset(paths, labels, self.options.preprocess, train=False, augment=augment, seed=self.options.seed,
                                  pixel_cache=self.pixel_cache)
        # embed_files' batch size: on a CPU small batches run EfficientNet 1.5-2x faster per image
        loader = self._loader(images, list(_chunks(range(len(images)), default_batch_size(self.device))))
        with progress_bar(task, total=len(images), unit="images") as advance:
            for batch in loader:
                self.skipped += len(batch.failures)
                advance(len(batch.indices) + len(batch.failures))
                if batch.indices:
                    several = batch.images.ndim == 5  # [B, V, 3, S, S]: V views of each image, a label for each view
                    views = batch.images.flatten(0, 1) if several else batch.images
                    labels = torch.as_tensor(batch.labels)
                    labels = labels.repeat_interleave(batch.images.shape[1]) if several else labels
                    yield to_model_input(views, self.device, channels_last=False), labels

    def _fit_spectrum(self, spectrum: nn.Module) -> int:
        """Statistics of a spectrum feature over the training split: the radial spectrum's
        standardisation from clean images; the Welch spectrum's projection (aidetect.models.welch)
        from labelled images after the recipe's augmentation, as the stage readout's, so that its
        whitening learns re-compression as spread within a class."""
        if getattr(spectrum, "needs_labels", False):
            seen = spectrum.fit(self._inference_batches("spectrum statistics", READOUT_FIT_IMAGES, augmented=True))
        else:
            seen = spectrum.fit(images for images, _ in self._inference_batches("standardisation statistics"))
        if seen == 0:
            raise AidetectError(f"no training image under {self.options.data.root} could be read")
        return seen

    def _fit_readout(self, encoder: Encoder) -> int:
        """The fitted readout's statistics (aidetect.models.readout) over the training split, for
        the weights the run ends with. The images go through the recipe's augmentation first, as
        they do in training: the whitening then learns that re-compression is spread within a
        class, not a difference between classes (on the zoo's leave-out run, against clean images:
        JPEG 75 accuracy 52.5 against 50.3, wild 38.1 against 36.5, clean 69.7 against 69.4)."""
        encoder.eval()

        def pooled():
            for images, labels in self._inference_batches("readout statistics", READOUT_FIT_IMAGES, augmented=True):
                with torch.no_grad(), autocast(self.device):
                    features = encoder.readout_features(images)
                yield features, labels

        return encoder.readout.fit(pooled())

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
        else:
            config = self._model_config(history)
        return TrainResult(self.out, config, 0, float("nan"), 0, history)

    # ------------------------------------------------------------ run
    def run(self) -> TrainResult:
        """Prepare, fit, calibrate and save; see the module docstring."""
        o = self.options
        self._prepare_data()
        self._prepare_model()
        if o.architecture.name in FIXED_FEATURE_TRUNKS:
            return self._fit_fixed_features()
        if self.encoder.spectrum is not None and not o.runtime.resume:
            self.skipped = 0
            self._fit_spectrum(self.encoder.spectrum)
        if o.optim.epochs == 0:
            return self._untrained()
        history = self.fit()
        return self._conclude(history, len(history), self.best_val_loss)


#: Training images a fitted readout's and the Welch spectrum's statistics are fitted on, at most
#: (a class-balanced draw): covariances of 4,048² and 2,112² entries, which 20,000 images estimate
#: well; GenImage has 1.3 M.
READOUT_FIT_IMAGES = 20_000


def _chunks(items, size):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def train(options: TrainOptions, on_step: Callable[[int, int, float], None] | None = None) -> TrainResult:
    """Train an encoder per ``options`` into ``options.out``; see :class:`Trainer`."""
    return Trainer(options, on_step).run()
