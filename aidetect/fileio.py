"""Crash-safe file writing, hashing and locking.

Every file aidetect stores (weights, configs, galleries, checkpoints) is written
to a temporary file in the same folder, flushed to disk and renamed over the
target. A rename within a folder is atomic on POSIX, so a reader sees either the
previous version or the new one, never half of one, even if the process is
killed mid-write.

A process killed during a write (kill -9, power loss) leaves its temporary file
behind; temporaries are named ``.<name>.aidetect-XXXXXXXX.tmp`` and the next
write of the same file removes those of the same user older than an hour.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Iterator

from aidetect.errors import AidetectError

_HASH_CHUNK = 1 << 20
#: A temporary file older than this (seconds) is an orphan of a killed write; a write takes seconds.
STALE_TEMP_SECONDS = 3600
_TEMP_TAG = "aidetect-"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success fsync and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{_TEMP_TAG}", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp makes the file private (0600); give it the permissions an ordinary
        # file would get, so galleries and reports can be shared as before.
        os.chmod(tmp_name, 0o666 & ~_current_umask())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _temp_pattern(name: str) -> re.Pattern:
    # ".NAME.aidetect-XXXXXXXX.tmp" (mkstemp's 8 characters). Earlier versions named them
    # ".NAME.XXXXXXXX.tmp", which a user's own file could match: those are left alone.
    return re.compile(re.escape(f".{name}.{_TEMP_TAG}") + r"[A-Za-z0-9_]{8}\.tmp")


def clean_stale_temps(target: str | os.PathLike, max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Remove the orphaned temporaries of ``target`` (left by killed writes); returns those removed.

    Only regular files beside ``target`` named like :func:`atomic_writer`'s temporaries of
    that very file, owned by this user and not modified for ``max_age`` seconds; never raises.
    """
    target = Path(target)
    pattern = _temp_pattern(target.name)
    uid = os.getuid() if hasattr(os, "getuid") else None
    now = time.time()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or (uid is not None and info.st_uid != uid):
                continue
            if now - info.st_mtime < max_age:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def write_error(path: str | os.PathLike, exc: OSError, elsewhere: str = "") -> AidetectError:
    """One sentence for an OS error while writing ``path`` atomically (the previous version is intact).

    ``elsewhere``: how to write somewhere else (e.g. "use --gallery PATH to write a gallery elsewhere").
    """
    target = Path(path)
    reason = exc.strerror or str(exc)
    tail = f"; {elsewhere}" if elsewhere else ""
    if isinstance(exc, IsADirectoryError) or (exc.errno == errno.EISDIR) or target.is_dir():
        return AidetectError(f"{target} is a folder, so it was not written; name a file (e.g. {target / target.name}){tail}.")
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return AidetectError(
            f"{target} was not saved because the disk is full ({reason}); the previous version is intact. "
            f"Free some space and run the command again{tail}."
        )
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return AidetectError(
            f"{target} was not saved because its folder {target.parent} is not writable ({reason}); "
            f"the previous version is intact{tail}."
        )
    return AidetectError(f"{target} was not saved ({reason}); the previous version is intact{tail}.")


def describe_os_error(exc: OSError) -> str:
    """One line for any OS error: the file it concerns (the target, not an atomic write's
    temporary) and the reason in words, e.g. ``out.csv: no space left on the disk (No space
    left on device)``."""
    names = [os.fsdecode(n) for n in (exc.filename, exc.filename2) if n is not None]
    names = [_target_of_temp(n) for n in names]
    if len(names) == 2 and names[0] == names[1]:
        names = names[:1]
    reason = exc.strerror or str(exc) or type(exc).__name__
    words = {
        errno.ENOSPC: "no space left on the disk",
        getattr(errno, "EDQUOT", -1): "the disk quota is exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the file system is read-only",
        errno.EISDIR: "is a folder, not a file",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EEXIST: "a file of that name is in the way",
        errno.ENOENT: "no such file or folder",
        errno.ENAMETOOLONG: "the name is too long",
        errno.EIO: "input/output error (the disk or the network share)",
    }.get(exc.errno)
    what = f"{words} ({reason})" if words and words.lower() != reason.lower() else reason
    where = " -> ".join(names) if names else "a file"
    return f"{where}: {what}"


def _target_of_temp(name: str) -> str:
    """The file an atomic write's temporary ``.NAME.aidetect-XXXXXXXX.tmp`` stands for, else ``name``."""
    folder, base = os.path.split(name)
    match = re.fullmatch(r"\.(.+)\." + re.escape(_TEMP_TAG) + r"[A-Za-z0-9_]{8}\.tmp", base)
    return os.path.join(folder, match.group(1)) if match else name


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path, "wb") as handle:
        handle.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not supported on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def file_lock(path: str | os.PathLike, timeout: float = 60.0):
    """An inter-process lock beside ``path`` (``path.lock``), for read-modify-write cycles."""
    from filelock import FileLock

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(target) + ".lock", timeout=timeout)
