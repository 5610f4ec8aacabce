"""Which model and gallery a command uses (product.md):

``--model DIR`` › ``$AIDETECT_MODEL`` › the active model in the aidetect home
(``$AIDETECT_HOME/model``, default ``~/.aidetect``) › the model bundled with
the package. ``--gallery PATH`` names a gallery explicitly. Otherwise a model's
own ``gallery.npz`` is used, except for the bundled model, whose package files
are never modified: its gallery is copied into
``$AIDETECT_HOME/galleries/<fingerprint>.npz`` by the first change (``enroll``,
``gallery remove``; aidetect.session) and read from there afterwards.

Which data root ``train``, ``evaluate`` and ``sweep`` read: ``--data ROOT`` ›
``$AIDETECT_DATA`` › ``data`` in ``$AIDETECT_HOME/config.toml`` (set by
``aidetect config data ROOT``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from aidetect.config import CONFIG_FILE, GALLERY_FILE
from aidetect.errors import AidetectError
from aidetect.fileio import atomic_write_bytes, file_lock, write_error

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


# --------------------------------------------------------------------------- the user's settings
#
# ``$AIDETECT_HOME/config.toml`` holds what ``aidetect config`` sets, as TOML top-level
# ``key = "value"`` lines (quoted strings only). Python 3.11+ reads it with tomllib;
# 3.10, which has no tomllib, with the small parser below, which reads exactly what
# :func:`write_user_config` writes (and comments, blank lines, 'literal' strings).

USER_CONFIG_FILE = "config.toml"
DATA_ENV = "AIDETECT_DATA"
#: The keys ``aidetect config`` knows, with the environment variable that overrides each.
USER_KEYS: dict[str, str] = {"data": DATA_ENV}
_HEADER = "# aidetect settings, written by `aidetect config` (key = \"value\" lines; see `aidetect config --help`).\n"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def user_config_path() -> Path:
    return aidetect_home() / USER_CONFIG_FILE


def _quote(value: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped."""
    parts = []
    for ch in value:
        if ch in '"\\':
            parts.append("\\" + ch)
        elif ch in "\b\t\n\f\r":
            parts.append("\\" + {"\b": "b", "\t": "t", "\n": "n", "\f": "f", "\r": "r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            parts.append(f"\\u{ord(ch):04X}")
        else:
            parts.append(ch)
    return '"' + "".join(parts) + '"'


def _unquote_basic(text: str, where: str) -> tuple[str, str]:
    """Parse a basic string at the start of ``text`` (after its opening quote); the value and the rest."""
    value, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(value), text[i + 1 :]
        if ch == "\\":
            code = text[i + 1 : i + 2]
            if code in _ESCAPES:
                value.append(_ESCAPES[code])
                i += 2
                continue
            width = {"u": 4, "U": 8}.get(code)
            digits = text[i + 2 : i + 2 + width] if width else ""
            if not width or len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"{where}: bad escape \\{code}")
            value.append(chr(int(digits, 16)))
            i += 2 + width
            continue
        value.append(ch)
        i += 1
    raise ValueError(f"{where}: the string has no closing quote")


def _parse_toml_subset(text: str) -> dict[str, str]:
    """Top-level ``key = "value"`` / ``key = 'value'`` lines, comments and blank lines; else ValueError."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {number}"
        key, sep, rest = line.partition("=")
        key, rest = key.strip(), rest.strip()
        if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
            key = key[1:-1]
        elif not _BARE_KEY.fullmatch(key):
            raise ValueError(f"{where}: expected key = \"value\"")
        if not sep:
            raise ValueError(f"{where}: expected key = \"value\"")
        if rest.startswith('"') and not rest.startswith('"""'):
            value, tail = _unquote_basic(rest[1:], where)
        elif rest.startswith("'") and not rest.startswith("'''") and "'" in rest[1:]:
            value, tail = rest[1:].split("'", 1)
        else:
            raise ValueError(f"{where}: the value of {key} must be a quoted string")
        tail = tail.strip()
        if tail and not tail.startswith("#"):
            raise ValueError(f"{where}: unexpected text after the value")
        if key in values:
            raise ValueError(f"{where}: {key} is set twice")
        values[key] = value
    return values


def _parse_toml(text: str) -> dict:
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:
        return _parse_toml_subset(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(str(exc)) from None


def read_user_config(path: Path | None = None) -> dict[str, str]:
    """The string settings in the aidetect home's ``config.toml`` (``{}`` when there is none)."""
    path = path or user_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise AidetectError(f"{path} cannot be read ({exc}); fix or delete it, then run `aidetect config` again") from None
    try:
        document = _parse_toml(text)
    except ValueError as exc:
        raise AidetectError(f"{path} is not a settings file aidetect can read ({exc}); fix or delete it") from None
    for key in USER_KEYS:
        if key in document and not isinstance(document[key], str):
            raise AidetectError(f"{path}: {key} must be a quoted string, e.g. {key} = \"/data/GenImage\"; fix or delete the line")
    return {key: value for key, value in document.items() if isinstance(value, str)}


def write_user_config(values: dict[str, str], path: Path | None = None) -> Path:
    """Write ``values`` as ``key = "value"`` lines, atomically; returns the file."""
    path = path or user_config_path()
    lines = [_HEADER] + [f"{key} = {_quote(value)}\n" for key, value in values.items() if _BARE_KEY.fullmatch(key)]
    try:
        atomic_write_bytes(path, "".join(lines).encode("utf-8"))
    except OSError as exc:
        raise write_error(path, exc, "set $AIDETECT_HOME to a writable folder") from None
    return path


def update_user_config(key: str, value: str | None) -> tuple[str | None, Path]:
    """Set ``key`` to ``value`` (None: remove it) under a lock; the previous value and the file."""
    path = user_config_path()
    with file_lock(path):
        values = read_user_config(path)
        previous = values.pop(key, None)
        if value is not None:
            values[key] = value
        if value is not None or previous is not None:
            write_user_config(values, path)
    return previous, path


@dataclass(frozen=True)
class DataChoice:
    root: Path
    source: str  # "--data", "$AIDETECT_DATA", "config"

    def describe(self) -> str:
        return {"--data": "--data", "$AIDETECT_DATA": "$AIDETECT_DATA", "config": f"the config file {user_config_path()}"}[self.source]


NO_DATA_ROOT = (
    "no data root: pass --data ROOT, set $AIDETECT_DATA=ROOT, or run `aidetect config data ROOT` once "
    "(ROOT: the folder holding GenImage, ForenSynths or one folder per class)"
)


def configured_data_root() -> DataChoice | None:
    """The data root of ``$AIDETECT_DATA`` or, without it, of the settings file; None when neither is set."""
    env = os.environ.get(DATA_ENV)
    if env:
        return DataChoice(Path(env).expanduser(), "$AIDETECT_DATA")
    stored = read_user_config().get("data")
    if stored:
        root = Path(stored).expanduser()
        return DataChoice(root if root.is_absolute() else aidetect_home() / root, "config")
    return None


def resolve_data_root(data: str | Path | None) -> DataChoice:
    """``--data`` › ``$AIDETECT_DATA`` › ``data`` in ``$AIDETECT_HOME/config.toml``.

    A root from the environment or the file must exist (the flag's is checked by discovery,
    whose message names --data).
    """
    if data:
        return DataChoice(Path(data).expanduser(), "--data")
    choice = configured_data_root()
    if choice is None:
        raise AidetectError(NO_DATA_ROOT)
    if not choice.root.is_dir():
        state = "is not a folder" if choice.root.exists() else "does not exist"
        fix = (f"set ${DATA_ENV} to the folder that holds your images" if choice.source == "$AIDETECT_DATA"
               else "run `aidetect config data ROOT` with the folder that holds your images")
        raise AidetectError(f"data root {choice.root} (from {choice.describe()}) {state}; {fix}, or pass --data ROOT")
    return choice
