"""The gallery file format on disk: an uncompressed ``.npz`` of named arrays, read without pickle.

The reader checks the zip structure and each member's declared dtype and shape before it
reads (or memory-maps) a byte; what the arrays mean is checked by
:mod:`aidetect.gallery.storage`.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import numpy as np

from aidetect.errors import AidetectError, CorruptFileError, UnsafeFileError

KEYS = ("meta", "embeddings", "label_codes", "sha256", "path_blob", "path_offsets")


def write_npz(handle, arrays: dict[str, np.ndarray]) -> None:
    # uncompressed (ZIP_STORED) so the embeddings can be memory-mapped on load
    np.savez(handle, **arrays)


def corrupt(path: Path, reason: str) -> CorruptFileError:
    return CorruptFileError(
        f"{path} is not a valid aidetect gallery ({reason}); restore it from a backup, "
        "or rebuild it by enrolling into a new gallery with --gallery NEW."
    )


def read_arrays(path: Path, *, mmap: bool) -> dict[str, np.ndarray]:
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
            names = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            missing = [key for key in KEYS if key not in names]
            if missing:
                raise corrupt(path, f"missing {', '.join(missing)}")
            arrays: dict[str, np.ndarray] = {}
            for key in KEYS:
                info = zf.getinfo(names[key])
                if info.compress_type == zipfile.ZIP_STORED:
                    # what save() writes: read straight from the file (much faster than
                    # zipfile's chunked reads), or map the embeddings
                    arrays[key] = _stored_member(path, fh, size, info, mmap=mmap and key == "embeddings")
                else:
                    with zf.open(info) as member:
                        arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
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
    return arrays


def _stored_member(path: Path, fh, size: int, info: zipfile.ZipInfo, *, mmap: bool) -> np.ndarray:
    """Read (or map) an uncompressed ``.npy`` member of a zip straight from the file.

    The content is covered by the hashes in the metadata, so zipfile's CRC check is
    not needed; the header is parsed without ever unpickling.
    """
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise EOFError(f"bad local zip header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    data_start = info.header_offset + 30 + name_len + extra_len
    fh.seek(data_start)
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unsupported .npy version {version} in {info.filename}")
    if dtype.hasobject:
        raise ValueError("object arrays cannot be loaded without pickle")
    offset = fh.tell()
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = count * dtype.itemsize
    if offset + nbytes > size or offset - data_start + nbytes > info.file_size:
        raise EOFError(f"{info.filename} extends past the end of the file")
    order = "F" if fortran else "C"
    if count == 0:
        return np.zeros(shape, dtype=dtype, order=order)
    if mmap:
        return np.memmap(path, dtype=dtype, mode="r", shape=shape, order=order, offset=offset)
    flat = np.empty(count, dtype=dtype)
    got = fh.readinto(memoryview(flat).cast("B"))
    if got != nbytes:
        raise EOFError(f"{info.filename} is truncated")
    return flat.reshape(shape, order=order)

