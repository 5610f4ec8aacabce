"""Which model and gallery a command uses (product.md):

``--model DIR`` › ``$AIDETECT_MODEL`` › the active model in the aidetect home
(``$AIDETECT_HOME/model``, default ``~/.aidetect``) › the model bundled with
the package. ``--gallery PATH`` names a gallery explicitly. Otherwise a model's
own ``gallery.npz`` is used, except for the bundled model, whose package files
are never modified: its gallery is copied into
``$AIDETECT_HOME/galleries/<fingerprint>.npz`` by the first change (``enroll``,
``gallery remove``; aidetect.session) and read from there afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aidetect.config import CONFIG_FILE, GALLERY_FILE
from aidetect.errors import AidetectError

BUNDLED_MODEL = Path(__file__).resolve().parent / "bundled" / "default"


def aidetect_home() -> Path:
    return Path(os.environ.get("AIDETECT_HOME") or Path.home() / ".aidetect").expanduser()


@dataclass(frozen=True)
class ModelChoice:
    folder: Path
    source: str  # "--model", "$AIDETECT_MODEL", "home", "bundled"

    @property
    def bundled(self) -> bool:
        return self.source == "bundled"


def resolve_model_dir(model: str | Path | None) -> ModelChoice:
    if model:
        return ModelChoice(Path(model).expanduser(), "--model")
    env = os.environ.get("AIDETECT_MODEL")
    if env:
        return ModelChoice(Path(env).expanduser(), "$AIDETECT_MODEL")
    home_model = aidetect_home() / "model"
    if (home_model / CONFIG_FILE).is_file():
        return ModelChoice(home_model, "home")
    if (BUNDLED_MODEL / CONFIG_FILE).is_file():
        return ModelChoice(BUNDLED_MODEL, "bundled")
    raise AidetectError(
        "no model to use: pass --model DIR (made by `aidetect train`), set $AIDETECT_MODEL, "
        f"or place one at {home_model}"
    )


def resolve_gallery_path(choice: ModelChoice, fingerprint: str, gallery: str | Path | None, *, for_writing: bool = False) -> Path:
    """The gallery to read (or write, with ``for_writing``) for a model; never touches a file."""
    if gallery:
        return Path(gallery).expanduser()
    own = choice.folder / GALLERY_FILE
    if not choice.bundled:
        return own
    home_copy = aidetect_home() / "galleries" / f"{fingerprint}.npz"
    # Pure path logic: the copy itself is made by aidetect.session.writable_gallery_path.
    return home_copy if home_copy.exists() or for_writing else own
