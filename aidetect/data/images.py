"""Safe image reading and image-file discovery.

:func:`load_image` turns any image file a user may hand to the tool into a fully
decoded 8-bit RGB :class:`PIL.Image.Image`, or raises
:class:`~aidetect.errors.ImageReadError` with a one-line message
``"<path>: <reason>; <fix>"``. Truncated files are never accepted
(``ImageFile.LOAD_TRUNCATED_IMAGES`` is left alone), and an image whose header
claims more pixels than the limit is refused before any pixel is decoded.

:func:`iter_image_files` streams the image files under a list of files and
folders without ever raising for a bad path: problems go to ``on_error``.

This module imports neither torch nor anything heavy: PIL, numpy and stdlib.
"""

from __future__ import annotations

import mmap
import os
import stat
import threading
import warnings
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from aidetect.errors import AidetectError, ImageReadError

__all__ = [
    "IMAGE_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "max_pixels_from_env",
    "load_image",
    "iter_image_files",
    "iter_image_paths",
    "is_image_name",
    "display_path",
    "SkippedInputs",
    "UNSUPPORTED_IMAGE_EXTENSIONS",
]

PathLike = Union[str, "os.PathLike[str]"]

#: File-name extensions (lower case, with the dot) that count as images when
#: walking a folder. Compare with ``suffix.lower()``.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)

#: Largest image (width x height) decoded unless told otherwise.
DEFAULT_MAX_PIXELS = 100_000_000
#: Environment variable that overrides :data:`DEFAULT_MAX_PIXELS`.
MAX_PIXELS_ENV = "AIDETECT_MAX_PIXELS"

#: Taken only on the rare path where PIL's own decompression-bomb limit must be
#: moved to ours (images over 2 x ``Image.MAX_IMAGE_PIXELS``): that limit is a
#: module global of PIL, so it is changed under this lock and restored at once.
_PIL_LIMIT_LOCK = threading.Lock()

_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_FIX_REEXPORT = "re-download the file or re-export it as PNG or JPEG"


# --------------------------------------------------------------------------- #
# limits
# --------------------------------------------------------------------------- #
def max_pixels_from_env() -> int:
    """The pixel limit: ``$AIDETECT_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`.

    Raises :class:`~aidetect.errors.AidetectError` when the variable is set to
    something other than a positive integer (``100000000`` and ``100_000_000``
    are both accepted).
    """
    raw = os.environ.get(MAX_PIXELS_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise AidetectError(
            f"{MAX_PIXELS_ENV}={raw.strip()!r} is not a positive whole number of pixels; "
            f"set it to e.g. {DEFAULT_MAX_PIXELS} or unset it"
        )
    return value


def pixel_limit(max_pixels: int | None = None) -> int:
    """The limit ``load_image`` applies: ``max_pixels`` when given, else the environment's."""
    return _resolve_limit(max_pixels)


def _resolve_limit(max_pixels: int | None) -> int:
    if max_pixels is None:
        return max_pixels_from_env()
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise AidetectError(
            f"max_pixels={max_pixels!r} is not a positive whole number of pixels; "
            f"pass e.g. {DEFAULT_MAX_PIXELS}"
        )
    return max_pixels


# --------------------------------------------------------------------------- #
# messages
# --------------------------------------------------------------------------- #
def _display(path: PathLike) -> str:
    """A path as one printable line: control characters and undecodable bytes escaped."""
    text = os.fsdecode(os.fspath(path))
    # Undecodable bytes (surrogateescape) become \xNN so printing never fails.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if any(ch < " " or ch == "\x7f" for ch in text):
        text = "".join(
            ch if (ch >= " " and ch != "\x7f") else ch.encode("unicode_escape").decode("ascii")
            for ch in text
        )
    return text


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _error(name: str, reason: str, fix: str) -> ImageReadError:
    return ImageReadError(f"{name}: {_one_line(reason)}; {_one_line(fix)}")


def _describe(exc: BaseException) -> str:
    detail = _one_line(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _os_error(name: str, exc: OSError) -> ImageReadError:
    if isinstance(exc, FileNotFoundError):
        return _error(name, "file not found", "check the path and the spelling of the file name")
    if isinstance(exc, PermissionError):
        return _error(
            name,
            "permission denied",
            "make the file readable (e.g. chmod a+r) or run as a user who can read it",
        )
    if isinstance(exc, IsADirectoryError):
        return _error(name, "is a folder, not an image file", "pass an image file")
    reason = exc.strerror or _describe(exc)
    return _error(name, f"cannot read the file ({reason})", "check the path, the disk and the permissions")


def _is_truncation(exc: BaseException) -> bool:
    if isinstance(exc, EOFError):
        return True
    text = str(exc).lower()
    return any(
        key in text
        for key in ("truncated", "premature end", "broken data stream", "unexpected end", "incomplete")
    )


def _decode_error(name: str, exc: BaseException) -> ImageReadError:
    if isinstance(exc, MemoryError):
        return _error(
            name,
            "not enough memory to decode the image",
            f"resize the image or lower {MAX_PIXELS_ENV}",
        )
    if _is_truncation(exc):
        return _error(
            name,
            f"the image data is truncated or corrupt ({_describe(exc)})",
            "the file was probably cut short while copying or downloading; " + _FIX_REEXPORT,
        )
    return _error(name, f"cannot decode the image ({_describe(exc)})", _FIX_REEXPORT)


def _too_big(name: str, size: tuple[int, int] | None, pixels: int | None, limit: int) -> ImageReadError:
    if size is not None:
        what = f"the image header claims {size[0]}x{size[1]} = {size[0] * size[1]:,} pixels"
    elif pixels is not None:
        what = f"an image frame claims {pixels:,} pixels"
    else:
        what = "the image claims too many pixels"
    return _error(
        name,
        f"{what}, more than the limit of {limit:,} (possible decompression bomb)",
        f"resize the image, or if you trust the file raise the limit with {MAX_PIXELS_ENV} "
        "or max_pixels",
    )


def _pixels_from_bomb_message(exc: BaseException) -> int | None:
    # PIL: "Image size (123 pixels) exceeds limit of ..."
    text = str(exc)
    start = text.find("(")
    if start < 0:
        return None
    digits = text[start + 1 :].split(" ", 1)[0]
    return int(digits) if digits.isdigit() else None


# --------------------------------------------------------------------------- #
# pixel conversion
# --------------------------------------------------------------------------- #
#: 16-bit sample -> 8-bit, rounded: ((v * 255 + 32767) // 65535), as a 64 KiB lookup table so a
#: 16-bit image costs one byte a pixel to convert, not a uint32 array and its temporaries.
_SIXTEEN_TO_EIGHT = ((np.arange(65536, dtype=np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _scale_to_uint8(arr: np.ndarray, *, sixteen_bit: bool) -> np.ndarray:
    """Map integer/float samples to 0..255 without clipping the range away.

    Memory: the 16-bit path adds one byte a pixel (a table lookup); the float path one float64
    copy, worked on in place (the same values as the out-of-place arithmetic)."""
    if sixteen_bit:
        return _SIXTEEN_TO_EIGHT[arr.astype(np.uint16, copy=False)]
    a = arr.astype(np.float64)
    np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0.0 and hi <= 1.0 and arr.dtype.kind == "f":
        a *= 255.0
    elif hi > lo:
        a -= lo
        a *= 255.0 / (hi - lo)
    else:
        a[...] = 0.0
    np.rint(a, out=a)
    np.clip(a, 0, 255, out=a)
    return a.astype(np.uint8)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB (alpha dropped, high bit depths scaled, not clipped)."""
    mode = im.mode
    if mode == "RGB":
        return im.copy()
    if mode.startswith("I;16"):
        arr = np.asarray(im)
        return Image.fromarray(_scale_to_uint8(arr, sixteen_bit=True)).convert("RGB")
    if mode in ("I", "F"):
        arr = np.asarray(im)
        sixteen = mode == "I" and arr.size > 0 and int(arr.min()) >= 0 and int(arr.max()) <= 0xFFFF
        return Image.fromarray(_scale_to_uint8(arr, sixteen_bit=sixteen)).convert("RGB")
    if mode in ("P", "PA") or "transparency" in im.info:
        # Going through RGBA turns any transparency (a palette index, a byte
        # string per palette entry, a colour key) into an alpha channel that is
        # then dropped, and avoids PIL's "Transparency expressed in bytes" warning.
        return im.convert("RGBA").convert("RGB")
    if mode in ("La", "RGBa"):
        return im.convert("RGBA").convert("RGB")
    return im.convert("RGB")


def _apply_orientation(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - a malformed EXIF block must not make pixels unreadable
        pass
    try:
        orientation = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001
        orientation = 1
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    return im.transpose(method) if method is not None else im


# --------------------------------------------------------------------------- #
# load_image
# --------------------------------------------------------------------------- #
_PNG_IEND = b"IEND\xaeB`\x82"  # the IEND chunk type and its fixed CRC


def _png_has_end(fh) -> bool:
    """Whether a PNG file holds its IEND chunk. PIL accepts a PNG cut anywhere
    after the last IDAT; we do not accept any truncation."""
    try:
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return view.rfind(_PNG_IEND) >= 0
    except (OSError, ValueError):  # not mappable (e.g. some network file systems)
        fh.seek(0)
        tail = b""
        for block in iter(lambda: fh.read(1 << 20), b""):
            if _PNG_IEND in tail[-7:] + block:
                return True
            tail = block
        return False


def _check_file(path: Path, name: str) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(name, exc) from exc
    if stat.S_ISDIR(st.st_mode):
        raise _error(name, "is a folder, not an image file", "pass an image file, or the folder as an input folder")
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or device would block or never end.
        raise _error(name, "is not a regular file (a pipe, socket or device)", "pass an image file")
    if st.st_size == 0:
        raise _error(name, "the file is empty (0 bytes)", _FIX_REEXPORT)


def _decode(path: Path, name: str, limit: int, *, relaxed: bool) -> Image.Image:
    """Open, size-check, decode and convert. ``relaxed``: PIL's limit is ours (lock held)."""
    try:
        fh = open(path, "rb")  # builtins.open: tests may patch it
    except OSError as exc:
        raise _os_error(name, exc) from exc
    with fh, warnings.catch_warnings():
        # Our own size check replaces PIL's decompression-bomb warning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if relaxed:
            Image.MAX_IMAGE_PIXELS = None  # header only; the check below is ours
        try:
            im = Image.open(fh)
        except Image.DecompressionBombError:
            raise  # caller retries with PIL's limit moved to ours
        except UnidentifiedImageError as exc:
            raise _error(
                name,
                "not a recognised image (the content is not JPEG, PNG, WebP, TIFF, BMP or GIF)",
                "check that the file really is an image and not e.g. a web page or text "
                "saved under an image name",
            ) from exc
        except OSError as exc:
            raise _decode_error(name, exc) from exc
        except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile input
            raise _decode_error(name, exc) from exc
        with im:
            width, height = im.size
            if width * height > limit:
                raise _too_big(name, (width, height), None, limit)
            if width <= 0 or height <= 0:
                raise _error(name, f"the image header claims an empty size {width}x{height}", _FIX_REEXPORT)
            if relaxed:
                # Frames and tiles decoded later are held to our limit too:
                # PIL errors above 2 x MAX_IMAGE_PIXELS.
                Image.MAX_IMAGE_PIXELS = limit / 2
            try:
                im.load()  # first frame of animated files
                if im.format == "PNG" and not _png_has_end(fh):
                    raise _error(
                        name,
                        "the image data is truncated (the PNG end marker IEND is missing)",
                        "the file was probably cut short while copying or downloading; " + _FIX_REEXPORT,
                    )
                oriented = _apply_orientation(im)
                rgb = _to_rgb(oriented)
                rgb.load()
            except Image.DecompressionBombError as exc:
                if not relaxed:
                    raise
                raise _too_big(name, None, _pixels_from_bomb_message(exc), limit) from exc
            except ImageReadError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise _decode_error(name, exc) from exc
    return rgb


def load_image(path: PathLike, *, max_pixels: int | None = None) -> Image.Image:
    """Read an image file into a fully decoded RGB image (mode ``"RGB"``).

    EXIF orientation is applied, animated files give their first frame, alpha
    is dropped, 16-bit and float images are scaled to 0..255. ``max_pixels``
    (default ``$AIDETECT_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`) is checked
    against the size in the header before any pixel is decoded.

    Raises :class:`~aidetect.errors.ImageReadError` (one line,
    ``"<path>: <reason>; <fix>"``) for a missing, unreadable, empty, truncated,
    non-image or too-large file and any other decoding failure.
    """
    limit = _resolve_limit(max_pixels)
    p = Path(os.fsdecode(os.fspath(path)))
    name = _display(p)
    _check_file(p, name)
    try:
        return _decode(p, name, limit, relaxed=False)
    except Image.DecompressionBombError:
        pass
    # PIL refused by its own (global) limit: find the true size and judge by ours.
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        try:
            return _decode(p, name, limit, relaxed=True)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


# --------------------------------------------------------------------------- #
# iter_image_files
# --------------------------------------------------------------------------- #
#: Image formats aidetect does not decode. Inside a folder such a file is reported (an error
#: record: the user most likely meant it to be analysed), not silently left out.
UNSUPPORTED_IMAGE_EXTENSIONS: dict[str, str] = {
    ".heic": "HEIC", ".heif": "HEIF", ".svg": "SVG", ".svgz": "SVG", ".jxl": "JPEG XL", ".psd": "Photoshop",
    **{ext: "camera raw" for ext in (".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf")},
}

_NOT_REGULAR = "is not a regular file (a pipe, socket or device); skipped"


def is_image_name(name: str) -> bool:
    """Whether a file name has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def display_path(path: PathLike) -> str:
    """A path as one printable line for messages: control characters as ``\\n``-style escapes,
    bytes that are not UTF-8 (surrogateescape) as ``\\xNN``."""
    return _display(path)


class SkippedInputs:
    """What a walk of folders left out without an error: files that are not images (counted by
    extension) and empty folders. :meth:`note` says it in one line."""

    def __init__(self) -> None:
        self.other_files: dict[str, int] = {}
        self.empty_folders: list[str] = []

    def add(self, path: str, what: str) -> None:
        if what == "empty folder":
            self.empty_folders.append(_display(path))
        else:
            ext = os.path.splitext(os.fsdecode(path))[1].lower() or "no extension"
            self.other_files[_display(ext)] = self.other_files.get(_display(ext), 0) + 1

    def __bool__(self) -> bool:
        return bool(self.other_files or self.empty_folders)

    def note(self) -> str | None:
        """E.g. ``left out 3 files that are not images (.txt 2, .json 1) and 1 empty folder (a/b)``."""
        parts = []
        if self.other_files:
            n = sum(self.other_files.values())
            kinds = ", ".join(f"{ext} {count}" for ext, count in sorted(self.other_files.items(), key=lambda kv: (-kv[1], kv[0])))
            parts.append(f"{n} file{'s' if n != 1 else ''} that {'are' if n != 1 else 'is'} not images ({kinds})")
        if self.empty_folders:
            n = len(self.empty_folders)
            shown = ", ".join(self.empty_folders[:3]) + (", …" if n > 3 else "")
            parts.append(f"{n} empty folder{'s' if n != 1 else ''} ({shown})")
        if not parts:
            return None
        return ("left out " + " and ".join(parts) + "; images are read from files named "
                + " ".join(sorted(IMAGE_EXTENSIONS)))


def _default_on_error(path: str, reason: str) -> None:
    from aidetect.console import warn  # lazy: keeps this module free of rich at import

    warn(f"{path}: {reason}")


def _classify_entry(entry: os.DirEntry[str]) -> tuple[str, os.stat_result | OSError | None]:
    """``dir``, ``file``, ``special`` (FIFO, socket, device, followed through links) with the
    followed stat; ``broken`` (a link whose target is missing); ``error`` with the OSError."""
    try:
        st = os.stat(entry.path)  # follows symlinks
    except FileNotFoundError as exc:
        return ("broken", None) if entry.is_symlink() else ("error", exc)
    except OSError as exc:
        return "error", exc
    if stat.S_ISDIR(st.st_mode):
        return "dir", st
    if stat.S_ISREG(st.st_mode):
        return "file", st
    return "special", st


def _walk(
    root: str,
    root_key: tuple[int, int],
    visited: dict[tuple[int, int], str],
    report: Callable[[str, str], None],
    skip: Callable[[str, str], None],
) -> Iterator[str]:
    """Depth-first, sorted, iterative walk of one folder (one listing per open level)."""
    visited[root_key] = root
    # Each stack frame: (directory path, its key, sorted entries, next index).
    stack: list[tuple[str, tuple[int, int], list[os.DirEntry[str]], int]] = []
    ancestors: set[tuple[int, int]] = set()

    def listing(dirpath: str) -> list[os.DirEntry[str]] | None:
        try:
            with os.scandir(dirpath) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            report(dirpath, "permission denied reading the folder; skipped (make it readable to include it)")
            return None
        except OSError as exc:
            report(dirpath, f"cannot read the folder ({exc.strerror or _describe(exc)}); skipped")
            return None
        if not any(not e.name.startswith(".") for e in entries):
            skip(dirpath, "empty folder")
        return entries

    entries = listing(root)
    if entries is None:
        return
    stack.append((root, root_key, entries, 0))
    ancestors.add(root_key)
    while stack:
        dirpath, key, entries, index = stack[-1]
        if index >= len(entries):
            stack.pop()
            ancestors.discard(key)
            continue
        stack[-1] = (dirpath, key, entries, index + 1)
        entry = entries[index]
        if entry.name.startswith("."):
            continue
        kind, st = _classify_entry(entry)
        image_name = is_image_name(entry.name)
        if isinstance(st, OSError):
            report(entry.path, f"cannot inspect ({st.strerror or _describe(st)}); skipped")
            continue
        if kind == "dir":
            assert st is not None
            child_key = (st.st_dev, st.st_ino)
            if child_key in ancestors:
                report(entry.path, f"symlink loop (leads back to {_display(visited.get(child_key, '?'))}); skipped")
                continue
            if child_key in visited:
                report(entry.path, f"same folder as {_display(visited[child_key])}, already scanned; skipped")
                continue
            visited[child_key] = entry.path
            child_entries = listing(entry.path)
            if child_entries is None:
                continue
            stack.append((entry.path, child_key, child_entries, 0))
            ancestors.add(child_key)
        elif kind == "file":
            if image_name:
                yield entry.path
                continue
            unsupported = UNSUPPORTED_IMAGE_EXTENSIONS.get(os.path.splitext(entry.name)[1].lower())
            if unsupported:
                report(entry.path, f"a format aidetect does not read ({unsupported}); convert it to PNG or JPEG")
            else:
                skip(entry.path, "other file")
        elif kind == "special":
            if image_name:
                report(entry.path, _NOT_REGULAR)
            else:
                skip(entry.path, "other file")
        elif image_name:  # broken link
            report(entry.path, "broken symbolic link (its target does not exist); skipped")
        else:
            skip(entry.path, "other file")


def iter_image_paths(
    paths: PathLike | Iterable[PathLike],
    *,
    on_error: Callable[[str, str], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[str]:
    """:func:`iter_image_files` with the paths as strings, exactly as given (``./x.png`` stays
    ``./x.png``; found files are ``os.path.join(folder as given, name)``); ``on_error`` gets the
    raw path (undecodable bytes as surrogateescape characters), not its display form.

    ``on_skip(path, what)`` hears what a folder walk leaves out without an error (``what``:
    ``"other file"``: not an image name, or a special file without one; ``"empty folder"``);
    see :class:`SkippedInputs`. Problems are reported before the next path is yielded, so a
    caller that records both in one list keeps the input order.

    Raises :class:`~aidetect.errors.AidetectError` at once, before any path, when
    ``$AIDETECT_MAX_PIXELS`` is invalid: one configuration error instead of every image failing.
    """
    max_pixels_from_env()
    report = on_error if on_error is not None else (lambda path, reason: _default_on_error(_display(path), reason))
    skip = on_skip if on_skip is not None else (lambda path, what: None)
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    visited: dict[tuple[int, int], str] = {}
    for raw in paths:
        path = os.fsdecode(os.fspath(raw))
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if os.path.islink(path):
                report(path, "broken symbolic link (its target does not exist); skipped")
            else:
                report(path, "does not exist; check the path")
            continue
        except PermissionError:
            report(path, "permission denied; make it readable to include it")
            continue
        except OSError as exc:
            report(path, f"cannot open ({exc.strerror or _describe(exc)}); skipped")
            continue
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in visited:
                report(path, f"same folder as {_display(visited[key])}, already scanned; skipped")
                continue
            yield from _walk(path, key, visited, report, skip)
        else:
            yield path


def iter_image_files(
    paths: PathLike | Iterable[PathLike],
    *,
    on_error: Callable[[str, str], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[Path]:
    """Stream the image files named by, or found under, ``paths``.

    Folders are walked recursively (``os.scandir``, entries sorted by name within
    each folder, hidden names skipped, symlinked folders followed once);
    only files with an extension in :data:`IMAGE_EXTENSIONS` (any case) are
    yielded from folders. A file named explicitly is yielded whatever its
    extension (:func:`load_image` judges it). A path that does not exist, an
    unreadable folder, a broken link, a symlink loop, and inside folders an image-named
    pipe, socket or device or a file of an image format aidetect does not read
    (:data:`UNSUPPORTED_IMAGE_EXTENSIONS`: HEIC, SVG, raw…) is reported through
    ``on_error(path, reason)`` (``path`` in its display form) and skipped; with
    ``on_error=None`` it is printed as a warning on stderr. Other files and empty folders go
    to ``on_skip`` (:func:`iter_image_paths`). Never raises for a bad path; an invalid
    ``$AIDETECT_MAX_PIXELS`` raises at once.
    """
    report = None if on_error is None else (lambda path, reason: on_error(_display(path), reason))
    for path in iter_image_paths(paths, on_error=report, on_skip=on_skip):
        yield Path(path)
