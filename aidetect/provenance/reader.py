""":func:`read_provenance`: every source read for one file, into one :class:`Provenance`.

The file is opened once for the embedded metadata (PNG chunks, then Pillow for
EXIF and XMP); C2PA is read by its own library from the path, and the pixels
are decoded for the known invisible watermarks (with the ``watermark`` extra,
for images of 256×256 to 2048×2048 pixels). A failure in one
source becomes a note and the other sources are still read; only a file that
cannot be read at all sets :attr:`Provenance.error`.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
from pathlib import Path
from typing import Union

from PIL import Image, UnidentifiedImageError

from aidetect.labels import UNKNOWN
from aidetect.provenance.c2pa_manifest import c2pa_findings, read_c2pa_store
from aidetect.provenance.exif import exif_findings, exif_from_bytes
from aidetect.provenance.png import PNG_SIGNATURE, PngMeta, png_findings, read_png
from aidetect.provenance.vocabulary import Collector, Provenance, one_line
from aidetect.provenance.watermark import check_watermarks
from aidetect.provenance.xmp import pil_xmp, scan_for_xmp, xmp_findings

PathLike = Union[str, "os.PathLike[str]"]
#: Formats whose XMP Pillow exposes, or that have none (PNG's comes from the chunk walk);
#: for any other format the first bytes of the file are scanned for a packet.
_XMP_VIA_PIL = frozenset({"PNG", "JPEG", "MPO", "WEBP"})


def read_provenance(path: PathLike, *, c2pa: bool = True, watermark: bool = True) -> Provenance:
    """Everything ``path`` says about its origin. Never raises for a bad file (see notes/error).

    ``c2pa=False`` skips Content Credentials; ``watermark=False`` skips decoding the pixels
    for the known invisible watermarks (which runs only with the ``watermark`` extra).
    """
    path = Path(os.fsdecode(os.fspath(path)))
    col = Collector()
    prov = Provenance(
        notes=col.notes,
        findings=col.findings,
        c2pa_status="none" if c2pa else "disabled",
        watermark_status="none" if watermark else "disabled",
    )
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return _failed(prov, "does not exist")
    except OSError as exc:
        return _failed(prov, f"cannot be read ({exc.strerror or exc})")
    if stat.S_ISDIR(st.st_mode):
        return _failed(prov, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        return _failed(prov, "is not a regular file")
    try:
        fmt = _read_embedded(path, col)
    except OSError as exc:
        return _failed(prov, f"cannot be read ({exc.strerror or exc})")
    if fmt is None:
        prov.error = "not a recognised image"
    if c2pa and fmt is None:
        prov.c2pa_status = "unsupported"
    elif c2pa:
        _read_c2pa(path, fmt, col, prov)
    if watermark and fmt is None:
        prov.watermark_status = "unsupported"
    elif watermark:
        try:
            prov.watermark_status, prov.watermark = check_watermarks(path, col)
        except Exception as exc:  # noqa: BLE001 - belt and braces: the check already catches bad pixels
            prov.watermark_status = "error"
            col.notes.append(f"watermark check failed ({type(exc).__name__}: {one_line(str(exc), 120)})")
    return prov


def _read_c2pa(path: Path, fmt: str, col: Collector, prov: Provenance) -> None:
    try:
        status, store, remote, notes = read_c2pa_store(path, fmt)
    except Exception as exc:  # noqa: BLE001 - belt and braces: the boundary already catches
        status, store, remote, notes = "error", None, "", [f"C2PA manifest could not be read: {exc}"]
    col.notes.extend(notes)
    prov.c2pa_status = status
    if status == "remote":
        col.add("c2pa", "remote_manifest", remote or "(no URL)", UNKNOWN, "manifest stored remotely; not fetched")
        col.notes.append("the C2PA manifest is stored remotely and was not fetched (aidetect never goes online)")
    if store is not None:
        try:
            prov.c2pa = c2pa_findings(col, store)
        except Exception as exc:  # noqa: BLE001 - unexpected store shape
            col.notes.append(f"C2PA manifest store has an unexpected shape ({exc}); not interpreted")


def _failed(prov: Provenance, reason: str) -> Provenance:
    prov.error = reason
    prov.notes.append(f"file {reason}; no metadata read")
    return prov


def _read_embedded(path: Path, col: Collector) -> str | None:
    """Read XMP, PNG text and EXIF into ``col``; return PIL's format name, or None if not an image."""
    fmt: str | None = None
    xmp: bytes | None = None
    with open(path, "rb") as fh:
        head = fh.read(8)
        fh.seek(0)
        if head == PNG_SIGNATURE:
            fmt = "PNG"
            try:
                meta = read_png(fh, col.notes)
            except (OSError, struct.error) as exc:
                col.notes.append(f"PNG chunks could not be read ({exc})")
                meta = PngMeta()
            _stage(col, "PNG text", png_findings, col, meta)
            if meta.exif:
                _stage(col, "EXIF", exif_from_bytes, col, meta.exif)
            xmp = meta.xmp
            fh.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                im = Image.open(fh)
            except Image.DecompressionBombError as exc:
                col.notes.append(f"image too large for PIL to open ({exc}); EXIF/XMP via PIL not read")
                im = None
                fmt = fmt or "unknown"
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
                if fmt is None:
                    col.notes.append(f"not a recognised image ({one_line(str(exc), 120)})")
                im = None
            except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile input
                col.notes.append(f"PIL could not open the file ({type(exc).__name__}: {one_line(str(exc), 120)})")
                im = None
            if im is not None:
                with im:
                    fmt = im.format or "unknown"
                    if fmt != "PNG":
                        _stage(col, "EXIF", lambda: exif_findings(col, im.getexif()))
                        if xmp is None:
                            xmp = pil_xmp(im)
        if xmp is None and fmt not in (None, *_XMP_VIA_PIL):
            xmp = scan_for_xmp(fh)
    if xmp:
        _stage(col, "XMP", xmp_findings, col, xmp)
    return fmt


def _stage(col: Collector, what: str, func, *args) -> None:
    """Run one reader; a failure becomes a note, never an exception."""
    try:
        func(*args)
    except Exception as exc:  # noqa: BLE001 - hostile metadata must not stop the batch
        col.notes.append(f"{what} metadata could not be read ({type(exc).__name__}: {one_line(str(exc), 120)})")
