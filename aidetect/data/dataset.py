"""Torch datasets over image files, tolerant of files that cannot be read.

An unreadable file does not stop a run: the dataset returns an error record,
the collate function drops it from the batch and hands it on, and the caller
counts and reports it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from aidetect.config import PreprocessConfig
from aidetect.data.images import load_image, pixel_limit
from aidetect.data.pixel_cache import PixelCache, cache_form
from aidetect.errors import ImageReadError
from aidetect.fileio import sha256_file
from aidetect.models.preprocess import augment, to_array, to_input


@dataclass
class Batch:
    """A collated batch: the images that decoded, and the failures beside them."""

    images: torch.Tensor  # [B, 3, S, S] float32 in [0, 1], or uint8 0..255 from an ``as_uint8`` dataset
    labels: torch.Tensor  # [B] int64 (-1 where unlabelled)
    indices: list[int]  # dataset index of each row of ``images``
    failures: list[tuple[int, str]]  # (dataset index, one-line reason)
    sha256: list[str]  # SHA-256 of each row's file ("" unless the dataset hashes files)

    def pin_memory(self) -> "Batch":
        self.images = self.images.pin_memory()
        self.labels = self.labels.pin_memory()
        return self


class ImageFileDataset(Dataset):
    """Items are ``(index, array [3,S,S] | None, label, error | None, sha256)``.

    ``train=True`` draws random crops (crop mode) from a generator seeded by
    (seed, epoch, index), so the data a step sees does not depend on worker
    count or scheduling, and a resumed run reproduces it. ``rng_keys`` replaces the index in
    that seed: items with one key (one source image in several classes, as aligned batches take
    them, aidetect.data.sampler.AlignedBatchSampler) get the same crop and the same augmentation,
    so they differ only by what their generators did.
    """

    def __init__(
        self,
        paths: Sequence[str],
        labels: Sequence[int] | None,
        preprocess: PreprocessConfig,
        *,
        train: bool = False,
        seed: int = 0,
        max_pixels: int | None = None,
        hash_files: bool = False,
        perturb=None,
        augment=None,
        pixel_cache: PixelCache | None = None,
        as_uint8: bool = False,
        rng_keys: Sequence[int] | None = None,
    ) -> None:
        self.paths = list(paths)
        self.rng_keys = None if rng_keys is None else [int(k) for k in rng_keys]
        if self.rng_keys is not None and len(self.rng_keys) != len(self.paths):
            raise ValueError(f"{len(self.rng_keys)} rng keys for {len(self.paths)} paths")
        self.labels = list(labels) if labels is not None else [-1] * len(self.paths)
        self.preprocess = preprocess
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.max_pixels = max_pixels
        self.hash_files = hash_files
        #: optional PIL → PIL callable applied before preprocessing (evaluation's --perturb)
        self.perturb = perturb
        #: training-time degradations (AugmentConfig), applied with the item's own seeded generator;
        #: with ``train=False`` too (the stage readout's statistics are fitted on what the field sees)
        self.augment = augment
        #: decoded pixels read instead of decoding the file where present (aidetect.data.pixel_cache)
        self.pixel_cache = pixel_cache
        #: items as uint8 0..255, scaled on the device (aidetect.devices.to_model_input)
        self.as_uint8 = as_uint8
        self._cache_epoch = 0
        augmented = bool(augment is not None and augment.active)
        self.cache_form = cache_form(preprocess, train=train, augmented=augmented, perturbed=perturb is not None)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key):
        # Training batches ask for (epoch, index): persistent workers hold their own copy
        # of the dataset, so the epoch travels with the request rather than in set_epoch.
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        path = self.paths[index]
        if self.pixel_cache is not None and epoch != self._cache_epoch:
            self._cache_epoch = epoch
            self.pixel_cache.next_epoch()
        key = index if self.rng_keys is None else self.rng_keys[index]
        rng = np.random.default_rng([self.seed, epoch, key]) if self.train or self.augment is not None else None
        digest = ""
        try:
            image, digest = self._cached(path)
            if image is None:
                st = self._stat_for_cache(path)
                image = load_image(path, max_pixels=self.max_pixels)
                if st is not None:
                    image, digest = self._store(path, image, st, digest)
            if self.perturb is not None:
                image = self.perturb(image)
            if rng is not None and self.augment is not None:
                image = augment(image, self.augment, rng)
            if self.train:
                array = to_array(image, self.preprocess, rng, as_uint8=self.as_uint8)
            else:
                array = to_input(image, self.preprocess, as_uint8=self.as_uint8)
            if self.hash_files and not digest:
                digest = sha256_file(path)
        except ImageReadError as exc:
            return index, None, self.labels[index], str(exc), digest
        except Exception as exc:  # a decoder bug must not kill a long run either
            return index, None, self.labels[index], f"{path}: {exc.__class__.__name__}: {exc}", digest
        return index, array, self.labels[index], None, digest

    def _cached(self, path: str) -> tuple[Image.Image | None, str]:
        """(the file's pixels from the cache as a PIL image, with the prefix of preprocessing its
        form names already applied, and the file's SHA-256 where hashed), or (None, "")."""
        if self.pixel_cache is None:
            return None, ""
        hit = self.pixel_cache.lookup(path, self.cache_form, max_pixels=pixel_limit(self.max_pixels))
        if hit is None:
            return None, ""
        if self.hash_files:
            # the file is read for its hash anyway: let the hash, not only size and time, vouch for the entry
            digest = sha256_file(path)
            if digest != hit.sha256:
                return None, digest
            return Image.fromarray(hit.pixels), digest
        return Image.fromarray(hit.pixels), ""


    def _stat_for_cache(self, path: str):
        """The file's stat before it is read, recorded with its cache entry (None: no cache, or no file:
        then decoding reports it)."""
        if self.pixel_cache is None:
            return None
        try:
            return os.stat(path)
        except OSError:
            return None

    def _store(self, path: str, image: Image.Image, st, digest: str) -> tuple[Image.Image, str]:
        """Write-through: the decoded file into the cache, and the image with the prefix of
        preprocessing the cache form names applied (so it is not done twice)."""
        digest = digest or sha256_file(path)
        pixels = self.cache_form.apply(image)
        self.pixel_cache.store(path, self.cache_form, pixels, st, digest)
        return (Image.fromarray(pixels) if self.cache_form.kind == "resize" else image), digest if self.hash_files else ""


def collate(items) -> Batch:
    good = [item for item in items if item[1] is not None]
    failures = [(item[0], item[3]) for item in items if item[1] is None]
    if good:
        images = torch.from_numpy(np.stack([item[1] for item in good]))
    else:
        images = torch.empty(0)
    labels = torch.tensor([item[2] for item in good], dtype=torch.int64)
    return Batch(images, labels, [item[0] for item in good], failures, [item[4] for item in good])
