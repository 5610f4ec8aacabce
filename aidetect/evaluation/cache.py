"""Embeddings cached by (model fingerprint, perturbation, file SHA-256).

A second evaluation of the same files with the same model reads the cache and
embeds only what is new. The key is the file's content hash, not its path, so
renamed or moved files still hit and edited files miss. The cache is an
``.npz`` of plain arrays (no pickle), replaced atomically.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from aidetect.embedding import EmbeddedFiles, embed_files, embed_tiled
from aidetect.fileio import atomic_writer, file_lock, sha256_file


def default_cache_dir() -> Path:
    from aidetect.home import aidetect_home

    return aidetect_home() / "cache" / "embeddings"


class EmbeddingCache:
    def __init__(self, folder: str | Path, model_fingerprint: str, perturbation_key: str = "clean") -> None:
        safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", perturbation_key)
        self.path = Path(folder) / f"{model_fingerprint}-{safe}.npz"
        self.index: dict[str, int] = {}
        self.embeddings = np.zeros((0, 0), dtype=np.float32)
        if self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self.embeddings = data["embeddings"].astype(np.float32)
                    self.index = {str(h): i for i, h in enumerate(data["sha256"])}
            except Exception:  # a damaged cache is only a cache: start afresh
                self.index, self.embeddings = {}, np.zeros((0, 0), dtype=np.float32)

    def seed(self, rows: dict[str, np.ndarray], check) -> int:
        """Adopt embeddings computed elsewhere by the same model (a model directory's gallery: the
        same files through the same preprocessing), ``rows`` by file SHA-256, for files not cached
        yet. ``check(digests)`` embeds a few of those files here and returns their embeddings;
        the rows are adopted only if they agree within float16 rounding, so a gallery made any
        other way is never taken for this model's embeddings. Returns the rows adopted."""
        new = [h for h in rows if h not in self.index]
        if not new:
            return 0
        sample = new[:: max(1, len(new) // 4)][:4]
        fresh = check(sample)
        if fresh is None or len(fresh) != len(sample):
            return 0
        stored = np.stack([np.asarray(rows[h], dtype=np.float32) for h in sample])
        if not np.allclose(fresh.astype(np.float16).astype(np.float32), stored, atol=2e-3):
            return 0
        block = np.stack([np.asarray(rows[h], dtype=np.float16) for h in new]).astype(np.float32)
        start = len(self.embeddings) if self.embeddings.size else 0
        self.embeddings = block if self.embeddings.size == 0 else np.concatenate([self.embeddings, block])
        for offset, h in enumerate(new):
            self.index.setdefault(h, start + offset)
        self.save()
        return len(new)

    def save(self) -> None:
        # Compact first: rows of duplicate content embedded twice are dropped.
        keys = list(self.index)
        self.embeddings = self.embeddings[[self.index[k] for k in keys]]
        self.index = {k: i for i, k in enumerate(keys)}
        with file_lock(self.path), atomic_writer(self.path) as handle:
            np.savez(handle, sha256=np.array(keys, dtype="U64"), embeddings=self.embeddings.astype(np.float16))

    def embed(self, encoder, preprocess, paths: Sequence[str], *, perturb=None, progress: str | None = "embedding",
              tiles: int = 1, known=None, **kwargs) -> tuple[EmbeddedFiles, int]:
        """Embeddings of ``paths`` in order (unreadable files in ``errors``); returns (result, cache hits).

        ``tiles`` > 1: each file as detect/attribute see it, the mean of up to that many tiles
        covering the image (aidetect.embedding.embed_tiled); the cache's key must say so.
        ``known``: for clean single-view embeddings, a function from SHA-256s to this model's
        stored embeddings of those files (a model directory's gallery), adopted by :meth:`seed`.
        """
        digests: list[str | None] = []
        errors: list[tuple[str, str]] = []
        for path in paths:
            try:
                digests.append(sha256_file(path))
            except OSError as exc:
                digests.append(None)
                errors.append((path, f"{path}: cannot read ({exc.strerror or exc.__class__.__name__})"))
        missing = [p for p, d in zip(paths, digests) if d is not None and d not in self.index]
        digest_of = dict(zip(paths, digests))
        if known is not None and missing and tiles <= 1 and perturb is None:
            path_of = {digest_of[p]: p for p in missing}

            def check(sample):
                fresh = embed_files(encoder, preprocess, [path_of[d] for d in sample], hash_files=False, progress=None,
                                    device=kwargs.get("device", "cpu"))
                return fresh.embeddings if len(fresh.paths) == len(sample) else None

            if self.seed(known(list(path_of)), check):  # adopted rows count as hits below
                missing = [p for p in missing if digest_of[p] not in self.index]
        if tiles > 1:
            tiled = embed_tiled(encoder, preprocess, missing, max_tiles=tiles, perturb=perturb, progress=progress,
                                batch_size=kwargs.get("batch_size"), device=kwargs.get("device", "cpu"))
            fresh = EmbeddedFiles(tiled.paths, tiled.embeddings, tiled.sha256, [], tiled.errors)
        else:
            fresh = embed_files(encoder, preprocess, missing, perturb=perturb, progress=progress, hash_files=False, **kwargs)
        if len(fresh.paths):
            start = len(self.embeddings)
            new_keys = [digest_of[p] for p in fresh.paths]
            # Rounded as stored, so a first and a cached run give identical results.
            block = fresh.embeddings.astype(np.float16).astype(np.float32)
            self.embeddings = block if self.embeddings.size == 0 else np.concatenate([self.embeddings, block])
            for offset, key in enumerate(new_keys):
                self.index.setdefault(key, start + offset)
            self.save()
        errors.extend(fresh.errors)
        failed = {p for p, _ in errors}
        kept = [(p, d) for p, d in zip(paths, digests) if d is not None and p not in failed]
        rows = [self.index[d] for _, d in kept]
        dim = self.embeddings.shape[1] if self.embeddings.size else 0
        embeddings = self.embeddings[rows] if rows else np.zeros((0, dim), dtype=np.float32)
        hits = len(kept) - len(fresh.paths)
        return EmbeddedFiles([p for p, _ in kept], embeddings, [d for _, d in kept], [], errors), hits
