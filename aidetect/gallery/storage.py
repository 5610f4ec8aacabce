"""The gallery in memory: embeddings, labels, source digests and paths, the change log; load and save."""

from __future__ import annotations

import copy
import datetime as _dt
import getpass
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


import numpy as np

from aidetect.errors import (
    AidetectError,
    CorruptFileError,
    IncompatibleGalleryError,
)
from aidetect.fileio import atomic_writer
from aidetect.gallery.npz import corrupt, read_arrays, write_npz
from aidetect.gallery.search import knn_search

GALLERY_SCHEMA_VERSION = 1
GALLERY_FORMAT = "aidetect-gallery"

_ACTIONS = ("create", "add", "remove")
# float16 keeps ~3 significant digits: a unit vector stored in float16 has a norm
# within ~1e-3 of 1, so anything further than this was not normalised.
_UNIT_TOLERANCE = 1e-2
# Rows processed at a time by hashing and verification.
_GALLERY_BLOCK = 65536
# Search: the gallery is converted to float32 in blocks of 4k-64k rows (at most 32 MiB


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user() -> str:
    try:
        return getpass.getuser() or ""
    except Exception:  # no passwd entry / no USER in containers
        return ""


def _log_entry(action: str, label: str, count: int, source: str, **extra: Any) -> dict:
    entry = {
        "time": _utc_now(),
        "action": action,
        "class": label,
        "count": int(count),
        "source": str(source),
        "user": _user(),
    }
    entry.update(extra)
    return entry


def _encode_paths(paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [os.fspath(p).encode("utf-8", "surrogateescape") for p in paths]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    if encoded:
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return blob, offsets


def _parse_sha256s(sha256s: Sequence[str]) -> np.ndarray:
    out = np.empty((len(sha256s), 32), dtype=np.uint8)
    for i, text in enumerate(sha256s):
        try:
            raw = bytes.fromhex(str(text))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise AidetectError(
                f"SHA-256 number {i} ({str(text)[:70]!r}) is not 64 hexadecimal characters; "
                "pass the hex digest of each source file (aidetect.fileio.sha256_file)."
            )
        out[i] = np.frombuffer(raw, dtype=np.uint8)
    return out


def _digest_words(digests: np.ndarray) -> np.ndarray:
    """[N, 32] uint8 → [N, 4] uint64 (sorting integers is ~20x faster than 32-byte strings)."""
    return np.ascontiguousarray(digests, dtype=np.uint8).view("<u8").reshape(-1, 4)


def _first_occurrences(digests: np.ndarray) -> np.ndarray:
    """[N] bool: True at the first row of each distinct digest."""
    n = len(digests)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    words = _digest_words(digests)
    # Sort by the first 8 bytes only (stable, so equal keys stay in row order); rows
    # whose prefix is shared are then ordered exactly by all 32 bytes.
    order = np.argsort(words[:, 0], kind="stable")
    prefixes = words[order, 0]
    shared = np.zeros(n, dtype=bool)
    shared[1:] = prefixes[1:] == prefixes[:-1]
    shared[:-1] |= shared[1:]
    if shared.any():
        pos = np.flatnonzero(shared)
        sub = order[pos]
        order[pos] = sub[np.lexsort((sub, *words[sub].T[::-1]))]
    ordered = words[order]
    new = np.ones(n, dtype=bool)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    keep[order[new]] = True
    return keep


def _digests_in(needles: np.ndarray, haystack: np.ndarray) -> np.ndarray:
    """[M] bool: which rows of ``needles`` [M, 32] occur in ``haystack`` [N, 32].

    Sorts only the first 8 bytes of the haystack, then confirms full digests.
    """
    out = np.zeros(len(needles), dtype=bool)
    if len(needles) == 0 or len(haystack) == 0:
        return out
    hay = _digest_words(haystack)
    pins = _digest_words(needles)
    order = np.argsort(hay[:, 0], kind="stable")
    prefixes = hay[order, 0]
    lo = np.searchsorted(prefixes, pins[:, 0], side="left")
    hi = np.searchsorted(prefixes, pins[:, 0], side="right")
    runs = hi - lo
    single = np.flatnonzero(runs == 1)
    out[single] = np.all(hay[order[lo[single]]] == pins[single], axis=1)
    for i in np.flatnonzero(runs > 1):  # equal 8-byte prefixes: duplicates already present
        out[i] = bool(np.any(np.all(hay[order[lo[i] : hi[i]]] == pins[i], axis=1)))
    return out


class _PathList(Sequence):
    """Read-only view of the paths stored as one UTF-8 blob + offsets.

    1.3 million Python strings would cost hundreds of MB; rows are decoded on access.
    """

    def __init__(self, blob: np.ndarray, offsets: np.ndarray):
        self._blob = blob
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _one(self, i: int) -> str:
        start, stop = int(self._offsets[i]), int(self._offsets[i + 1])
        return self._blob[start:stop].tobytes().decode("utf-8", "surrogateescape")

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._one(i) for i in range(*index.indices(len(self)))]
        if isinstance(index, (np.ndarray, list, tuple)):
            return [self[int(i)] for i in np.asarray(index).reshape(-1)]
        i = int(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"path index {index} out of range for {len(self)} rows")
        return self._one(i)

    def __iter__(self) -> Iterator[str]:
        return (self._one(i) for i in range(len(self)))

    def __repr__(self) -> str:
        return f"<{len(self)} gallery paths>"


class _HexList(Sequence):
    """Read-only view of the [N, 32] digest array as hex strings."""

    def __init__(self, digests: np.ndarray):
        self._digests = digests

    def __len__(self) -> int:
        return len(self._digests)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._digests[i].tobytes().hex() for i in range(*index.indices(len(self)))]
        if isinstance(index, (np.ndarray, list, tuple)):
            return [self[int(i)] for i in np.asarray(index).reshape(-1)]
        return self._digests[int(index)].tobytes().hex()

    def __iter__(self) -> Iterator[str]:
        return (row.tobytes().hex() for row in self._digests)

    def __repr__(self) -> str:
        return f"<{len(self)} SHA-256 digests>"


# --------------------------------------------------------------------------- gallery


class Gallery:
    """Reference embeddings for the k-NN classifier, with labels and provenance.

    Rows: ``embeddings`` float16 [N, D] (unit vectors, as given by the encoder),
    one label, source path and SHA-256 per row. ``log`` is the append-only list of
    changes (``create``/``add``/``remove``). Build one with :meth:`create` or
    :meth:`load`; mutate with :meth:`add` / :meth:`remove_class`.
    """

    def __init__(
        self,
        *,
        model_fingerprint: str,
        embedding_dim: int,
        embeddings: np.ndarray,
        label_codes: np.ndarray,
        class_names: list[str],
        sha256: np.ndarray,
        path_blob: np.ndarray,
        path_offsets: np.ndarray,
        log: list[dict],
    ):
        self.model_fingerprint = str(model_fingerprint)
        self.embedding_dim = int(embedding_dim)
        self._embeddings = embeddings
        self._codes = label_codes
        self._class_names = list(class_names)
        self._sha = sha256
        self._path_blob = path_blob
        self._path_offsets = path_offsets
        self.log = log
        self._content_hash: str | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(cls, model_fingerprint: str, embedding_dim: int, source: str = "") -> "Gallery":
        """An empty gallery for a model whose embeddings have ``embedding_dim`` values."""
        if not isinstance(model_fingerprint, str) or not model_fingerprint:
            raise AidetectError("A gallery needs the fingerprint of the model that makes its embeddings.")
        if int(embedding_dim) <= 0:
            raise AidetectError(f"The embedding size must be positive, not {embedding_dim}.")
        return cls(
            model_fingerprint=model_fingerprint,
            embedding_dim=int(embedding_dim),
            embeddings=np.zeros((0, int(embedding_dim)), dtype=np.float16),
            label_codes=np.zeros(0, dtype=np.int32),
            class_names=[],
            sha256=np.zeros((0, 32), dtype=np.uint8),
            path_blob=np.zeros(0, dtype=np.uint8),
            path_offsets=np.zeros(1, dtype=np.int64),
            log=[_log_entry("create", "", 0, source)],
        )

    # ------------------------------------------------------------------ read access

    def __len__(self) -> int:
        return int(self._embeddings.shape[0])

    def __repr__(self) -> str:
        return (
            f"Gallery({len(self)} rows, {len(self._class_names)} classes, dim={self.embedding_dim}, "
            f"model={self.model_fingerprint!r}, fingerprint={self.fingerprint!r})"
        )

    @property
    def embeddings(self) -> np.ndarray:
        """float16 [N, D]; read-only (may be a memory map)."""
        view = self._embeddings.view()
        view.flags.writeable = False
        return view

    @property
    def label_codes(self) -> np.ndarray:
        """int32 [N] indices into :attr:`class_names`; read-only."""
        view = self._codes.view()
        view.flags.writeable = False
        return view

    @property
    def class_names(self) -> list[str]:
        """Sorted class names; ``label_codes`` index into this list."""
        return list(self._class_names)

    @property
    def paths(self) -> Sequence[str]:
        """Source path of each row (a lazy sequence: index it, iterate it, ``list()`` it)."""
        return _PathList(self._path_blob, self._path_offsets)

    @property
    def sha256s(self) -> Sequence[str]:
        """Hex SHA-256 of each row's source file (a lazy sequence)."""
        return _HexList(self._sha)

    def classes(self) -> dict[str, int]:
        """Class name → number of rows, sorted by name."""
        counts = np.bincount(self._codes, minlength=len(self._class_names))
        return {name: int(counts[i]) for i, name in enumerate(self._class_names)}

    def labels(self) -> np.ndarray:
        """[N] array of str labels."""
        if not self._class_names:
            return np.zeros(0, dtype=str)
        return np.asarray(self._class_names)[self._codes]

    def contains_sha256(self, sha256s: Sequence[str]) -> np.ndarray:
        """[len(sha256s)] bool: which of these files are already in the gallery (any class)."""
        return _digests_in(_parse_sha256s(sha256s), self._sha)

    @property
    def fingerprint(self) -> str:
        """First 16 hex characters of the content hash.

        The hash covers the model fingerprint, embedding size, embedding bytes,
        labels and SHA-256s (not the paths, which are provenance, nor the log).
        """
        return self.content_hash()[:16]

    def content_hash(self) -> str:
        """Full hex SHA-256 behind :attr:`fingerprint` (cached; the gallery changes only through methods)."""
        if self._content_hash is None:
            self._content_hash = _content_hash(
                self.model_fingerprint,
                self.embedding_dim,
                self._embeddings,
                self._codes,
                self._class_names,
                self._sha,
            )
        return self._content_hash

    # ------------------------------------------------------------------ changes

    def add(
        self,
        embeddings,
        label: str,
        paths: Sequence[str],
        sha256s: Sequence[str],
        source: str = "",
    ) -> tuple[int, int]:
        """Add rows of one class; returns ``(added, skipped)``.

        ``embeddings`` [n, D] unit vectors (stored as float16). A row is skipped
        when its SHA-256 is already in the gallery (under any class) or repeats
        an earlier row of this call. The change is logged even when nothing is added.
        """
        if not isinstance(label, str) or not label.strip():
            raise AidetectError("A gallery class needs a non-empty name (e.g. --generator NAME).")
        emb = np.asarray(embeddings)
        if emb.ndim == 1 and emb.size == self.embedding_dim:
            emb = emb.reshape(1, -1)
        if emb.ndim != 2 or emb.shape[1] != self.embedding_dim:
            raise AidetectError(
                f"Embeddings of shape {tuple(emb.shape)} do not fit this gallery, which holds "
                f"{self.embedding_dim}-value embeddings; embed the images with the gallery's model."
            )
        n = emb.shape[0]
        if len(paths) != n or len(sha256s) != n:
            raise AidetectError(
                f"Got {n} embeddings, {len(paths)} paths and {len(sha256s)} SHA-256s for class "
                f"{label!r}; pass one path and one SHA-256 per embedding."
            )
        if not np.issubdtype(emb.dtype, np.floating):
            raise AidetectError(f"Embeddings must be floating point, not {emb.dtype}.")
        emb32 = emb.astype(np.float32, copy=False)
        if not np.isfinite(emb32).all():
            raise AidetectError(
                f"Some embeddings for class {label!r} are NaN or infinite; check the images and the model."
            )
        norms = np.linalg.norm(emb32, axis=1) if n else np.zeros(0, np.float32)
        bad = np.flatnonzero(np.abs(norms - 1.0) > _UNIT_TOLERANCE)
        if bad.size:
            raise AidetectError(
                f"{bad.size} embeddings for class {label!r} are not unit vectors (row {int(bad[0])} has "
                f"norm {float(norms[bad[0]]):.4f}); L2-normalise them before adding them to a gallery."
            )
        digests = _parse_sha256s(sha256s)

        keep = _first_occurrences(digests) & ~_digests_in(digests, self._sha)
        added = int(keep.sum())
        skipped = n - added

        if added:
            names = self._class_names
            if label not in names:
                names = sorted(names + [label])
                remap = np.array([names.index(c) for c in self._class_names], dtype=np.int32)
                codes = remap[self._codes] if len(self._codes) else self._codes
            else:
                codes = self._codes
            code = names.index(label)
            new_paths = [paths[i] for i in np.flatnonzero(keep)]
            blob, offsets = _encode_paths(new_paths)
            self._embeddings = np.concatenate(
                [np.asarray(self._embeddings), emb[keep].astype(np.float16)], axis=0
            )
            self._codes = np.concatenate([codes, np.full(added, code, dtype=np.int32)])
            self._class_names = names
            self._sha = np.concatenate([self._sha, digests[keep]], axis=0)
            self._path_offsets = np.concatenate(
                [self._path_offsets, offsets[1:] + self._path_offsets[-1]]
            )
            self._path_blob = np.concatenate([self._path_blob, blob])
            self._content_hash = None
        self.log.append(_log_entry("add", label, added, source, skipped=skipped))
        return added, skipped

    def add_labelled(self, embeddings, labels, paths: Sequence[str], sha256s: Sequence[str], source: str = "") -> tuple[int, int]:
        """:meth:`add` for rows of several classes at once (one log entry per class, in name order)."""
        labels = np.asarray(labels)
        added = skipped = 0
        for name in sorted(set(labels.tolist())):
            rows = np.flatnonzero(labels == name)
            a, s = self.add(np.asarray(embeddings)[rows], name, [paths[i] for i in rows], [sha256s[i] for i in rows], source=source)
            added, skipped = added + a, skipped + s
        return added, skipped

    def remove_class(self, label: str, source: str = "") -> int:
        """Remove every row of ``label``; returns how many. The removal is logged."""
        if label not in self._class_names:
            known = ", ".join(self._class_names) or "none"
            raise AidetectError(
                f"The gallery has no class {label!r} (classes: {known}); check the name with "
                "`aidetect gallery list`."
            )
        code = self._class_names.index(label)
        keep = self._codes != code
        removed = int((~keep).sum())
        self._take(np.flatnonzero(keep))
        self.log.append(_log_entry("remove", label, removed, source))
        return removed

    def _take(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (sorted or not, unique), re-coding labels and paths."""
        rows = np.asarray(rows, dtype=np.int64)
        codes = self._codes[rows]
        present = np.unique(codes)
        names = [self._class_names[c] for c in present]
        remap = np.full(max(len(self._class_names), 1), -1, dtype=np.int32)
        remap[present] = np.arange(len(present), dtype=np.int32)
        starts = self._path_offsets[rows]
        stops = self._path_offsets[rows + 1]
        lengths = stops - starts
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if offsets[-1]:
            # gather byte ranges without a Python loop: per-byte source index
            src = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
            blob = self._path_blob[src]
        else:
            blob = np.zeros(0, dtype=np.uint8)
        self._embeddings = np.asarray(self._embeddings)[rows]
        self._codes = remap[codes].astype(np.int32, copy=False)
        self._class_names = names
        self._sha = self._sha[rows]
        self._path_blob = blob
        self._path_offsets = offsets
        self._content_hash = None

    def subset(self, indices) -> "Gallery":
        """A new gallery holding rows ``indices`` (unique), e.g. for evaluation draws.

        The log is copied, and the rows left out are logged as ``remove`` entries
        (source ``"subset"``) so that :meth:`verify`'s log replay still holds.
        """
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise AidetectError(f"Subset indices must lie in [0, {n}); got {int(idx.min())}..{int(idx.max())}.")
        idx = np.where(idx < 0, idx + n, idx)
        if np.unique(idx).size != idx.size:
            raise AidetectError("Subset indices must not repeat (a gallery holds each file once).")
        before = self.classes()
        out = Gallery(
            model_fingerprint=self.model_fingerprint,
            embedding_dim=self.embedding_dim,
            embeddings=self._embeddings,
            label_codes=self._codes,
            class_names=self._class_names,
            sha256=self._sha,
            path_blob=self._path_blob,
            path_offsets=self._path_offsets,
            log=copy.deepcopy(self.log),
        )
        out._take(idx)
        after = out.classes()
        for name, count in before.items():
            dropped = count - after.get(name, 0)
            if dropped:
                out.log.append(_log_entry("remove", name, dropped, "subset"))
        return out

    # ------------------------------------------------------------------ search

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact cosine k-NN.

        ``queries`` [Q, D] unit vectors. Returns ``(similarities, indices)``, both
        [Q, k'] with k' = min(k, N): similarities float32 in descending order,
        indices int64 rows of this gallery; ties go to the lower row index.
        Memory stays bounded: the gallery is converted to float32 ~64k rows at a
        time and each block keeps only candidates that beat the current k-th best.
        """
        q = np.asarray(queries)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        if q.ndim != 2 or q.shape[1] != self.embedding_dim:
            raise AidetectError(
                f"Queries of shape {tuple(q.shape)} do not fit this gallery's "
                f"{self.embedding_dim}-value embeddings; embed them with the gallery's model."
            )
        k = int(k)
        if k < 1:
            raise AidetectError(f"k must be at least 1, not {k}.")
        q = np.ascontiguousarray(q, dtype=np.float32)
        if not np.isfinite(q).all():
            raise AidetectError("Some query embeddings are NaN or infinite; check the images and the model.")
        return knn_search(q, self._embeddings, k)

    # ------------------------------------------------------------------ verification

    def verify(self) -> list[str]:
        """Problems found in the gallery (empty list: none).

        Checks that replaying the log (adds minus removes per class) gives
        :meth:`classes`, that no SHA-256 repeats, and that every embedding is a
        finite unit vector.
        """
        problems: list[str] = []
        replay: dict[str, int] = {}
        for i, entry in enumerate(self.log):
            if not isinstance(entry, dict) or entry.get("action") not in _ACTIONS:
                problems.append(f"log entry {i} is malformed or has an unknown action: {entry!r}")
                continue
            count = entry.get("count")
            name = entry.get("class")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0 or not isinstance(name, str):
                problems.append(f"log entry {i} has no valid class/count: {entry!r}")
                continue
            if entry["action"] == "add":
                replay[name] = replay.get(name, 0) + count
            elif entry["action"] == "remove":
                replay[name] = replay.get(name, 0) - count
        first = self.log[0] if self.log else None
        if not isinstance(first, dict) or first.get("action") != "create":
            problems.append("the log does not start with a 'create' entry")
        actual = self.classes()
        for name in sorted(set(replay) | set(actual)):
            expected, have = replay.get(name, 0), actual.get(name, 0)
            if expected != have:
                problems.append(
                    f"class {name!r} has {have} rows but the log accounts for {expected}"
                )

        repeats = ~_first_occurrences(self._sha)
        if repeats.any():
            example = self._sha[np.argmax(repeats)].tobytes().hex()
            problems.append(
                f"{int(repeats.sum())} rows repeat the SHA-256 of an earlier row, so the same file "
                f"is in the gallery more than once (e.g. {example})"
            )

        bad_finite = 0
        bad_unit: list[int] = []
        for start in range(0, len(self), _GALLERY_BLOCK):
            block = np.asarray(self._embeddings[start : start + _GALLERY_BLOCK], dtype=np.float32)
            with np.errstate(over="ignore", invalid="ignore"):
                squares = np.einsum("ij,ij->i", block, block)  # any NaN/inf makes the row's sum non-finite
            finite = np.isfinite(squares)
            bad_finite += int((~finite).sum())
            off = np.flatnonzero(finite & (np.abs(np.sqrt(squares) - 1.0) > _UNIT_TOLERANCE))
            bad_unit.extend((off + start).tolist())
        if bad_finite:
            problems.append(f"{bad_finite} embeddings contain NaN or infinite values")
        if bad_unit:
            problems.append(
                f"{len(bad_unit)} embeddings are not unit vectors (first at row {bad_unit[0]})"
            )
        return problems

    @staticmethod
    def verify_file(path) -> list[str]:
        """Load ``path`` and :meth:`verify` it; a load failure is returned as a problem."""
        try:
            gallery = Gallery.load(path)
        except AidetectError as exc:
            return [str(exc)]
        return gallery.verify()

    # ------------------------------------------------------------------ files

    def _meta(self) -> dict:
        return {
            "format": GALLERY_FORMAT,
            "schema_version": GALLERY_SCHEMA_VERSION,
            "model_fingerprint": self.model_fingerprint,
            "embedding_dim": self.embedding_dim,
            "count": len(self),
            "class_names": list(self._class_names),
            "class_counts": self.classes(),
            "content_sha256": self.content_hash(),
            "fingerprint": self.fingerprint,
            "paths_sha256": _paths_hash(self._path_blob, self._path_offsets),
            "log": self.log,
        }

    def save(self, path) -> None:
        """Write the gallery to ``path`` atomically (temporary file + rename)."""
        meta = json.dumps(self._meta(), ensure_ascii=False).encode("utf-8")
        arrays = {
            "meta": np.frombuffer(meta, dtype=np.uint8),
            "embeddings": np.ascontiguousarray(self._embeddings, dtype="<f2"),
            "label_codes": np.ascontiguousarray(self._codes, dtype="<i4"),
            "sha256": np.ascontiguousarray(self._sha, dtype=np.uint8),
            "path_blob": np.ascontiguousarray(self._path_blob, dtype=np.uint8),
            "path_offsets": np.ascontiguousarray(self._path_offsets, dtype="<i8"),
        }
        with atomic_writer(path, "wb") as handle:
            write_npz(handle, arrays)

    @classmethod
    def load(
        cls,
        path,
        *,
        expected_model_fingerprint: str | None = None,
        mmap: bool = False,
    ) -> "Gallery":
        """Read a gallery written by :meth:`save`, checking it thoroughly.

        Never unpickles anything. Raises :class:`UnsafeFileError` for a pickle,
        :class:`CorruptFileError` for a missing, truncated, edited or
        inconsistent file, and :class:`IncompatibleGalleryError` when
        ``expected_model_fingerprint`` is given and the gallery was made by
        another model. ``mmap=True`` maps the embeddings from the file instead
        of reading them into memory.
        """
        p = Path(path)
        arrays = read_arrays(p, mmap=mmap)
        gallery = _from_arrays(p, arrays)
        if expected_model_fingerprint is not None and gallery.model_fingerprint != expected_model_fingerprint:
            raise IncompatibleGalleryError(
                f"{p} was made by model {gallery.model_fingerprint}, but the model in use is "
                f"{expected_model_fingerprint}; enroll into a new gallery with --gallery NEW or use the "
                "model that made it."
            )
        return gallery


# --------------------------------------------------------------------------- hashing


def _content_hash(model_fp, dim, embeddings, codes, class_names, sha) -> str:
    h = hashlib.sha256()
    h.update(b"aidetect-gallery-content-v1\0")
    h.update(json.dumps([model_fp, int(dim), int(len(codes)), list(class_names)], ensure_ascii=False).encode("utf-8"))
    h.update(b"\0")
    # chunked so a memory-mapped gallery is never copied whole
    emb = embeddings
    for start in range(0, emb.shape[0], _GALLERY_BLOCK):
        h.update(np.ascontiguousarray(emb[start : start + _GALLERY_BLOCK], dtype="<f2").tobytes())
    h.update(np.ascontiguousarray(codes, dtype="<i4").tobytes())
    h.update(np.ascontiguousarray(sha, dtype=np.uint8).tobytes())
    return h.hexdigest()


def _paths_hash(blob: np.ndarray, offsets: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(offsets, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(blob, dtype=np.uint8).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- search



def _from_arrays(path: Path, a: dict[str, np.ndarray]) -> Gallery:
    meta_arr = a["meta"]
    if meta_arr.dtype != np.uint8 or meta_arr.ndim != 1:
        raise corrupt(path, "metadata is not a byte array")
    try:
        meta = json.loads(meta_arr.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise corrupt(path, f"metadata is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != GALLERY_FORMAT:
        raise corrupt(path, "metadata does not describe an aidetect gallery")
    version = meta.get("schema_version")
    if type(version) is not int or version != GALLERY_SCHEMA_VERSION:
        if type(version) is int and version > GALLERY_SCHEMA_VERSION:
            raise CorruptFileError(
                f"{path} uses gallery schema version {version}, newer than the {GALLERY_SCHEMA_VERSION} this "
                "aidetect reads; upgrade aidetect to read it."
            )
        raise corrupt(path, f"unknown schema version {version!r}")

    model_fp = meta.get("model_fingerprint")
    dim = meta.get("embedding_dim")
    count = meta.get("count")
    names = meta.get("class_names")
    counts = meta.get("class_counts")
    log = meta.get("log")
    if not isinstance(model_fp, str) or not model_fp:
        raise corrupt(path, "metadata lacks the model fingerprint")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
        raise corrupt(path, "metadata lacks a valid embedding size")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise corrupt(path, "metadata lacks a valid row count")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise corrupt(path, "metadata lacks a valid class-name list")
    if names != sorted(set(names)):
        raise corrupt(path, "class names are not sorted and unique")
    if not isinstance(counts, dict) or not isinstance(log, list) or not all(isinstance(e, dict) for e in log):
        raise corrupt(path, "metadata lacks class counts or the change log")

    emb, codes, sha = a["embeddings"], a["label_codes"], a["sha256"]
    blob, offsets = a["path_blob"], a["path_offsets"]
    if emb.dtype != np.float16 or emb.ndim != 2:
        raise corrupt(path, f"embeddings are {emb.dtype} with {emb.ndim} dimensions, not a float16 matrix")
    if emb.shape[1] != dim:
        raise corrupt(path, f"embeddings have {emb.shape[1]} values per row but the metadata says {dim}")
    n = emb.shape[0]
    if count != n:
        raise corrupt(path, f"the metadata counts {count} rows but the embeddings have {n}")
    if codes.dtype.kind not in "iu" or codes.shape != (n,):
        raise corrupt(path, f"{codes.shape} labels for {n} embeddings")
    if sha.dtype != np.uint8 or sha.shape != (n, 32):
        raise corrupt(path, f"{sha.shape} SHA-256 digests for {n} embeddings")
    if blob.dtype != np.uint8 or blob.ndim != 1 or offsets.dtype.kind not in "iu" or offsets.shape != (n + 1,):
        raise corrupt(path, f"{max(offsets.shape[0] - 1, 0) if offsets.ndim == 1 else '?'} paths for {n} embeddings")
    offsets = offsets.astype(np.int64, copy=False)
    if offsets[0] != 0 or offsets[-1] != blob.size or (n and np.any(np.diff(offsets) < 0)):
        raise corrupt(path, "path offsets do not match the path data")
    codes = codes.astype(np.int32, copy=False)
    if n and (codes.min() < 0 or codes.max() >= len(names)):
        raise corrupt(path, "labels refer to classes the metadata does not name")
    actual = np.bincount(codes, minlength=len(names)) if len(names) else np.zeros(0, np.int64)
    if {name: int(actual[i]) for i, name in enumerate(names)} != counts:
        raise corrupt(path, "the class counts in the metadata disagree with the labels")
    if n and np.any(actual == 0):
        raise corrupt(path, "the metadata names a class with no rows")

    gallery = Gallery(
        model_fingerprint=model_fp,
        embedding_dim=dim,
        embeddings=emb,
        label_codes=codes,
        class_names=names,
        sha256=sha,
        path_blob=blob,
        path_offsets=offsets,
        log=log,
    )
    if meta.get("content_sha256") != gallery.content_hash():
        raise corrupt(path, "its content hash does not match: embeddings, labels or metadata were edited")
    if meta.get("paths_sha256") != _paths_hash(blob, offsets):
        raise corrupt(path, "its source paths were edited")
    return gallery
