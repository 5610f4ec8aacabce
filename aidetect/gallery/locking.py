"""Read-modify-write of a gallery file under an inter-process lock (``enroll``, ``gallery remove``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aidetect.errors import AidetectError, IncompatibleGalleryError
from aidetect.fileio import file_lock
from aidetect.gallery.storage import Gallery


def _not_writable(path: Path, exc: OSError) -> AidetectError:
    folder = path.parent
    return AidetectError(
        f"the folder {folder} is not writable ({exc.strerror or exc}), so {path.name} cannot be changed there "
        f"(no lock file could be made); use --gallery PATH to name a gallery in a folder you can write."
    )


def update_gallery(
    path,
    model_fingerprint: str,
    embedding_dim: int,
    fn: Callable[[Gallery], Any],
    *,
    source: str = "",
    timeout: float = 600.0,
) -> Gallery:
    """Load (or create), change and save a gallery under an inter-process lock.

    ``fn(gallery)`` makes the change in place. Used by ``enroll`` and
    ``gallery remove``: two processes updating the same file at once both land,
    one after the other. Raises :class:`IncompatibleGalleryError` when the file
    was made by another model, and :class:`AidetectError` at once when the folder
    is not writable (no lock file can be made), or after ``timeout`` seconds when
    another process holds the lock.
    """
    from filelock import Timeout  # ~50 ms to import: only where a lock is taken, as in aidetect.fileio

    p = Path(path)
    lock_path = Path(str(p) + ".lock")
    try:
        lock = file_lock(p, timeout=timeout)  # makes the folder when it is missing
        # Make the lock file first, as the lock itself would: a folder that is not writable
        # fails here at once with the real reason, instead of looking like a held lock.
        os.close(os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o666))
    except OSError as exc:
        raise _not_writable(p, exc) from None
    try:
        lock.acquire()
    except Timeout:
        raise AidetectError(
            f"{p} is locked by another aidetect process (lock file {lock_path}) and stayed locked for "
            f"{timeout:.0f} s; wait for it to finish, or delete the lock file if no aidetect is running."
        ) from None
    except OSError as exc:
        raise _not_writable(p, exc) from None
    try:
        if p.exists():
            gallery = Gallery.load(p, expected_model_fingerprint=model_fingerprint)
            if gallery.embedding_dim != int(embedding_dim):
                raise IncompatibleGalleryError(
                    f"{p} holds {gallery.embedding_dim}-value embeddings, but the model in use makes "
                    f"{embedding_dim}; enroll into a new gallery with --gallery NEW or use the model that made it."
                )
        else:
            gallery = Gallery.create(model_fingerprint, embedding_dim, source=source)
        fn(gallery)
        gallery.save(p)
        return gallery
    finally:
        lock.release()
