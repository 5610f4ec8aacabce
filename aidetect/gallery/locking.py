"""Read-modify-write of a gallery file under an inter-process lock (``enroll``, ``gallery remove``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aidetect.errors import AidetectError, IncompatibleGalleryError
from aidetect.fileio import file_lock
from aidetect.gallery.storage import Gallery


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
    was made by another model.
    """
    p = Path(path)
    lock = file_lock(p, timeout=timeout)
    try:
        lock.acquire()
    except Exception as exc:  # filelock.Timeout
        raise AidetectError(
            f"{p} is locked by another aidetect process (lock file {p}.lock) and stayed locked for "
            f"{timeout:.0f} s; wait for it to finish, or delete the lock file if no aidetect is running."
        ) from exc
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
