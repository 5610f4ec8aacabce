"""EXIF: ``Software``, ``Make``/``Model``, ``UserComment`` and the fields only cameras write.

Read from Pillow's parse of a JPEG/WebP/TIFF APP1 block or of a PNG ``eXIf``
chunk: IFD0 and the Exif sub-IFD (tag 0x8769). A1111 writes its infotext into
``UserComment`` of JPEG and WebP files, and ComfyUI's WebP savers put their
graphs into ``Make`` and ``ImageDescription``; both are recognised here.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from aidetect.labels import UNKNOWN
from aidetect.provenance.parameters import a1111_detail, comfy_detail, settings_json_detail
from aidetect.provenance.vocabulary import AI_GENERATED, CAMERA, Collector, as_text

_EXIF_IFD = 0x8769
_TAG = {
    "ImageDescription": 0x010E, "Make": 0x010F, "Model": 0x0110, "Software": 0x0131,
    "ExposureTime": 0x829A, "FNumber": 0x829D, "ISOSpeedRatings": 0x8827,
    "UserComment": 0x9286, "MakerNote": 0x927C, "LensMake": 0xA433, "LensModel": 0xA434,
}


def _user_comment(raw: Any) -> str:
    """EXIF UserComment: 8-byte character-code prefix then the text (Exif 2.32 §4.6.5)."""
    if isinstance(raw, str):
        return raw.strip("\x00 ")
    if not isinstance(raw, (bytes, bytearray)):
        return str(raw)
    prefix, body = bytes(raw[:8]), bytes(raw[8:])
    if prefix.startswith(b"UNICODE"):
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", "replace").strip("\x00 ")
        # No byte-order mark: the byte order is the file's; guess from where the zeros are.
        even_zeros = body[0::2].count(0)
        odd_zeros = body[1::2].count(0)
        return body.decode("utf-16-be" if even_zeros >= odd_zeros else "utf-16-le", "replace").strip("\x00 ")
    if prefix.startswith((b"ASCII", b"\x00\x00\x00\x00\x00\x00\x00\x00", b"JIS")):
        return body.decode("utf-8", "replace").strip("\x00 ")
    return bytes(raw).decode("utf-8", "replace").strip("\x00 ")


def _ratio(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def exif_findings(col: Collector, exif: Image.Exif) -> None:
    """Findings from a parsed EXIF block (IFD0 and the Exif sub-IFD)."""
    base = {k: v for k, v in exif.items()}
    try:
        sub = dict(exif.get_ifd(_EXIF_IFD))
    except Exception:  # noqa: BLE001 - a damaged sub-IFD must not lose IFD0
        sub = {}
        col.notes.append("EXIF: the Exif sub-IFD could not be read")

    def text(tag: int, ifd: dict) -> str:
        value = ifd.get(tag)
        return "" if value is None else as_text(value).strip("\x00 ").strip()

    make, model = text(_TAG["Make"], base), text(_TAG["Model"], base)
    description = text(_TAG["ImageDescription"], base)
    # ComfyUI's animated WebP/other savers put the graph into Make (0x010F) and ImageDescription (0x010E).
    for name, value in (("Make", make), ("ImageDescription", description)):
        head = value[:9].lower()
        if head.startswith(("prompt:", "workflow:")):
            what = "ComfyUI prompt graph" if head.startswith("prompt:") else "ComfyUI editor workflow"
            body = value.split(":", 1)[1]
            col.add("exif", name, value, AI_GENERATED, comfy_detail(body, what + f" in EXIF {name}"))
            if name == "Make":
                make = ""
        elif name == "ImageDescription" and value and (detail := a1111_detail(value)):
            col.add("exif", name, value, AI_GENERATED, detail)
    software = text(_TAG["Software"], base)
    if software:
        col.software("exif", "Software", software)
    if make or model:
        camera = model if make and model.lower().startswith(make.lower()) else " ".join(p for p in (make, model) if p)
        col.add("exif", "Make/Model", camera, CAMERA, "camera or phone maker and model")
    comment = sub.get(_TAG["UserComment"])
    if comment is not None:
        value = _user_comment(comment)
        if value:
            detail = a1111_detail(value) or settings_json_detail(value)
            if detail:
                col.add("exif", "UserComment", value, AI_GENERATED, detail)
            else:
                col.add("exif", "UserComment", value, UNKNOWN)
    maker_note = sub.get(_TAG["MakerNote"])
    if maker_note:
        size = len(maker_note) if isinstance(maker_note, (bytes, str)) else 0
        col.add("exif", "MakerNote", f"present ({size} bytes)", CAMERA, "camera maker's private block")
    lens = " ".join(p for p in (text(_TAG["LensMake"], sub), text(_TAG["LensModel"], sub)) if p)
    if lens:
        col.add("exif", "LensModel", lens, CAMERA, "lens recorded by the camera")
    exposure = []
    t = _ratio(sub.get(_TAG["ExposureTime"]))
    if t:
        exposure.append(f"1/{round(1 / t)} s" if t < 1 else f"{t:g} s")
    f_number = _ratio(sub.get(_TAG["FNumber"]))
    if f_number:
        exposure.append(f"f/{f_number:g}")
    iso = sub.get(_TAG["ISOSpeedRatings"])
    if isinstance(iso, (tuple, list)):
        iso = iso[0] if iso else None
    if isinstance(iso, int) and iso > 0:
        exposure.append(f"ISO {iso}")
    if exposure:
        col.add("exif", "ExposureTime/FNumber/ISO", ", ".join(exposure), CAMERA, "exposure recorded by the camera")


def exif_from_bytes(col: Collector, data: bytes) -> None:
    """Findings from a raw EXIF block (a PNG ``eXIf`` chunk)."""
    exif = Image.Exif()
    exif.load(data)
    exif_findings(col, exif)
