"""The gallery file format on disk: an uncompressed ``.npz`` of named arrays, read without pickle.

The reader checks the zip structure and every member's declared dtype, shape and size
before it reads (or memory-maps) a byte of data: a member whose ``.npy`` header and zip
entry disagree on its size, or a compressed member that would inflate far beyond what a
gallery's arrays ever compress to (a zip bomb), is refused from the headers alone. What the
arrays mean is checked by :mod:`aidetect.gallery.storage`.
"""

from __future__ import annotations

import math
import mmap as _mmap
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aidetect.errors import AidetectError, CorruptFileError, UnsafeFileError

#: Members every gallery has.
KEYS = ("meta", "embeddings", "label_codes", "sha256", "path_blob", "path_offsets")
#: Members written only when they hold something (enrollment ids, source roots, thumbnails).
OPTIONAL_KEYS = ("enrollment", "root_codes", "thumbnail_blob", "thumbnail_offsets")
#: Members ``read_arrays(mmap=True)`` maps from the file instead of reading: all but the metadata
#: and the labels (which every vote reads). A search never touches the digests, paths, enrollment
#: ids or thumbnails, so once loading has checked them they need not stay in memory
#: (:func:`release_pages`); a row's path is read back from the file when it is shown.
MAPPED_KEYS = ("embeddings", "sha256", "path_blob", "path_offsets") + OPTIONAL_KEYS

# Compressed members (aidetect writes none; np.savez_compressed does): float16 embeddings,
# digests and PNG bytes compress about 1.1x, paths and JSON about 10x. A member may inflate to
# at most this many times its compressed size (plus the slack), unless its shape is fixed by
# the row count (labels, digests, offsets), which bounds it anyway.
_MAX_INFLATION = 64
_INFLATION_SLACK = 1 << 20
# The metadata is JSON (counts, names, the change log): far below this even for years of use.
MAX_META_BYTES = 64 << 20
_MEMBERS_BY_ROWS = {
    "label_codes": (0,),
    "enrollment": (0,),
    "root_codes": (0,),
    "sha256": (0, 32),
    "path_offsets": (1,),
    "thumbnail_offsets": (1,),
}


def write_npz(handle, arrays: dict[str, np.ndarray]) -> None:
    # uncompressed (ZIP_STORED) so the embeddings can be memory-mapped on load
    np.savez(handle, **arrays)


def corrupt(path: Path, reason: str) -> CorruptFileError:
    return CorruptFileError(
        f"{path} is not a valid aidetect gallery ({reason}); restore it from a backup, "
        "or rebuild it by enrolling into a new gallery with --gallery NEW."
    )


@dataclass
class _Member:
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    data_offset: int | None  # in the file, for a stored member
    nbytes: int

    @property
    def stored(self) -> bool:
        return self.info.compress_type == zipfile.ZIP_STORED


def read_arrays(path: Path, *, mmap: bool) -> tuple[dict[str, np.ndarray], list[str]]:
    """The known members of the gallery at ``path`` as arrays, and the names of any other members.

    ``mmap``: map the members named in :data:`MAPPED_KEYS` from the file instead of reading them
    (read-only ``np.memmap`` arrays; a compressed member is still read).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except FileNotFoundError:
        raise CorruptFileError(
            f"{path} does not exist; check the path, or run `aidetect enroll --gallery {path} ...` to create it."
        ) from None
    except IsADirectoryError:
        raise CorruptFileError(f"{path} is a folder, not a gallery file; name the .npz file itself.") from None
    except OSError as exc:
        raise CorruptFileError(f"{path} cannot be read ({exc.strerror or exc}); check its permissions.") from None
    if head[:1] == b"\x80":
        raise UnsafeFileError(
            f"{path} is a Python pickle, not an aidetect gallery, and was not opened because loading a "
            "pickle can run arbitrary code; delete it and restore the gallery from a trusted source."
        )
    if not head.startswith(b"PK\x03\x04"):
        what = "empty file" if not head else "not a zip/npz archive"
        raise corrupt(path, what)
    try:
        size = os.path.getsize(path)
        with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
            names: dict[str, str] = {}
            unknown: list[str] = []
            for name in zf.namelist():
                key = name[:-4] if name.endswith(".npy") else name
                if key in KEYS or key in OPTIONAL_KEYS:
                    if key in names:
                        raise corrupt(path, f"member {name} appears twice")
                    names[key] = name
                else:
                    unknown.append(name)
            missing = [key for key in KEYS if key not in names]
            if missing:
                raise corrupt(path, f"missing {', '.join(missing)}")
            order = [key for key in KEYS + OPTIONAL_KEYS if key in names]
            # every header first: sizes are judged before any data is read or inflated
            members = {key: _header(fh, size, zf, zf.getinfo(names[key])) for key in order}
            _check_sizes(path, members)
            arrays: dict[str, np.ndarray] = {}
            for key in order:
                member = members[key]
                if member.stored:
                    # what save() writes: read straight from the file (much faster than
                    # zipfile's chunked reads), or map the large members
                    arrays[key] = _read_stored(path, fh, member, mmap=mmap and key in MAPPED_KEYS)
                else:
                    with zf.open(member.info) as stream:
                        arrays[key] = np.lib.format.read_array(stream, allow_pickle=False)
    except AidetectError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise UnsafeFileError(
                f"{path} holds pickled (object) arrays and was not opened because loading a pickle can run "
                "arbitrary code; restore the gallery from a trusted source."
            ) from None
        raise corrupt(path, f"unreadable array: {exc}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, RuntimeError, NotImplementedError) as exc:
        raise corrupt(path, f"truncated or damaged: {exc}") from None
    except Exception as exc:  # zlib.error and friends: still a damaged file, never a raw traceback
        raise corrupt(path, f"unreadable: {type(exc).__name__}: {exc}") from None
    return arrays, unknown


def _parse_header(stream, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"unsupported .npy version {version} in {name}")
    if dtype.hasobject:
        raise ValueError("object arrays cannot be loaded without pickle")
    return tuple(int(s) for s in shape), bool(fortran), dtype


def _header(fh, size: int, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    """Parse a member's ``.npy`` header without reading its data (a compressed one: the first bytes only)."""
    if info.compress_type == zipfile.ZIP_STORED:
        fh.seek(info.header_offset)
        local = fh.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise EOFError(f"bad local zip header for {info.filename}")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        data_start = info.header_offset + 30 + name_len + extra_len
        fh.seek(data_start)
        shape, fortran, dtype = _parse_header(fh, info.filename)
        offset = fh.tell()
        header_len = offset - data_start
    else:
        with zf.open(info) as stream:
            shape, fortran, dtype = _parse_header(stream, info.filename)
            header_len = stream.tell()
        offset = None
    nbytes = math.prod(shape) * dtype.itemsize  # exact: a forged shape cannot overflow
    if header_len + nbytes != info.file_size:
        raise EOFError(
            f"{info.filename} declares {info.file_size} bytes in the zip directory but its array header "
            f"{shape} of {dtype} needs {header_len + nbytes}"
        )
    if offset is not None and offset + nbytes > size:
        raise EOFError(f"{info.filename} extends past the end of the file")
    return _Member(info, shape, fortran, dtype, offset, nbytes)


def _check_sizes(path: Path, members: dict[str, _Member]) -> None:
    """Refuse, from the headers alone, a member that would inflate far beyond its compressed size."""
    meta = members["meta"]
    if meta.nbytes > MAX_META_BYTES:
        raise corrupt(path, f"its metadata declares {meta.nbytes} bytes, more than the {MAX_META_BYTES >> 20} MiB limit")
    embeddings = members["embeddings"]
    rows = embeddings.shape[0] if len(embeddings.shape) == 2 else None
    for key, member in members.items():
        if member.stored:
            continue  # its bytes are in the file: its size is bounded by the file's
        layout = _MEMBERS_BY_ROWS.get(key)
        if layout is not None and rows is not None and member.dtype.itemsize <= 8 and _bounded(embeddings):
            expected = (rows + layout[0],) + tuple(layout[1:])
            if member.shape == expected:
                continue  # bounded by the row count, which the embeddings' own size bounds
        allowed = _MAX_INFLATION * member.info.compress_size + _INFLATION_SLACK
        if member.info.file_size > allowed:
            raise corrupt(
                path,
                f"member {member.info.filename} would inflate from {member.info.compress_size} to "
                f"{member.info.file_size} bytes, far more than a gallery's arrays compress; it looks like a "
                "zip bomb and was not inflated",
            )


def _bounded(member: _Member) -> bool:
    """Whether a member's size is bounded: stored, or within the inflation limit."""
    return member.stored or member.info.file_size <= _MAX_INFLATION * member.info.compress_size + _INFLATION_SLACK


def _read_stored(path: Path, fh, member: _Member, *, mmap: bool) -> np.ndarray:
    """Read (or map) an uncompressed ``.npy`` member straight from the file.

    The content is covered by the hashes in the metadata, so zipfile's CRC check is
    not needed; the header was parsed without ever unpickling.
    """
    shape, dtype, order = member.shape, member.dtype, "F" if member.fortran else "C"
    count = math.prod(shape)
    if count == 0:
        return np.zeros(shape, dtype=dtype, order=order)
    if mmap:
        return np.memmap(path, dtype=dtype, mode="r", shape=shape, order=order, offset=member.data_offset)
    flat = np.empty(count, dtype=dtype)
    fh.seek(member.data_offset)
    got = fh.readinto(memoryview(flat).cast("B"))
    if got != member.nbytes:
        raise EOFError(f"{member.info.filename} is truncated")
    return flat.reshape(shape, order=order)


def release_pages(array: np.ndarray) -> None:
    """Drop a memory-mapped member's pages from this process's resident memory (Linux, macOS).

    For a member loading has read to check its hash but a search never reads (digests, paths):
    the mapping stays valid and a later read pages the bytes back in from the file (the OS
    page cache, usually). A no-op for an array that is not one of :func:`read_arrays`' maps,
    or where ``madvise`` is not available.
    """
    while array is not None and not isinstance(array, np.memmap):  # a view of a map (np.asarray keeps none)
        array = getattr(array, "base", None)
    mapping = getattr(array, "_mmap", None)  # np.memmap's own mmap object: exactly this member's pages
    if not isinstance(mapping, _mmap.mmap) or not hasattr(mapping, "madvise") or not hasattr(_mmap, "MADV_DONTNEED"):
        return
    try:
        mapping.madvise(_mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # a closed map, or an OS that refuses: the pages simply stay
        pass
