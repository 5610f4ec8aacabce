"""The gallery in memory: embeddings, labels, source digests and paths, the change log; load and save.

Besides the rows that decide verdicts (embeddings, labels, SHA-256s), a gallery keeps
evidence a person can check: per row the enrollment that added it (so one enrollment can
be undone), its source path (relative to a named source root when one was given, so the
path means something on another machine) and an optional small lossless thumbnail.
"""

from __future__ import annotations

import copy
import datetime as _dt
import getpass
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any


import numpy as np

from aidetect.errors import (
    AidetectError,
    CorruptFileError,
    IncompatibleGalleryError,
)
from aidetect.fileio import atomic_writer, write_error
from aidetect.gallery.npz import corrupt, read_arrays, release_pages, write_npz
from aidetect.gallery.search import knn_search
from aidetect.gallery.thumbnails import PNG_SIGNATURE, decode_png, thumbnail_png

GALLERY_SCHEMA_VERSION = 1
GALLERY_FORMAT = "aidetect-gallery"

_ACTIONS = ("create", "add", "remove")
# float16 keeps ~3 significant digits: a unit vector stored in float16 has a norm
# within ~1e-3 of 1, so anything further than this was not normalised.
_UNIT_TOLERANCE = 1e-2
# Rows processed at a time by hashing and verification.
_GALLERY_BLOCK = 65536
# Enrollment ids: 8 hex characters (32 random bits, never 0, which marks rows added
# before ids existed); a gallery holds thousands of enrollments at most, and a new id
# is drawn again when it is already taken.
_ENROLLMENT_ID = re.compile(r"[0-9a-f]{8}")
_NO_ENROLLMENT = 0
_NO_ROOT = -1
_VERIFY_HINT = "aidetect gallery verify"
_ELSEWHERE = "use --gallery PATH to write the gallery elsewhere"


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


def _encode_blobs(items: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    if items:
        np.cumsum([len(b) for b in items], out=offsets[1:])
    blob = np.frombuffer(b"".join(items), dtype=np.uint8).copy()
    return blob, offsets


def _encode_paths(paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    return _encode_blobs([os.fspath(p).encode("utf-8", "surrogateescape") for p in paths])


def _gather(blob: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The byte spans of ``rows`` (any order) as a new blob + offsets, without a Python loop."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    if new_offsets[-1]:
        src = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1], dtype=np.int64)
        return np.asarray(blob[src]), new_offsets
    return np.zeros(0, dtype=np.uint8), new_offsets


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


def _enrollment_text(value: int) -> str:
    return f"{int(value):08x}"


def _parse_enrollment(text: str) -> int:
    clean = str(text).strip().lower()
    if not _ENROLLMENT_ID.fullmatch(clean) or int(clean, 16) == _NO_ENROLLMENT:
        raise AidetectError(
            f"{str(text)[:40]!r} is not an enrollment id (8 hexadecimal characters, e.g. 3fa91c0b); "
            "`aidetect gallery list` shows them."
        )
    return int(clean, 16)


def _check_root_label(label: str) -> str:
    if (
        not isinstance(label, str)
        or not label.strip()
        or label != label.strip()
        or label in (".", "..")
        or "/" in label
        or "\\" in label
        or not label.isprintable()
    ):
        raise AidetectError(
            f"{label!r} cannot name a source root: use a short name without slashes (e.g. the folder's name), "
            "given as root_label."
        )
    return label


def _root_table(source_root, root_label: str | None) -> list[tuple[str, str]]:
    """[(label, absolute folder)] to match paths against, longest folder first."""
    if source_root is None:
        if root_label is not None:
            raise AidetectError("root_label names a source root: pass the folder itself as source_root too.")
        return []
    if isinstance(source_root, Mapping):
        if root_label is not None:
            raise AidetectError("Give root labels as the keys of the source_root mapping, not as root_label.")
        items = list(source_root.items())
    else:
        folder = os.path.abspath(os.fspath(source_root))
        label = root_label if root_label is not None else os.path.basename(folder.rstrip(os.sep))
        if not label:
            raise AidetectError(f"The source root {folder} has no folder name; name it with root_label.")
        items = [(label, folder)]
    table = [(_check_root_label(label), os.path.abspath(os.fspath(folder))) for label, folder in items]
    return sorted(table, key=lambda item: len(item[1]), reverse=True)


def _relative_posix(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` with "/" separators, or None when it does not lie inside it."""
    prefix = folder if folder.endswith(os.sep) else folder + os.sep
    absolute = os.path.abspath(path)
    if not absolute.startswith(prefix) or len(absolute) == len(prefix):
        return None
    return PurePath(absolute[len(prefix) :]).as_posix()


def _safe_relative(rel: str) -> bool:
    """A stored relative path that cannot leave its root (no "..", not absolute, not empty)."""
    if not rel or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        return False
    return all(part not in ("", ".", "..") for part in re.split(r"[/\\]", rel))


def _no_roots(n: int) -> np.ndarray:
    """[n] int32 of -1 (no source root), read-only and without n * 4 bytes behind it: most galleries
    have no roots, and every change makes a new array (concatenate, fancy indexing, copy)."""
    return np.broadcast_to(np.int32(_NO_ROOT), (n,))


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


class _RowCheck:
    """Counts rows that are not finite unit vectors, block by block (memory stays bounded)."""

    def __init__(self) -> None:
        self.nonfinite = 0
        self.off_unit = 0
        self.first_nonfinite: int | None = None
        self.first_off_unit: int | None = None

    def update(self, block: np.ndarray, start: int) -> None:
        rows = np.asarray(block, dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            squares = np.einsum("ij,ij->i", rows, rows)  # any NaN/inf makes the row's sum non-finite
        finite = np.isfinite(squares)
        bad = np.flatnonzero(~finite)
        if bad.size:
            self.nonfinite += int(bad.size)
            if self.first_nonfinite is None:
                self.first_nonfinite = start + int(bad[0])
        off = np.flatnonzero(finite & (np.abs(np.sqrt(squares) - 1.0) > _UNIT_TOLERANCE))
        if off.size:
            self.off_unit += int(off.size)
            if self.first_off_unit is None:
                self.first_off_unit = start + int(off[0])

    @property
    def clean(self) -> bool:
        return not (self.nonfinite or self.off_unit)

    def problems(self) -> list[str]:
        out = []
        if self.nonfinite:
            out.append(f"{self.nonfinite} embeddings contain NaN or infinite values (first at row {self.first_nonfinite})")
        if self.off_unit:
            out.append(f"{self.off_unit} embeddings are not unit vectors (first at row {self.first_off_unit})")
        return out


def _scan_rows(embeddings: np.ndarray) -> _RowCheck:
    check = _RowCheck()
    for start in range(0, embeddings.shape[0], _GALLERY_BLOCK):
        check.update(embeddings[start : start + _GALLERY_BLOCK], start)
    return check


class AddResult(tuple):
    """What :meth:`Gallery.add` returns: the tuple ``(added, skipped)``, with the enrollment id.

    Unpacks as before (``added, skipped = gallery.add(...)``); ``.enrollment`` is the
    8-character id written in the log entry, for ``aidetect gallery remove --enrollment ID``.
    """

    enrollment: str

    def __new__(cls, added: int, skipped: int, enrollment: str) -> "AddResult":
        self = super().__new__(cls, (int(added), int(skipped)))
        self.enrollment = enrollment
        return self

    @property
    def added(self) -> int:
        return self[0]

    @property
    def skipped(self) -> int:
        return self[1]


# --------------------------------------------------------------------------- gallery


class Gallery:
    """Reference embeddings for the k-NN classifier, with labels and provenance.

    Rows: ``embeddings`` float16 [N, D] (unit vectors, as given by the encoder),
    one label, source path and SHA-256 per row; per row too, the enrollment that
    added it, the source root its path is relative to (if any) and an optional PNG
    thumbnail. ``log`` is the append-only list of changes (``create``/``add``/``remove``).
    Build one with :meth:`create` or :meth:`load`; mutate with :meth:`add`,
    :meth:`remove_class` or :meth:`remove_enrollment`.
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
        enrollment: np.ndarray | None = None,
        root_codes: np.ndarray | None = None,
        roots: Sequence[str] = (),
        thumbnail_blob: np.ndarray | None = None,
        thumbnail_offsets: np.ndarray | None = None,
    ):
        n = int(embeddings.shape[0])
        self.model_fingerprint = str(model_fingerprint)
        self.embedding_dim = int(embedding_dim)
        self._embeddings = embeddings
        self._codes = label_codes
        self._class_names = list(class_names)
        self._sha = sha256
        self._path_blob = path_blob
        self._path_offsets = path_offsets
        self._enrollment = np.zeros(n, dtype=np.uint32) if enrollment is None else enrollment
        self._root_codes = _no_roots(n) if root_codes is None else root_codes
        self._roots = list(roots)
        self._thumb_blob = np.zeros(0, dtype=np.uint8) if thumbnail_blob is None else thumbnail_blob
        self._thumb_offsets = np.zeros(n + 1, dtype=np.int64) if thumbnail_offsets is None else thumbnail_offsets
        self.log = log
        #: Id of the enrollment the last :meth:`add` / :meth:`add_labelled` made (None before any).
        self.last_enrollment: str | None = None
        self._content_hash: str | None = None
        # what loading the file found beyond the content (for check_file): members aidetect
        # does not write, and whether the change log is covered by a hash
        self._file_report: dict[str, Any] = {}

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
        """Display path of each row (a lazy sequence: index it, iterate it, ``list()`` it).

        ``<root label>/<relative path>`` for a row added with a source root, else the
        path as it was given (see :meth:`display_path`, :meth:`resolve_path`).
        """
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

    # ------------------------------------------------------------------ paths

    def _row(self, i) -> int:
        n = len(self)
        j = int(i)
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        return j

    @property
    def source_roots(self) -> list[str]:
        """Labels of the source roots rows' paths are relative to (see :meth:`resolve_path`)."""
        return list(self._roots)

    def display_path(self, i: int) -> str:
        """Row ``i``'s path as shown: ``<root label>/<relative path>``, or the stored path itself."""
        return self.paths[self._row(i)]

    def root_label(self, i: int) -> str | None:
        """The label of the source root row ``i``'s path is relative to; None for an absolute path."""
        code = int(self._root_codes[self._row(i)])
        return self._roots[code] if 0 <= code < len(self._roots) else None

    def relative_path(self, i: int) -> str | None:
        """Row ``i``'s path relative to its source root ("/"-separated); None without a root."""
        j = self._row(i)
        label = self.root_label(j)
        if label is None:
            return None
        shown = self.paths[j]
        prefix = label + "/"
        return shown[len(prefix) :] if shown.startswith(prefix) else None

    def resolve_path(self, i: int, roots: Mapping[str, str | os.PathLike] | None = None) -> Path | None:
        """Row ``i``'s source file on this machine, or None when it is not here.

        ``roots`` maps source-root labels to folders on this machine (e.g.
        ``{"zoo-train": "/data/zoo/train"}``); a row without a root is looked up at its
        stored path. A relative path that would leave its root ("..") is never followed.
        """
        j = self._row(i)
        label = self.root_label(j)
        if label is None:
            candidate = Path(self.paths[j])
        else:
            rel = self.relative_path(j)
            folder = (roots or {}).get(label)
            if folder is None or rel is None or not _safe_relative(rel):
                return None
            candidate = Path(folder).joinpath(*rel.split("/"))
        try:
            return candidate if candidate.is_file() else None
        except OSError:  # unreadable folder, name too long
            return None

    # ------------------------------------------------------------------ thumbnails

    @property
    def thumbnail_count(self) -> int:
        """How many rows have a thumbnail."""
        return int(np.count_nonzero(np.diff(self._thumb_offsets)))

    def thumbnail(self, i: int) -> bytes | None:
        """Row ``i``'s thumbnail as PNG bytes (e.g. for a ``data:image/png`` URI); None when it has none."""
        j = self._row(i)
        start, stop = int(self._thumb_offsets[j]), int(self._thumb_offsets[j + 1])
        if start == stop:
            return None
        return np.asarray(self._thumb_blob[start:stop]).tobytes()

    def thumbnail_array(self, i: int) -> np.ndarray | None:
        """Row ``i``'s thumbnail decoded, uint8 [H, W, 3]; None when it has none."""
        data = self.thumbnail(i)
        return None if data is None else decode_png(data)

    # ------------------------------------------------------------------ enrollments

    def enrollments(self) -> dict[str, int]:
        """Enrollment id → rows of it still in the gallery, for every id the log records (in log order)."""
        ids = []
        for entry in self.log:
            eid = entry.get("enrollment") if isinstance(entry, dict) and entry.get("action") == "add" else None
            if isinstance(eid, str) and eid not in ids:
                ids.append(eid)
        values, counts = np.unique(self._enrollment, return_counts=True)
        left = {_enrollment_text(v): int(c) for v, c in zip(values, counts) if v != _NO_ENROLLMENT}
        return {eid: left.get(eid, 0) for eid in ids}

    def _new_enrollment(self) -> int:
        taken = set(np.unique(self._enrollment).tolist())
        for entry in self.log:
            eid = entry.get("enrollment") if isinstance(entry, dict) else None
            if isinstance(eid, str) and _ENROLLMENT_ID.fullmatch(eid):
                taken.add(int(eid, 16))
        while True:
            value = secrets.randbits(32)
            if value != _NO_ENROLLMENT and value not in taken:
                return value

    @property
    def fingerprint(self) -> str:
        """First 16 hex characters of the content hash.

        The hash covers the model fingerprint, embedding size, embedding bytes,
        labels and SHA-256s: what decides a verdict. Paths, enrollment ids, source
        roots, thumbnails and the log are covered by their own hashes, checked on load.
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
        *,
        thumbnails=None,
        source_root=None,
        root_label: str | None = None,
        _enrollment: int | None = None,
    ) -> AddResult:
        """Add rows of one class; returns ``(added, skipped)`` with ``.enrollment``, the new id.

        ``embeddings`` [n, D] unit vectors (stored as float16). A row is skipped
        when its SHA-256 is already in the gallery (under any class) or repeats
        an earlier row of this call. The change is logged even when nothing is added,
        with a new enrollment id (also in :attr:`last_enrollment`) that
        :meth:`remove_enrollment` undoes.

        ``thumbnails``: None (no thumbnails: smaller files), or one per row, each a uint8
        [h, w, 3] array (see :mod:`aidetect.gallery.thumbnails`), PNG bytes or None; kept
        as lossless PNG. ``source_root``: the folder the paths lie under (a path), or a
        mapping ``{label: folder}``; paths inside it are stored as
        ``<label>/<relative path>`` (label: ``root_label``, default the folder's name),
        paths outside it as given.
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
        if thumbnails is not None and len(thumbnails) != n:
            raise AidetectError(
                f"Got {n} embeddings but {len(thumbnails)} thumbnails for class {label!r}; pass one thumbnail "
                "(or None) per embedding, or thumbnails=None."
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
        table = _root_table(source_root, root_label)

        keep = _first_occurrences(digests) & ~_digests_in(digests, self._sha)
        added = int(keep.sum())
        skipped = n - added
        rows = np.flatnonzero(keep)
        # everything that can fail comes before the first change
        thumbs = [b"" if thumbnails is None or thumbnails[i] is None else thumbnail_png(thumbnails[i]) for i in rows]
        stored_paths, row_roots = [], []
        for i in rows:
            given = os.fspath(paths[i])
            for root, folder in table:
                rel = _relative_posix(given, folder)
                if rel is not None:
                    stored_paths.append(f"{root}/{rel}")
                    row_roots.append(root)
                    break
            else:
                stored_paths.append(given)
                row_roots.append(None)
        enrollment = self._new_enrollment() if _enrollment is None else int(_enrollment)

        if added:
            new_name = label not in self._class_names
            names = sorted(self._class_names + [label]) if new_name else self._class_names
            code = names.index(label)
            codes = self._codes
            if new_name and len(codes):
                # Names are kept sorted, so old codes from the new name's place on shift by one.
                # (Looking every old name up in the new list made adding C classes one at a
                # time cost O(C^3): 2,000 classes 17 s, 4,000 about two minutes.)
                codes = codes + (codes >= code).astype(np.int32)
            blob, offsets = _encode_paths(stored_paths)
            roots = list(self._roots)
            for root in row_roots:
                if root is not None and root not in roots:
                    roots.append(root)
            root_codes = np.array([_NO_ROOT if r is None else roots.index(r) for r in row_roots], dtype=np.int32)
            thumb_blob, thumb_offsets = _encode_blobs(thumbs)
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
            self._enrollment = np.concatenate([self._enrollment, np.full(added, enrollment, dtype=np.uint32)])
            self._roots = roots
            self._root_codes = np.concatenate([self._root_codes, root_codes])
            self._thumb_offsets = np.concatenate([self._thumb_offsets, thumb_offsets[1:] + self._thumb_offsets[-1]])
            self._thumb_blob = np.concatenate([np.asarray(self._thumb_blob), thumb_blob])
            self._content_hash = None
        eid = _enrollment_text(enrollment)
        self.log.append(_log_entry("add", label, added, source, skipped=skipped, enrollment=eid))
        self.last_enrollment = eid
        return AddResult(added, skipped, eid)

    def add_labelled(
        self,
        embeddings,
        labels,
        paths: Sequence[str],
        sha256s: Sequence[str],
        source: str = "",
        *,
        thumbnails=None,
        source_root=None,
        root_label: str | None = None,
    ) -> AddResult:
        """:meth:`add` for rows of several classes at once (one log entry per class, in name order,
        all under one enrollment id)."""
        labels = np.asarray(labels)
        if thumbnails is not None and len(thumbnails) != len(labels):
            raise AidetectError(
                f"Got {len(labels)} labels but {len(thumbnails)} thumbnails; pass one thumbnail (or None) per row."
            )
        enrollment = self._new_enrollment()
        added = skipped = 0
        for name in sorted(set(labels.tolist())):
            rows = np.flatnonzero(labels == name)
            a, s = self.add(
                np.asarray(embeddings)[rows], name, [paths[i] for i in rows], [sha256s[i] for i in rows], source=source,
                thumbnails=None if thumbnails is None else [thumbnails[i] for i in rows],
                source_root=source_root, root_label=root_label, _enrollment=enrollment,
            )
            added, skipped = added + a, skipped + s
        eid = _enrollment_text(enrollment)
        self.last_enrollment = eid
        return AddResult(added, skipped, eid)

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

    def remove_enrollment(self, enrollment: str, source: str = "") -> dict[str, int]:
        """Remove exactly the rows one :meth:`add` added (by its id); returns class → rows removed.

        Rows the enrollment skipped as already present belong to the enrollment that added
        them and stay. Logged as one ``remove`` entry per class, with the id.
        """
        value = _parse_enrollment(enrollment)
        eid = _enrollment_text(value)
        mine = self._enrollment == value
        if not mine.any():
            if eid in self.enrollments():
                raise AidetectError(
                    f"Enrollment {eid} has no rows left in the gallery (it added none, or they were removed "
                    "already); see `aidetect gallery list`."
                )
            raise AidetectError(
                f"The gallery has no enrollment {eid} (galleries written before enrollment ids hold none for "
                "their rows); see the ids with `aidetect gallery list`."
            )
        counts = np.bincount(self._codes[mine], minlength=len(self._class_names))
        removed = {name: int(counts[i]) for i, name in enumerate(self._class_names) if counts[i]}
        self._take(np.flatnonzero(~mine))
        for name, count in removed.items():
            self.log.append(_log_entry("remove", name, count, source, enrollment=eid))
        return removed

    def _take(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (sorted or not, unique), re-coding labels and paths."""
        rows = np.asarray(rows, dtype=np.int64)
        codes = self._codes[rows]
        present = np.unique(codes)
        names = [self._class_names[c] for c in present]
        remap = np.full(max(len(self._class_names), 1), -1, dtype=np.int32)
        remap[present] = np.arange(len(present), dtype=np.int32)
        self._path_blob, self._path_offsets = _gather(self._path_blob, self._path_offsets, rows)
        self._thumb_blob, self._thumb_offsets = _gather(self._thumb_blob, self._thumb_offsets, rows)
        self._embeddings = np.asarray(self._embeddings)[rows]
        self._codes = remap[codes].astype(np.int32, copy=False)
        self._class_names = names
        self._sha = self._sha[rows]
        self._enrollment = self._enrollment[rows]
        self._root_codes = self._root_codes[rows]
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
            enrollment=self._enrollment,
            root_codes=self._root_codes,
            roots=self._roots,
            thumbnail_blob=self._thumb_blob,
            thumbnail_offsets=self._thumb_offsets,
        )
        out._take(idx)
        after = out.classes()
        for name, count in before.items():
            dropped = count - after.get(name, 0)
            if dropped:
                out.log.append(_log_entry("remove", name, dropped, "subset"))
        return out

    def set_thumbnails(self, rows, thumbnails) -> None:
        """Give rows ``rows`` these thumbnails (each an array, PNG bytes, or None to drop one).

        For galleries made without them (e.g. the bundled one, whose source files are on
        the maintainer's machine). Not a change of content: the fingerprint stays.
        """
        idx = [self._row(i) for i in np.asarray(rows).reshape(-1)]
        if len(thumbnails) != len(idx):
            raise AidetectError(f"Got {len(idx)} rows but {len(thumbnails)} thumbnails; pass one per row.")
        encoded = [b"" if t is None else thumbnail_png(t) for t in thumbnails]
        items = [self.thumbnail(i) or b"" for i in range(len(self))]
        for i, data in zip(idx, encoded):
            items[i] = data
        self._thumb_blob, self._thumb_offsets = _encode_blobs(items)

    def set_source_root(self, source_root, root_label: str | None = None) -> int:
        """Store the paths of rows that lie under ``source_root`` relative to it (as :meth:`add` does);
        returns how many rows changed. For galleries whose paths were stored absolute."""
        table = _root_table(source_root, root_label)
        paths = list(self.paths)
        roots = list(self._roots)
        codes = self._root_codes.copy()
        changed = 0
        for i, given in enumerate(paths):
            if codes[i] != _NO_ROOT or not os.path.isabs(given):
                continue
            for root, folder in table:
                rel = _relative_posix(given, folder)
                if rel is not None:
                    if root not in roots:
                        roots.append(root)
                    paths[i] = f"{root}/{rel}"
                    codes[i] = roots.index(root)
                    changed += 1
                    break
        if changed:
            self._path_blob, self._path_offsets = _encode_paths(paths)
            self._roots, self._root_codes = roots, codes
        return changed

    # ------------------------------------------------------------------ search

    def search(self, queries: np.ndarray, k: int, *, engine: str | None = None,
               rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact cosine k-NN.

        ``queries`` [Q, D] unit vectors. Returns ``(similarities, indices)``, both
        [Q, k'] with k' = min(k, N): similarities float32 in descending order,
        indices int64 rows of this gallery; ties go to the lower row index.
        Memory stays bounded: the gallery is converted to float32 ~64k rows at a
        time and each block keeps only candidates that beat the current k-th best.
        ``engine``: "numpy", "faiss" or "auto" (faiss when installed); None reads
        ``AIDETECT_SEARCH_ENGINE`` (see :mod:`aidetect.gallery.search`). Both are exact.
        ``rows``: search only these rows (ascending indices, e.g. one class's); indices stay gallery rows.
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
        return knn_search(q, self._embeddings, k, engine=engine, rows=rows)

    # ------------------------------------------------------------------ verification

    def verify(self) -> list[str]:
        """Problems found in the gallery (empty list: none).

        Checks that replaying the log (adds minus removes per class) gives
        :meth:`classes`, that no SHA-256 repeats, that every embedding is a
        finite unit vector (the same check loading for use makes), that every row's
        enrollment id is in the log, and that thumbnails are PNG data.
        """
        problems: list[str] = []
        replay: dict[str, int] = {}
        logged_ids: set[str] = set()
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
                if isinstance(entry.get("enrollment"), str):
                    logged_ids.add(entry["enrollment"])
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

        problems.extend(_scan_rows(self._embeddings).problems())

        row_ids = [_enrollment_text(v) for v in np.unique(self._enrollment) if v != _NO_ENROLLMENT]
        unlogged = [eid for eid in row_ids if eid not in logged_ids]
        if unlogged:
            problems.append(f"rows carry enrollment ids the log does not record: {', '.join(unlogged[:5])}")

        bad_thumbs = 0
        for i in np.flatnonzero(np.diff(self._thumb_offsets)):
            start = int(self._thumb_offsets[i])
            if np.asarray(self._thumb_blob[start : start + 8]).tobytes() != PNG_SIGNATURE:
                bad_thumbs += 1
        if bad_thumbs:
            problems.append(f"{bad_thumbs} thumbnails are not PNG data")

        misfiled = 0
        for i in np.flatnonzero(self._root_codes != _NO_ROOT):
            rel = self.relative_path(int(i))
            if rel is None or not _safe_relative(rel):
                misfiled += 1
        if misfiled:
            problems.append(f"{misfiled} paths do not lie under the source root they name")
        return problems

    @staticmethod
    def verify_file(path) -> list[str]:
        """Load ``path`` and :meth:`verify` it; a load failure is returned as a problem."""
        return Gallery.check_file(path)["problems"]

    @staticmethod
    def check_file(path) -> dict[str, list[str]]:
        """``{"problems": [...], "notes": [...]}`` for the gallery file at ``path``.

        Problems: a load failure (one, then nothing else is checked), :meth:`verify`'s
        findings (poisoned embeddings included: the same ones loading for use refuses),
        archive members aidetect does not write. Notes: what is fine but worth knowing,
        e.g. a change log that no hash covers (a gallery written by an older aidetect).
        """
        try:
            gallery = Gallery._load(Path(path), mmap=True, check_rows=False)
        except AidetectError as exc:
            return {"problems": [str(exc)], "notes": []}
        problems = gallery.verify()
        notes: list[str] = []
        report = gallery._file_report
        if report.get("unknown_members"):
            problems.append(
                f"the file holds members aidetect does not write and no hash covers: "
                f"{', '.join(report['unknown_members'][:10])}"
            )
        if not report.get("log_covered", True):
            notes.append(
                "log not covered (written by an older aidetect): no hash protects its change log, so an edited "
                "entry cannot be told from a real one; the next change to the gallery adds the hash"
            )
        return {"problems": problems, "notes": notes}

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
            "roots": list(self._roots),
            "extras_sha256": _extras_hash(
                len(self), self._enrollment, self._root_codes, self._roots, self._thumb_blob, self._thumb_offsets
            ),
            "log_sha256": _log_hash(self.log),
            "log": self.log,
        }

    def save(self, path) -> None:
        """Write the gallery to ``path`` atomically (temporary file + rename).

        An OS error (disk full, folder not writable) raises :class:`AidetectError` with one
        sentence; the previous file is left as it was.
        """
        meta = json.dumps(self._meta(), ensure_ascii=False).encode("utf-8")
        arrays = {
            "meta": np.frombuffer(meta, dtype=np.uint8),
            "embeddings": np.ascontiguousarray(self._embeddings, dtype="<f2"),
            "label_codes": np.ascontiguousarray(self._codes, dtype="<i4"),
            "sha256": np.ascontiguousarray(self._sha, dtype=np.uint8),
            "path_blob": np.ascontiguousarray(self._path_blob, dtype=np.uint8),
            "path_offsets": np.ascontiguousarray(self._path_offsets, dtype="<i8"),
        }
        # optional members only when they hold something; earlier versions ignore them (and
        # the new metadata keys), so they read a gallery written here as before
        if np.any(self._enrollment != _NO_ENROLLMENT):
            arrays["enrollment"] = np.ascontiguousarray(self._enrollment, dtype="<u4")
        if np.any(self._root_codes != _NO_ROOT):
            arrays["root_codes"] = np.ascontiguousarray(self._root_codes, dtype="<i4")
        if self._thumb_offsets[-1]:
            arrays["thumbnail_blob"] = np.ascontiguousarray(self._thumb_blob, dtype=np.uint8)
            arrays["thumbnail_offsets"] = np.ascontiguousarray(self._thumb_offsets, dtype="<i8")
        try:
            with atomic_writer(path, "wb") as handle:
                write_npz(handle, arrays)
        except OSError as exc:
            raise write_error(path, exc, _ELSEWHERE) from exc

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
        inconsistent file, or one whose embeddings are not finite unit vectors (a
        poisoned gallery; checked in blocks, memory-mapped ones too), and
        :class:`IncompatibleGalleryError` when ``expected_model_fingerprint`` is
        given and the gallery was made by another model. ``mmap=True`` maps the
        embeddings (and thumbnails) from the file instead of reading them into memory.
        """
        p = Path(path)
        gallery = cls._load(p, mmap=mmap, check_rows=True)
        if expected_model_fingerprint is not None and gallery.model_fingerprint != expected_model_fingerprint:
            raise IncompatibleGalleryError(
                f"{p} was made by model {gallery.model_fingerprint}, but the model in use is "
                f"{expected_model_fingerprint}; enroll into a new gallery with --gallery NEW or use the "
                "model that made it."
            )
        return gallery

    @classmethod
    def _load(cls, path: Path, *, mmap: bool, check_rows: bool) -> "Gallery":
        arrays, unknown = read_arrays(path, mmap=mmap)
        gallery = _from_arrays(path, arrays, check_rows=check_rows)
        gallery._file_report["unknown_members"] = unknown
        return gallery


# --------------------------------------------------------------------------- hashing


def _content_hash(model_fp, dim, embeddings, codes, class_names, sha, check: _RowCheck | None = None) -> str:
    """The content hash (unchanged since the first gallery format); ``check`` also scans the rows."""
    h = hashlib.sha256()
    h.update(b"aidetect-gallery-content-v1\0")
    h.update(json.dumps([model_fp, int(dim), int(len(codes)), list(class_names)], ensure_ascii=False).encode("utf-8"))
    h.update(b"\0")
    # chunked so a memory-mapped gallery is never copied whole
    emb = embeddings
    for start in range(0, emb.shape[0], _GALLERY_BLOCK):
        block = np.ascontiguousarray(emb[start : start + _GALLERY_BLOCK], dtype="<f2")
        h.update(block.tobytes())
        if check is not None:
            check.update(block, start)
    # the arrays' own bytes (buffer protocol): the same bytes as .tobytes(), without a copy
    h.update(np.ascontiguousarray(codes, dtype="<i4"))
    h.update(np.ascontiguousarray(sha, dtype=np.uint8))
    return h.hexdigest()


def _paths_hash(blob: np.ndarray, offsets: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(offsets, dtype="<i8"))
    h.update(np.ascontiguousarray(blob, dtype=np.uint8))
    return h.hexdigest()


def _extras_hash(n, enrollment, root_codes, roots, thumb_blob, thumb_offsets) -> str:
    """Covers what a gallery keeps beside its content: enrollment ids, source roots, thumbnails."""
    h = hashlib.sha256()
    h.update(b"aidetect-gallery-extras-v1\0")
    h.update(json.dumps([int(n), list(roots)], ensure_ascii=False).encode("utf-8"))
    h.update(b"\0")
    h.update(np.ascontiguousarray(enrollment, dtype="<u4").tobytes())
    h.update(np.ascontiguousarray(root_codes, dtype="<i4").tobytes())
    h.update(np.ascontiguousarray(thumb_offsets, dtype="<i8").tobytes())
    chunk = 64 << 20
    for start in range(0, int(thumb_blob.shape[0]), chunk):  # a mapped blob is never copied whole
        h.update(np.ascontiguousarray(thumb_blob[start : start + chunk], dtype=np.uint8).tobytes())
    return h.hexdigest()


def _log_hash(log: list) -> str:
    text = json.dumps(log, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(b"aidetect-gallery-log-v1\0" + text.encode("utf-8", "surrogatepass")).hexdigest()


# --------------------------------------------------------------------------- reading


def _from_arrays(path: Path, a: dict[str, np.ndarray], *, check_rows: bool = True) -> Gallery:
    meta_arr = a["meta"]
    if meta_arr.dtype != np.uint8 or meta_arr.ndim != 1:
        raise corrupt(path, "metadata is not a byte array")
    try:
        meta = json.loads(meta_arr.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
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
    extras = _read_extras(path, a, meta, n)

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
        **extras,
    )
    rows = _RowCheck()  # in the hashing pass: the file is read once (verify scans on its own)
    content = _content_hash(model_fp, dim, emb, codes, names, sha, check=rows if check_rows else None)
    if meta.get("content_sha256") != content:
        raise corrupt(path, "its content hash does not match: embeddings, labels or metadata were edited")
    gallery._content_hash = content
    if meta.get("paths_sha256") != _paths_hash(blob, offsets):
        raise corrupt(path, "its source paths were edited")
    if "extras_sha256" in meta:
        if meta["extras_sha256"] != _extras_hash(n, *(extras[k] for k in (
                "enrollment", "root_codes", "roots", "thumbnail_blob", "thumbnail_offsets"))):
            raise corrupt(path, "its enrollment ids, source roots or thumbnails were edited")
    elif any(key in a for key in ("enrollment", "root_codes", "thumbnail_blob", "thumbnail_offsets")):
        raise corrupt(path, "it holds enrollment ids, source roots or thumbnails that no hash covers")
    if "log_sha256" in meta:
        if meta["log_sha256"] != _log_hash(log):
            raise corrupt(path, "its change log was edited (the log hash does not match)")
        gallery._file_report["log_covered"] = True
    else:
        gallery._file_report["log_covered"] = False
    if check_rows and not rows.clean:
        raise CorruptFileError(
            f"{path} holds embeddings that are not finite unit vectors ({'; '.join(rows.problems())}), so its "
            f"verdicts cannot be trusted and it was not opened; run `{_VERIFY_HINT} {path}` for the details and "
            "restore the gallery from a backup."
        )
    # Checked. Of a memory-mapped gallery, the members a search never reads leave this process's
    # resident memory (1.3M rows: 90 MB of digests, paths and ids); the maps stay, so a row's path
    # or digest is paged back in from the file when it is asked for.
    for member in (sha, blob, offsets, *(extras[k] for k in ("enrollment", "root_codes", "thumbnail_blob", "thumbnail_offsets"))):
        release_pages(member)
    return gallery


def _read_extras(path: Path, a: dict[str, np.ndarray], meta: dict, n: int) -> dict[str, Any]:
    """The optional members (enrollment ids, source roots, thumbnails), checked; defaults when absent."""
    roots = meta.get("roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots) or len(set(roots)) != len(roots):
        raise corrupt(path, "its list of source roots is not a list of distinct names")
    try:
        for root in roots:
            _check_root_label(root)
    except AidetectError:
        raise corrupt(path, "a source root has an invalid name") from None
    enrollment = a.get("enrollment")
    if enrollment is None:
        enrollment = np.zeros(n, dtype=np.uint32)
    elif enrollment.dtype != np.uint32 or enrollment.shape != (n,):
        raise corrupt(path, f"{enrollment.shape} enrollment ids of {enrollment.dtype} for {n} embeddings")
    root_codes = a.get("root_codes")
    if root_codes is None:
        root_codes = _no_roots(n)
    elif root_codes.dtype != np.int32 or root_codes.shape != (n,):
        raise corrupt(path, f"{root_codes.shape} source-root codes of {root_codes.dtype} for {n} embeddings")
    elif n and (root_codes.min() < _NO_ROOT or root_codes.max() >= len(roots)):
        raise corrupt(path, "paths refer to source roots the metadata does not name")
    thumb_blob, thumb_offsets = a.get("thumbnail_blob"), a.get("thumbnail_offsets")
    if (thumb_blob is None) != (thumb_offsets is None):
        raise corrupt(path, "it holds thumbnail data without offsets, or offsets without data")
    if thumb_blob is None:
        thumb_blob, thumb_offsets = np.zeros(0, dtype=np.uint8), np.zeros(n + 1, dtype=np.int64)
    else:
        if thumb_blob.dtype != np.uint8 or thumb_blob.ndim != 1 or thumb_offsets.dtype != np.int64 or thumb_offsets.shape != (n + 1,):
            raise corrupt(path, f"{thumb_offsets.shape} thumbnail offsets for {n} embeddings")
        if thumb_offsets[0] != 0 or thumb_offsets[-1] != thumb_blob.size or (n and np.any(np.diff(thumb_offsets) < 0)):
            raise corrupt(path, "thumbnail offsets do not match the thumbnail data")
    return {
        "enrollment": np.asarray(enrollment),
        "root_codes": np.asarray(root_codes),
        "roots": roots,
        "thumbnail_blob": thumb_blob,
        "thumbnail_offsets": np.asarray(thumb_offsets),
    }
