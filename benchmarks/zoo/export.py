"""Export a model directory for shipping (maintainers only; used by ship_default.py).

Weights in float16 (half the size), and the gallery re-embedded with exactly those weights
from the gallery's own source files, so the stored embeddings match what the shipped model
computes. Kept out of the package: analysts never export, and it needs the source images.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aidetect.config import GALLERY_FILE
from aidetect.embedding import embed_files
from aidetect.errors import CorruptFileError
from aidetect.gallery import Gallery
from aidetect.models.model_dir import load_model, save_model


def export_model(source: str | Path, destination: str | Path, *, half: bool = True, batch_size: int = 32, workers: int = 0) -> str:
    """Copy a model directory for shipping: weights in float16 (half the size), and its gallery
    re-embedded with exactly those weights from the gallery's own source files (so stored
    embeddings match what the shipped model computes). Returns the new fingerprint."""
    model = load_model(source)
    gallery = Gallery.load(model.gallery_path, expected_model_fingerprint=model.config.fingerprint)
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    config = model.config
    config.training = dict(config.training, exported_from=model.config.fingerprint, weights_dtype="float16" if half else "float32")
    fingerprint = save_model(destination, model.encoder, config, half=half)
    shipped = load_model(destination)
    labels = gallery.labels()
    paths = list(gallery.paths)
    embedded = embed_files(shipped.encoder, shipped.config.preprocess, paths, labels=list(range(len(paths))),
                           batch_size=batch_size, workers=workers, progress="re-embedding the gallery")
    if embedded.errors:
        raise CorruptFileError(f"{embedded.errors[0][1]}; export needs the gallery's source images ({len(embedded.errors)} missing)")
    fresh = Gallery.create(fingerprint, config.architecture.output_dim, source=f"export of {model.config.fingerprint}")
    fresh.add_labelled(embedded.embeddings, labels[embedded.labels], embedded.paths, embedded.sha256,
                       source=f"re-embedded from {model.gallery_path}")
    fresh.save(destination / GALLERY_FILE)
    for extra in ("metrics.jsonl",):
        if (Path(source) / extra).exists():
            shutil.copyfile(Path(source) / extra, destination / extra)
    return fingerprint
