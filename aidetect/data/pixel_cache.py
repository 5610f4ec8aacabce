"""A cache of decoded pixels, so each training image is decoded once rather than once an epoch.

Decoding is the wall on a GPU: a 512-px PNG takes ~15 ms on one core, and 16 cores feed
an H200 at 0.15 of what the model can train on (issue #18). The cache holds, per file, the
deterministic prefix of preprocessing as uint8 HWC pixels in memory-mapped shards; what is
random (crops, JPEG/blur augmentation) still happens per item, so a run reads the same
tensors from the cache as it would decode (``tests/test_pixel_cache.py``).

What an entry holds (its :class:`CacheForm`):

* ``resize``: the image resized to S×S, when that is all preprocessing does before the
  random steps (the thesis recipe: no augmentation, no perturbation).
* ``native``: the decoded image itself, for crop mode (crops are drawn from the whole image)
  and whenever augmentation or an evaluation perturbation must see the full-resolution image.

Layout: ``<root>/<form key>/shard-<id>.bin`` (the pixels, concatenated) and
``shard-<id>.npz`` (its index, plain arrays, never pickles). A shard is committed by its
index: the ``.bin`` is written and fsynced first, the index renamed into place last, so an
interrupted build leaves at worst an orphan ``.bin`` that the next build removes. Every entry
carries a CRC-32 of its bytes, checked on every read; a shard that fails its checks (truncated,
unreadable index, a bad CRC) is moved aside as ``*.corrupt`` and its files decoded again by
the next build. The form key names the Pillow version, so a decoder upgrade rebuilds.

Validity: an entry is used only while its file's size and modification time (ns) are those it
was built from, as make and rsync judge a changed file; where the caller hashes the file
anyway (embedding, galleries: ``expect_sha256``) the recorded SHA-256 must match too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import PIL
from PIL import Image

from aidetect.errors import AidetectError, ImageReadError
from aidetect.fileio import sha256_file

CACHE_FORMAT = 1
#: Files per shard when a build is split over processes; small enough that an interrupted
#: build loses little, large enough that a 1.3M-file set makes a few thousand shards.
SHARD_FILES = 512
#: A shard written while a run reads (write-through) is committed after this long even when not
#: full, so what one epoch decoded is there for the next.
COMMIT_SECONDS = 20.0
#: How often a reader looks for shards committed since it loaded its table.
RELOAD_SECONDS = 30.0
#: Uncommitted files older than this are an interrupted writer's, and removed.
ORPHAN_SECONDS = 3600.0
#: Per-file columns of a shard's index; besides them it holds the paths as one byte string
#: (``path_bytes``) and where each ends (``path_ends``).
_ROW_FIELDS = ("key", "size", "mtime_ns", "offset", "height", "width", "crc32", "sha256")
_INDEX_FIELDS = _ROW_FIELDS + ("path_bytes", "path_ends")
_DTYPES = {"key": np.uint64, "size": np.int64, "mtime_ns": np.int64, "offset": np.int64, "height": np.int32,
           "width": np.int32, "crc32": np.uint32, "path_starts": np.int64, "path_ends": np.int64, "shard": np.int32}
_EMPTY = {name: np.zeros(0, dtype) for name, dtype in _DTYPES.items()} | {"sha256": np.zeros((0, 32), np.uint8)}


@dataclass(frozen=True)
class CacheForm:
    """What an entry holds: ``native`` decoded pixels, or the image resized to ``size``×``size``."""

    kind: str
    size: int = 0
    interpolation: str = ""

    def key(self) -> str:
        pil = PIL.__version__.replace(".", "_")
        if self.kind == "native":
            return f"v{CACHE_FORMAT}-native-pil{pil}"
        return f"v{CACHE_FORMAT}-resize{self.size}-{self.interpolation}-pil{pil}"

    def apply(self, image: Image.Image) -> np.ndarray:
        """The decoded RGB image → the entry's pixels (HWC uint8), exactly as preprocessing would."""
        if self.kind == "resize" and image.size != (self.size, self.size):
            from aidetect.models.preprocess import resample_filter

            image = image.resize((self.size, self.size), resample_filter(self.interpolation))
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def cache_form(preprocess, *, train: bool, augmented: bool = False, perturbed: bool = False) -> CacheForm:
    """The form whose pixels lead to exactly the tensors ``to_array``/``to_input`` make.

    Resizing can be done ahead only when nothing before it depends on the full image:
    augmentation and perturbations act on the decoded image, so with either the cache
    holds native pixels.
    """
    if preprocess.mode == "resize" and not augmented and not perturbed:
        size = preprocess.train_image_size if train and preprocess.train_image_size else preprocess.image_size
        return CacheForm("resize", size, preprocess.interpolation)
    return CacheForm("native")


def _path_key(path: str) -> int:
    encoded = os.fsencode(path)
    return int.from_bytes(hashlib.blake2b(encoded, digest_size=8).digest(), "little")


@dataclass
class CachedPixels:
    pixels: np.ndarray  # HWC uint8, read-only view of the shard
    sha256: str


@dataclass
class BuildReport:
    """What :meth:`PixelCache.build` did."""

    already: int  # files whose entry was valid
    written: int  # files decoded into new shards
    failed: list[tuple[str, str]]  # (path, one-line reason): left for the dataset to report
    bytes_written: int
    estimated_bytes: int


class _Table:
    """Every committed shard of one form, merged and sorted by path key for binary search."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.loaded_at = time.monotonic()
        try:
            self.folder_mtime = folder.stat().st_mtime_ns
        except OSError:
            self.folder_mtime = None
        self.shards: list[str] = []
        self._maps: dict[int, np.ndarray] = {}
        columns: dict[str, list[np.ndarray]] = {name: [] for name in _ROW_FIELDS + ("path_starts", "path_ends", "shard")}
        blobs: list[np.ndarray] = []
        base = 0
        for index_file in sorted(folder.glob("shard-*.npz")) if folder.is_dir() else []:
            loaded = _load_index(index_file)
            if loaded is None:
                quarantine(index_file)
                continue
            number = len(self.shards)
            self.shards.append(index_file.stem)
            for name in _ROW_FIELDS:
                columns[name].append(loaded[name])
            ends = loaded["path_ends"].astype(np.int64)
            columns["path_starts"].append(np.concatenate([[0], ends[:-1]]).astype(np.int64) + base)
            columns["path_ends"].append(ends + base)
            columns["shard"].append(np.full(len(ends), number, dtype=np.int32))
            blobs.append(loaded["path_bytes"])
            base += len(loaded["path_bytes"])
        merged = {name: np.concatenate(parts) if parts else _EMPTY[name] for name, parts in columns.items()}
        order = np.argsort(merged["key"], kind="stable")
        self.rows = {name: value[order] for name, value in merged.items()}
        self.keys = self.rows["key"]
        self.path_bytes = np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)

    def __len__(self) -> int:
        return len(self.keys)

    def stale(self) -> bool:
        """Whether shards were committed or set aside since this table was loaded."""
        try:
            return self.folder.stat().st_mtime_ns != self.folder_mtime
        except OSError:
            return False

    def find(self, path: str) -> list[int]:
        """Rows holding ``path``: more than one where the file changed and was cached again."""
        key = np.uint64(_path_key(path))
        lo = int(np.searchsorted(self.keys, key, side="left"))
        hi = int(np.searchsorted(self.keys, key, side="right"))
        encoded = os.fsencode(path)
        return [row for row in range(lo, hi)
                if self.path_bytes[int(self.rows["path_starts"][row]) : int(self.rows["path_ends"][row])].tobytes() == encoded]

    def pixels(self, row: int) -> np.ndarray | None:
        shard = int(self.rows["shard"][row])
        data = self._maps.get(shard)
        if data is None:
            try:
                data = np.memmap(self.folder / f"{self.shards[shard]}.bin", dtype=np.uint8, mode="r")
            except (OSError, ValueError):
                return None
            self._maps[shard] = data
        offset, h, w = int(self.rows["offset"][row]), int(self.rows["height"][row]), int(self.rows["width"][row])
        end = offset + h * w * 3
        if end > len(data):
            return None
        view = data[offset:end]
        if zlib.crc32(view) != int(self.rows["crc32"][row]):
            return None
        return view.reshape(h, w, 3)

    def shard_name(self, row: int) -> str:
        return self.shards[int(self.rows["shard"][row])]

    def __getstate__(self):
        # memory maps do not travel to worker processes (pickling one copies its bytes)
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state


def _load_index(index_file: Path) -> dict | None:
    """A shard's index, or None when it or its pixels fail the checks (then it is quarantined)."""
    try:
        with np.load(index_file, allow_pickle=False) as loaded:
            index = {name: loaded[name] for name in _INDEX_FIELDS}
    except Exception:  # noqa: BLE001 - any unreadable index is a corrupt shard
        return None
    count = len(index["key"])
    if any(len(index[name]) != count for name in _INDEX_FIELDS if name != "path_bytes") or index["sha256"].shape[1:] != (32,):
        return None
    if count and (int(index["path_ends"][-1]) != len(index["path_bytes"]) or np.any(np.diff(index["path_ends"]) < 0)):
        return None
    expected = int((index["height"].astype(np.int64) * index["width"] * 3).sum())
    pixels = index_file.with_suffix(".bin")
    try:
        if pixels.stat().st_size != expected:
            return None
    except OSError:
        return None
    return index


def quarantine(shard_file: Path) -> None:
    """Move a shard's two files aside as ``*.corrupt``; the next build decodes its files again."""
    for suffix in (".npz", ".bin"):
        part = shard_file.with_suffix(suffix)
        try:
            os.replace(part, part.with_name(part.name + ".corrupt"))
        except OSError:
            pass


class PixelCache:
    """Decoded pixels under ``root``, one folder per :class:`CacheForm`.

    ``lookup`` is safe in DataLoader workers (tables are loaded once per process, pickle
    without their memory maps, and look for new shards every :data:`RELOAD_SECONDS`).
    Two ways in: ``store`` (write-through: what a run decodes anyway, each process into its
    own shards, so the first epoch costs what it did without a cache) and ``build`` (the
    missing files of a list, decoded by ``jobs`` processes ahead of a run).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._tables: dict[str, _Table] = {}
        self._writers: dict[str, ShardWriter] = {}

    def __getstate__(self):
        # a writer (an open file) belongs to the process that opened it
        return {"root": self.root, "_tables": self._tables}

    def __setstate__(self, state) -> None:
        self.__dict__.update(state)
        self._writers = {}

    def folder(self, form: CacheForm) -> Path:
        return self.root / form.key()

    def _table(self, form: CacheForm) -> _Table:
        key = form.key()
        table = self._tables.get(key)
        if table is None or (time.monotonic() - table.loaded_at > RELOAD_SECONDS and table.stale()):
            table = self._tables[key] = _Table(self.folder(form))
        return table

    def reload(self) -> None:
        self._tables.clear()

    def store(self, path: str, form: CacheForm, pixels: np.ndarray, st: os.stat_result, sha256: str) -> None:
        """Add one decoded file (write-through). Committed in shards of :data:`SHARD_FILES`, after
        :data:`COMMIT_SECONDS`, by :meth:`commit_pending`, or when the process exits."""
        key = form.key()
        writer = self._writers.get(key)
        if writer is not None and writer.pid != os.getpid():
            writer = None  # inherited through fork: the parent's file, not ours to write
        if writer is None:
            writer = self._writers[key] = ShardWriter(self.folder(form))
            import multiprocessing.util

            # DataLoader workers end through multiprocessing, which runs these finalizers (not atexit)
            multiprocessing.util.Finalize(writer, _commit_quietly, args=(writer,), exitpriority=10)
        writer.add(path, st, sha256, pixels)
        if len(writer) >= SHARD_FILES or time.monotonic() - writer.began > COMMIT_SECONDS:
            _commit_quietly(writer)
            del self._writers[key]

    def next_epoch(self) -> None:
        """A reader moves to a new pass: commit what it stored and look again for what others
        committed, so the pass reads what the last one decoded (a file another process still holds
        uncommitted is decoded again: a duplicate entry, never a wrong one)."""
        self.commit_pending()
        self.reload()

    def commit_pending(self) -> None:
        """Make everything this process stored visible."""
        for key, writer in list(self._writers.items()):
            if writer.pid == os.getpid():
                _commit_quietly(writer)
            del self._writers[key]

    def _valid_row(self, table: _Table, path: str, st: os.stat_result | None = None) -> int | None:
        rows = table.find(path)
        if not rows:
            return None
        try:
            st = st or os.stat(path)
        except OSError:
            return None
        for row in rows:
            if int(table.rows["size"][row]) == st.st_size and int(table.rows["mtime_ns"][row]) == st.st_mtime_ns:
                return row
        return None

    def lookup(self, path: str, form: CacheForm, *, max_pixels: int | None = None,
               expect_sha256: str | None = None) -> CachedPixels | None:
        """The cached pixels of ``path``, or None (not cached, changed, over the limit, or corrupt)."""
        table = self._table(form)
        row = self._valid_row(table, path)
        if row is None:
            return None
        sha = table.rows["sha256"][row].tobytes().hex()
        if expect_sha256 is not None and sha != expect_sha256:
            return None
        h, w = int(table.rows["height"][row]), int(table.rows["width"][row])
        if max_pixels is not None and form.kind == "native" and h * w > max_pixels:
            return None  # decoding would refuse it: let it, with its own message
        pixels = table.pixels(row)
        if pixels is None:
            quarantine(self.folder(form) / f"{table.shard_name(row)}.npz")
            return None
        return CachedPixels(pixels, sha)

    def missing(self, paths: Sequence[str], form: CacheForm) -> list[str]:
        table = self._table(form)
        return [p for p in dict.fromkeys(paths) if self._valid_row(table, p) is None]

    def estimate_bytes(self, paths: Sequence[str], form: CacheForm, sample: int = 400) -> int:
        """Disk the entries of ``paths`` will take: exact for ``resize``; for ``native`` from the
        headers of up to ``sample`` files spread over the list (headers only, no decoding)."""
        if not paths:
            return 0
        if form.kind == "resize":
            return len(paths) * form.size * form.size * 3
        step = max(1, len(paths) // sample)
        chosen = list(paths)[::step][:sample]
        total, seen = 0, 0
        for path in chosen:
            try:
                with Image.open(path) as im:
                    w, h = im.size
            except Exception:  # noqa: BLE001 - unreadable files are not cached
                continue
            total += w * h * 3
            seen += 1
        return int(total / max(seen, 1) * len(paths))

    def build(self, paths: Sequence[str], form: CacheForm, *, jobs: int = 1, max_pixels: int | None = None,
              progress: Callable[[int], None] | None = None, on_plan: Callable[[int, int, int], None] | None = None) -> BuildReport:
        """Decode the files of ``paths`` not yet cached into new shards, ``jobs`` processes at once.

        ``on_plan(missing, estimated_bytes, free_bytes)`` is called before any decoding. Refuses
        (AidetectError, with the fix) when the estimate exceeds the free space.
        """
        todo = self.missing(paths, form)
        already = len(dict.fromkeys(paths)) - len(todo)
        folder = self.folder(form)
        folder.mkdir(parents=True, exist_ok=True)
        _remove_orphans(folder)
        estimate = self.estimate_bytes(todo, form)
        free = shutil.disk_usage(folder).free
        if on_plan is not None:
            on_plan(len(todo), estimate, free)
        _check_room(folder, estimate, free)
        chunks = [todo[i : i + SHARD_FILES] for i in range(0, len(todo), SHARD_FILES)]
        written, failed, nbytes = 0, [], 0
        if jobs <= 1 or len(chunks) <= 1:
            results = (_write_shard(folder, form, chunk, max_pixels, progress) for chunk in chunks)
            for done, errors, size in results:
                written, nbytes = written + done, nbytes + size
                failed += errors
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method)) as pool:
                futures = {pool.submit(_write_shard, folder, form, chunk, max_pixels, None): len(chunk) for chunk in chunks}
                for future in as_completed(futures):
                    done, errors, size = future.result()
                    written, nbytes = written + done, nbytes + size
                    failed += errors
                    if progress is not None:
                        progress(futures[future])
        self._tables.pop(form.key(), None)
        return BuildReport(already, written, failed, nbytes, estimate)


def _check_room(folder: Path, estimate: int, free: int) -> None:
    if estimate > free:
        raise AidetectError(
            f"{folder}: the pixel cache needs about {estimate / 2**30:.1f} GiB and {free / 2**30:.1f} GiB are free; "
            "free some space or pass --pixel-cache a folder on a larger disk"
        )


def _remove_orphans(folder: Path) -> None:
    """Pixels without a committed index and temporaries left by an interrupted build. Only old
    ones: a fresh one may belong to a writer in another process, between its two renames."""
    now = time.time()

    def stale(part: Path) -> bool:
        try:
            return now - part.stat().st_mtime > ORPHAN_SECONDS
        except OSError:
            return False

    for part in folder.glob("shard-*.bin"):
        if not part.with_suffix(".npz").exists() and stale(part):
            part.unlink(missing_ok=True)
    for temp in folder.glob(".shard-*.tmp"):
        if stale(temp):
            temp.unlink(missing_ok=True)


class ShardWriter:
    """One new shard: entries appended to a temporary file, made visible by :meth:`commit`, which
    puts the pixels in place (fsynced) and then renames the index beside them: readers see a
    shard whole or not at all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = f"shard-{uuid.uuid4().hex[:16]}"
        self.pid = os.getpid()
        self.began = time.monotonic()
        self.temp_bin = folder / f".{self.name}.bin.tmp"
        folder.mkdir(parents=True, exist_ok=True)
        self._out = open(self.temp_bin, "wb")
        self._rows: dict[str, list] = {name: [] for name in _ROW_FIELDS}
        self._paths = bytearray()
        self._ends: list[int] = []
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._ends)

    @property
    def closed(self) -> bool:
        return self._out.closed

    def add(self, path: str, st: os.stat_result, sha256: str, pixels: np.ndarray) -> None:
        data = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
        self._out.write(data)
        self._paths += os.fsencode(path)
        self._ends.append(len(self._paths))
        for name, value in (("key", _path_key(path)), ("size", st.st_size), ("mtime_ns", st.st_mtime_ns),
                            ("offset", self.bytes), ("height", pixels.shape[0]), ("width", pixels.shape[1]),
                            ("crc32", zlib.crc32(data)), ("sha256", np.frombuffer(bytes.fromhex(sha256), np.uint8))):
            self._rows[name].append(value)
        self.bytes += len(data)

    def commit(self) -> int:
        """Entries made visible; returns how many (0: nothing was added, nothing is left)."""
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        if not self._ends:
            self.temp_bin.unlink(missing_ok=True)
            return 0
        index = {name: np.array(self._rows[name], dtype=_DTYPES[name]) for name in _ROW_FIELDS if name != "sha256"}
        index["sha256"] = np.stack(self._rows["sha256"])  # [N, 32] uint8: fixed-width bytes would drop trailing NULs
        index["path_bytes"] = np.frombuffer(bytes(self._paths), dtype=np.uint8)
        index["path_ends"] = np.array(self._ends, dtype=np.int64)
        temp_index = self.folder / f".{self.name}.npz.tmp"
        with open(temp_index, "wb") as handle:
            np.savez(handle, **index)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(self.temp_bin, self.folder / f"{self.name}.bin")
        os.replace(temp_index, self.folder / f"{self.name}.npz")
        return len(self._ends)

    def discard(self) -> None:
        if not self._out.closed:
            self._out.close()
        self.temp_bin.unlink(missing_ok=True)


def _commit_quietly(writer: ShardWriter) -> None:
    """Commit, or when the disk refuses, drop the shard: a cache that cannot be written is a
    cache miss next time, never a failed run."""
    if writer.pid != os.getpid() or writer.closed:
        return
    try:
        writer.commit()
    except OSError:
        writer.discard()


def _write_shard(folder: Path, form: CacheForm, paths: Sequence[str], max_pixels: int | None,
                 progress: Callable[[int], None] | None) -> tuple[int, list[tuple[str, str]], int]:
    """Decode ``paths`` into one new shard: (files written, failures, bytes)."""
    from aidetect.data.images import load_image

    writer = ShardWriter(folder)
    failures: list[tuple[str, str]] = []
    try:
        for path in paths:
            try:
                st = os.stat(path)
                sha = sha256_file(path)
                pixels = form.apply(load_image(path, max_pixels=max_pixels))
            except ImageReadError as exc:
                failures.append((path, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop the build
                failures.append((path, f"{path}: {exc.__class__.__name__}: {exc}"))
                continue
            finally:
                if progress is not None:
                    progress(1)
            writer.add(path, st, sha, pixels)
    except BaseException:
        writer.discard()
        raise
    size = writer.bytes
    return writer.commit(), failures, size


def announce(cache: PixelCache, paths: Sequence[str], form: CacheForm, what: str = "images") -> int:
    """Before a run that writes through the cache: say how many of ``paths`` it will decode into
    it and the disk that takes, and refuse (with the fix) when the disk cannot hold it. Returns
    the number not cached yet."""
    from aidetect.console import note

    todo = cache.missing(paths, form)
    folder = cache.folder(form)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_orphans(folder)
    estimate = cache.estimate_bytes(todo, form)
    free = shutil.disk_usage(folder).free
    _check_room(folder, estimate, free)
    total = len(dict.fromkeys(paths))
    if todo:
        note(f"pixel cache {folder}: {len(todo):,} of {total:,} {what} decoded into it as they are first read, "
             f"about {estimate / 2**30:.2f} GiB ({free / 2**30:.1f} GiB free)")
    else:
        note(f"pixel cache {folder}: all {total:,} {what} cached")
    return len(todo)
