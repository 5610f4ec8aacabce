"""A model opened together with its gallery: the one sequence every command that uses them runs.

Which model and which gallery is resolved by aidetect.home (pure path logic, no copies);
this module loads them, checks that they belong together, and prepares a gallery for
writing. The bundled model's gallery lives inside the package and is never modified: the
first change (``enroll``, ``gallery remove``) copies it into the aidetect home and says so.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from aidetect.config import ClassifierConfig, ModelConfig
from aidetect.console import err
from aidetect.devices import resolve_device
from aidetect.errors import AidetectError
from aidetect.fileio import atomic_writer
from aidetect.gallery import Gallery
from aidetect.home import ModelChoice, resolve_gallery_path, resolve_model_dir
from aidetect.models.model_dir import LoadedModel, load_model


@dataclass
class Session:
    """A loaded model with its gallery, ready to classify."""

    model: LoadedModel
    choice: ModelChoice
    gallery_path: Path
    gallery: Gallery
    device: object

    @property
    def fingerprint(self) -> str:
        return self.model.config.fingerprint

    @property
    def rules(self) -> ClassifierConfig:
        return self.model.config.classifier


def open_model(model: str | Path | None = None, device="auto") -> tuple[LoadedModel, ModelChoice]:
    """Load the model (``--model`` › env › home › bundled), weights checked against its config."""
    choice = resolve_model_dir(model)
    return load_model(choice.folder, resolve_device(device) if isinstance(device, str) else device), choice


def open_model_config(model: str | Path | None = None) -> tuple[ModelConfig, ModelChoice]:
    """The model's config.json alone, for commands that never run the network (``gallery``)."""
    choice = resolve_model_dir(model)
    return ModelConfig.load(choice.folder), choice


def load_gallery(path: Path, config: ModelConfig, *, mmap: bool = False) -> Gallery:
    """The gallery at ``path``, refused when another model made it. ``mmap``: mapped from the file
    (a 1.3M-row gallery: 353 instead of 437 MB resident, docs/performance.md), for reading only."""
    if not path.exists():
        raise AidetectError(f"{path} does not exist; enroll images first or name a gallery with --gallery PATH")
    return Gallery.load(path, expected_model_fingerprint=config.fingerprint or None, mmap=mmap)


def writable_gallery_path(choice: ModelChoice, config: ModelConfig, gallery: str | Path | None) -> Path:
    """Where a change to the gallery is written. For the bundled model that is a copy in the aidetect
    home, made now from the bundled gallery if there is none yet (and said on stderr)."""
    target = resolve_gallery_path(choice, config.fingerprint, gallery, for_writing=True)
    source = resolve_gallery_path(choice, config.fingerprint, gallery)
    if not target.exists() and source != target and source.exists():
        with open(source, "rb") as src, atomic_writer(target) as dst:
            shutil.copyfileobj(src, dst)
        err.print(f"copied the bundled gallery to {target}; changes go there, the package stays as shipped", highlight=False)
    return target


def open_session(
    model: str | Path | None = None,
    gallery: str | Path | None = None,
    device: str = "auto",
    *,
    create_gallery: bool = False,
    for_writing: bool = False,
) -> Session:
    """Load the model and its gallery. ``create_gallery``: an empty gallery when there is none yet;
    ``for_writing``: the gallery a change will be written to (see :func:`writable_gallery_path`)."""
    torch_device = resolve_device(device)
    loaded, choice = open_model(model, torch_device)
    config = loaded.config
    if for_writing:
        path = writable_gallery_path(choice, config, gallery)
    else:
        path = resolve_gallery_path(choice, config.fingerprint, gallery)
    if not path.exists() and (create_gallery or gallery is not None):
        gal = Gallery.create(config.fingerprint, config.architecture.output_dim, source="new gallery")
    else:
        # mapped when only read: a change is written by replacing the file, never into a mapped one
        gal = load_gallery(path, config, mmap=not for_writing)  # refuses a missing gallery in one line
    return Session(loaded, choice, path, gal, torch_device)
