"""What an image file says about its own origin: C2PA, IPTC/XMP, PNG text chunks, EXIF.

:func:`read_provenance` reads, without executing or trusting anything:

* the C2PA manifest store (Content Credentials) through the optional
  ``c2pa-python`` package (``pip install 'aidetect[c2pa]'``): claim generator,
  signer, actions, digital source types, and whether the signature validates
  (remote manifests and OCSP are never fetched);
* the IPTC digital source type and tool names in the XMP packet;
* the PNG text chunks that Stable Diffusion front-ends write (A1111
  ``parameters``, ComfyUI ``prompt``/``workflow``, InvokeAI, NovelAI, Fooocus);
* EXIF ``Software``, ``Make``/``Model``, ``UserComment`` and a few fields
  only cameras write (``MakerNote``, lens, exposure).

Every :class:`Finding` names its source and field, keeps the value (capped) and
says what it suggests: ``ai-generated``, ``edited``, ``camera`` or ``unknown``.
Metadata can be stripped or forged: it is evidence to show next to the model's
answer, never a silent override of it. docs/provenance.md lists every field and
the sources for what it is taken to mean.

The module imports PIL and the standard library only; ``c2pa`` is imported on
first use. Nothing here raises for a missing, unreadable or hostile file: the
problem is recorded in :attr:`Provenance.notes` (and :attr:`Provenance.error`
when the file itself could not be read).
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import struct
import threading
import warnings
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Union

__all__ = [
    "AI_GENERATED",
    "EDITED",
    "CAMERA",
    "UNKNOWN",
    "SUGGESTIONS",
    "Finding",
    "Provenance",
    "read_provenance",
    "c2pa_available",
    "classify_software",
    "classify_source_type",
    "TRUST_ANCHORS_ENV",
]

PathLike = Union[str, "os.PathLike[str]"]

AI_GENERATED = "ai-generated"
EDITED = "edited"
CAMERA = "camera"
UNKNOWN = "unknown"
#: Strongest first: :meth:`Provenance.suggests` returns the first one any finding makes.
SUGGESTIONS = (AI_GENERATED, EDITED, CAMERA, UNKNOWN)
_RANK = {name: len(SUGGESTIONS) - i for i, name in enumerate(SUGGESTIONS)}  # ai 4 … unknown 1

#: PEM file of extra C2PA trust anchors (root certificates). Without it no signer
#: is "trusted": a valid signature then only proves the manifest is intact.
TRUST_ANCHORS_ENV = "AIDETECT_C2PA_TRUST_ANCHORS"

# --------------------------------------------------------------------------- #
# limits (hostile files must not cost memory or time)
# --------------------------------------------------------------------------- #
#: Characters of one value kept in a finding (longer ones are truncated, with a note).
MAX_VALUE_CHARS = 64 * 1024
#: Bytes of one text chunk read or decompressed for parsing (JSON of a ComfyUI workflow).
MAX_PARSE_BYTES = 1024 * 1024
#: Bytes of one XMP packet parsed.
MAX_XMP_BYTES = 1024 * 1024
#: Bytes at the start of a file scanned for an XMP packet PIL does not expose (GIF, …).
RAW_SCAN_BYTES = 4 * 1024 * 1024
#: PNG text chunks read per file.
MAX_TEXT_CHUNKS = 256
#: PNG chunks walked per file (a PNG has a few dozen; image data comes in 8-64 KiB pieces).
MAX_PNG_CHUNKS = 200_000

_SOURCE_LABEL = {"c2pa": "C2PA", "xmp": "XMP", "png": "PNG", "exif": "EXIF"}
#: Tie-break between findings that suggest the same thing: signed manifest first.
_SOURCE_ORDER = {"c2pa": 0, "xmp": 1, "png": 2, "exif": 3}


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
@dataclass
class Finding:
    """One metadata field and what it suggests about the image's origin."""

    source: str  # "c2pa", "xmp", "png" or "exif"
    field: str  # the field read, e.g. "Software", "parameters", "Iptc4xmpExt:DigitalSourceType"
    value: str  # its value (text, capped at MAX_VALUE_CHARS)
    suggests: str  # one of SUGGESTIONS
    detail: str = ""  # what it was read as, e.g. "A1111 parameters: model X, sampler Y"

    def short(self, limit: int = 80) -> str:
        """The detail, else the value, on one line and at most ``limit`` characters."""
        return _one_line(self.detail or self.value, limit)


@dataclass
class Provenance:
    """Everything the file says about itself; :meth:`summary` for one line."""

    findings: list[Finding] = field(default_factory=list)
    #: The C2PA manifest store, summarised (see docs/provenance.md); None when there is none.
    c2pa: dict | None = None
    notes: list[str] = field(default_factory=list)
    #: Why the file itself could not be read (missing, a folder, not an image); None otherwise.
    error: str | None = None
    #: found, none, remote, unsupported, error, not-installed or disabled.
    c2pa_status: str = "none"

    def suggests(self) -> str:
        """The strongest suggestion any finding makes: ai-generated > edited > camera > unknown."""
        best = UNKNOWN
        for finding in self.findings:
            if _RANK.get(finding.suggests, 0) > _RANK[best]:
                best = finding.suggests
        return best

    def summary(self) -> str:
        """One short line: the C2PA manifest if any, else the strongest finding."""
        if self.error:
            return f"unreadable: {self.error}"
        telling = [f for f in self.findings if f.suggests != UNKNOWN]
        if self.c2pa is not None:
            line = _c2pa_line(self.c2pa, [f for f in self.findings if f.source == "c2pa"])
            others = [f for f in telling if f.source != "c2pa"]
        elif telling:
            best = min(telling, key=lambda f: (-_RANK[f.suggests], _SOURCE_ORDER.get(f.source, 9)))
            line = f"{_SOURCE_LABEL.get(best.source, best.source)} {best.field}: {best.short(70)} ({best.suggests})"
            others = [f for f in telling if f is not best]
        elif self.c2pa_status == "remote":
            remote = next((f.value for f in self.findings if f.field == "remote_manifest"), "")
            return f"C2PA: manifest stored remotely, not fetched ({_one_line(remote, 60)})"
        elif self.findings:
            n = len(self.findings)
            return f"no tell-tale provenance metadata ({n} other field{'s' if n != 1 else ''})"
        else:
            return "no provenance metadata"
        if others:
            line += f" +{len(others)} more"
        return line

    def to_dict(self) -> dict:
        """JSON-able: summary, suggests, findings, c2pa, c2pa_status, notes, error."""
        return {
            "summary": self.summary(),
            "suggests": self.suggests(),
            "findings": [asdict(f) for f in self.findings],
            "c2pa": self.c2pa,
            "c2pa_status": self.c2pa_status,
            "notes": list(self.notes),
            "error": self.error,
        }


def _c2pa_line(c2pa: dict, findings: list[Finding]) -> str:
    name = c2pa.get("claim_generator") or "unnamed claim generator"
    if "/" in name.split(" ", 1)[0]:
        name = name.split(" ", 1)[0]  # C2PA 1.x user-agent style: the first product is the application
    issuer = (c2pa.get("signer") or {}).get("issuer")
    if issuer and issuer.lower() not in name.lower():
        name = f"{name}, signed by {issuer}"
    best = UNKNOWN
    for finding in findings:
        if _RANK.get(finding.suggests, 0) > _RANK[best]:
            best = finding.suggests
    signature = {
        "trusted": "signature valid, trusted signer",
        "valid": "signature valid, signer not on a trust list",
        "invalid": "signature INVALID",
    }.get(c2pa.get("signature"), "signature not checked")
    return f"C2PA: {_one_line(name, 60)} ({best}, {signature})"


# --------------------------------------------------------------------------- #
# vocabularies
# --------------------------------------------------------------------------- #
#: Names that mark a generator (matched case-insensitively against Software,
#: CreatorTool, softwareAgent, claim generator, PNG Source). Documented in docs/provenance.md.
AI_SOFTWARE: tuple[tuple[str, str], ...] = (
    (r"stable[\s_-]?diffusion", "Stable Diffusion"),
    (r"\bsdxl\b", "Stable Diffusion XL"),
    (r"automatic1111|\ba1111\b|stable-diffusion-webui", "AUTOMATIC1111 web UI"),
    (r"comfy\s?ui", "ComfyUI"),
    (r"invoke\s?ai", "InvokeAI"),
    (r"\bfooocus\b", "Fooocus"),
    (r"novel\s?ai", "NovelAI"),
    (r"midjourney", "Midjourney"),
    (r"\bdall[\s·.-]?e(\b|\d)", "DALL-E"),
    (r"\bfirefly\b", "Adobe Firefly"),
    (r"\bimagen\b", "Google Imagen"),
    (r"bing image creator|image creator from (microsoft )?designer", "Bing Image Creator"),
    (r"dreamstudio", "DreamStudio"),
    (r"leonardo\.?ai", "Leonardo.Ai"),
    (r"\bideogram\b", "Ideogram"),
    (r"nightcafe", "NightCafe"),
    (r"diffusionbee", "DiffusionBee"),
    (r"draw things", "Draw Things"),
    (r"\bflux(\.1)?[\s-](dev|schnell|pro)\b", "FLUX"),
    (r"\bgpt-4o\b|gpt-image", "OpenAI GPT image generation"),
    (r"^ai generated image$", "self-declared AI-generated image"),
)
#: Editors: the file passed through one (it may have been camera-made or generated before).
EDITOR_SOFTWARE: tuple[tuple[str, str], ...] = (
    (r"photoshop", "Adobe Photoshop"),
    (r"lightroom", "Adobe Lightroom"),
    (r"camera raw", "Adobe Camera Raw"),
    (r"adobe express", "Adobe Express"),
    (r"\bgimp\b", "GIMP"),
    (r"affinity", "Affinity"),
    (r"snapseed", "Snapseed"),
    (r"pixelmator", "Pixelmator"),
    (r"capture one", "Capture One"),
    (r"darktable", "darktable"),
    (r"rawtherapee", "RawTherapee"),
    (r"paint\.net", "Paint.NET"),
    (r"paintshop|corel", "Corel PaintShop"),
    (r"\bkrita\b", "Krita"),
    (r"\bcanva\b", "Canva"),
    (r"picsart", "Picsart"),
    (r"facetune", "Facetune"),
    (r"\bvsco\b", "VSCO"),
    (r"luminar", "Luminar"),
    (r"acdsee", "ACDSee"),
    (r"photoscape", "PhotoScape"),
    (r"photopea", "Photopea"),
    (r"dxo", "DxO"),
    (r"on1 photo", "ON1 Photo"),
    (r"topaz", "Topaz Labs"),
    (r"imagemagick|graphicsmagick", "ImageMagick/GraphicsMagick"),
)
_AI_RE = [(re.compile(p, re.IGNORECASE), name) for p, name in AI_SOFTWARE]
_EDITOR_RE = [(re.compile(p, re.IGNORECASE), name) for p, name in EDITOR_SOFTWARE]

#: IPTC NewsCodes Digital Source Type (http://cv.iptc.org/newscodes/digitalsourcetype/)
#: and the two C2PA additions (http://c2pa.org/digitalsourcetype/), by their last path segment.
SOURCE_TYPES: dict[str, tuple[str, str]] = {
    "digitalcapture": (CAMERA, "digital capture sampled from real life"),
    "computationalcapture": (CAMERA, "multi-frame computational capture (e.g. phone HDR)"),
    "negativefilm": (CAMERA, "digitised from a film negative"),
    "positivefilm": (CAMERA, "digitised from a film positive"),
    "print": (CAMERA, "digitised from a print"),
    "compositecapture": (CAMERA, "composite of captured elements only"),
    "humanedits": (EDITED, "human-edited media (non-generative tools)"),
    "minorhumanedits": (EDITED, "original media with minor human edits (retired term)"),
    "algorithmicallyenhanced": (EDITED, "algorithmically altered media"),
    "composite": (EDITED, "composite of elements"),
    "compositesynthetic": (EDITED, "composite including synthetic elements"),
    "digitalcreation": (EDITED, "created by a human with digital tools, no generative AI"),
    "digitalart": (EDITED, "created by a human with digital tools (earlier name of digitalCreation)"),
    "trainedalgorithmicmedia": (AI_GENERATED, "created by a generative model (trained algorithmic media)"),
    "compositewithtrainedalgorithmicmedia": (AI_GENERATED, "composite that includes generative-AI elements"),
    "trainedalgorithmicdata": (AI_GENERATED, "data produced by a trained model (C2PA term)"),
    "algorithmicmedia": (UNKNOWN, "made by a non-learned algorithm (e.g. a fractal)"),
    "datadrivenmedia": (UNKNOWN, "visualisation of data (e.g. a chart)"),
    "screencapture": (UNKNOWN, "screen capture"),
    "virtualrecording": (UNKNOWN, "recording of a virtual event"),
    "softwareimage": (UNKNOWN, "created by software (retired term)"),
    "empty": (UNKNOWN, "no content (C2PA term)"),
}

#: C2PA actions that change the picture (c2pa.created/opened say nothing by themselves).
C2PA_EDIT_ACTIONS = frozenset(
    {
        "c2pa.edited", "c2pa.color_adjustments", "c2pa.cropped", "c2pa.drawing", "c2pa.filtered",
        "c2pa.orientation", "c2pa.resized", "c2pa.placed", "c2pa.removed", "c2pa.redacted",
        "c2pa.deleted", "c2pa.enhanced",
    }
)

#: PNG text keywords written by generator front-ends, and what they are.
GENERATOR_PNG_KEYS: dict[str, str] = {
    "parameters": "generation parameters (AUTOMATIC1111 / Forge / SD.Next format)",
    "prompt": "ComfyUI prompt graph",
    "workflow": "ComfyUI editor workflow",
    "invokeai_metadata": "InvokeAI generation metadata",
    "invokeai_graph": "InvokeAI node graph",
    "invokeai_workflow": "InvokeAI workflow",
    "sd-metadata": "InvokeAI 2.x generation metadata",
    "dream": "InvokeAI 1.x (dream.py) prompt",
    "fooocus_scheme": "Fooocus metadata scheme marker",
}
#: PNG keywords whose value is a tool name (PNG spec "Software"; NovelAI's model in "Source").
SOFTWARE_PNG_KEYS = frozenset({"software", "source"})


def classify_software(text: str) -> tuple[str, str]:
    """``(suggests, name)`` for a tool name: a known generator, a known editor, or unknown."""
    text = text or ""
    for pattern, name in _AI_RE:
        if pattern.search(text):
            return AI_GENERATED, name
    for pattern, name in _EDITOR_RE:
        if pattern.search(text):
            return EDITED, name
    return UNKNOWN, ""


def classify_source_type(value: str) -> tuple[str, str]:
    """``(suggests, meaning)`` for an IPTC/C2PA digital source type (URI or bare code)."""
    code = (value or "").strip().rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower()
    if code in SOURCE_TYPES:
        return SOURCE_TYPES[code]
    return UNKNOWN, "not in the IPTC digital source type vocabulary"


# --------------------------------------------------------------------------- #
# small helpers
# --------------------------------------------------------------------------- #
def _one_line(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Collector:
    """Findings and notes of one file."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.notes: list[str] = []

    def add(self, source: str, fld: str, value: Any, suggests: str, detail: str = "") -> Finding:
        text = value if isinstance(value, str) else str(value)
        text = text.replace("\x00", "")
        if len(text) > MAX_VALUE_CHARS:
            self.notes.append(
                f"{_SOURCE_LABEL.get(source, source)} {fld}: value of {len(text)} characters truncated to {MAX_VALUE_CHARS}"
            )
            text = text[:MAX_VALUE_CHARS]
        finding = Finding(source, fld, text, suggests, detail)
        self.findings.append(finding)
        return finding

    def software(self, source: str, fld: str, value: str) -> None:
        suggests, name = classify_software(value)
        detail = f"{'generator' if suggests == AI_GENERATED else 'editor'}: {name}" if name else ""
        self.add(source, fld, value, suggests, detail)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# --------------------------------------------------------------------------- #
# generator parameters (A1111 infotext, ComfyUI graphs, NovelAI/InvokeAI JSON)
# --------------------------------------------------------------------------- #
#: Key: value pairs of the infotext's last line; keys are short (bounded, so no backtracking blow-up).
_A1111_FIELD = re.compile(r'\s*(\w[\w \-/()+.]{0,40}?):\s*("(?:\\.|[^\\"]){0,2000}"|[^,]*)(?:,|$)')
_A1111_MARKERS = re.compile(r"(^|\n|, )Steps: \d+")


def _a1111_detail(text: str) -> str | None:
    """'A1111 parameters: model X, sampler Y, 20 steps, seed Z' from an infotext, or None."""
    if not _A1111_MARKERS.search(text):
        return None
    last = text.strip().splitlines()[-1][-4096:]
    fields = {m.group(1).strip(): m.group(2).strip().strip('"') for m in _A1111_FIELD.finditer(last) if m.group(1)}
    parts = []
    for key, form in (("Model", "model {}"), ("Model hash", "hash {}"), ("Sampler", "{}"), ("Steps", "{} steps"), ("Seed", "seed {}")):
        if fields.get(key):
            parts.append(form.format(fields[key]))
    return "A1111 parameters" + (": " + ", ".join(parts) if parts else "")


def _json_object(text: str) -> Any:
    """json.loads for a value that looks like JSON and is small enough; None otherwise."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")) or len(stripped) > MAX_PARSE_BYTES:
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return None


def _comfy_detail(text: str, what: str) -> str:
    graph = _json_object(text)
    if not isinstance(graph, dict):
        return f"{what} (not parsed: not JSON or over {MAX_PARSE_BYTES // 1024} KiB)"
    models: list[str] = []
    nodes = graph.get("nodes") if isinstance(graph.get("nodes"), list) else list(graph.values())
    for node in nodes:
        if not isinstance(node, dict):
            continue
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        for key in ("ckpt_name", "unet_name", "model_name"):
            if isinstance(inputs.get(key), str):
                models.append(inputs[key])
        widgets = node.get("widgets_values")
        if "checkpoint" in str(node.get("type", "")).lower() and isinstance(widgets, list) and widgets and isinstance(widgets[0], str):
            models.append(widgets[0])
    models = list(dict.fromkeys(models))
    detail = f"{what}, {len(nodes)} nodes"
    if models:
        detail += ": model " + ", ".join(models[:3])
    return detail


def _settings_json_detail(text: str) -> str | None:
    """'generation settings: sampler X, 28 steps, seed N' for NovelAI/InvokeAI/Fooocus-style JSON."""
    data = _json_object(text)
    if not isinstance(data, dict):
        return None
    keys = {k.lower().replace(" ", "_"): v for k, v in data.items() if isinstance(k, str)}
    if not ({"steps", "sampler", "seed", "cfg_scale", "scale", "uc"} & keys.keys()):
        return None
    parts = []
    for key in ("model", "base_model", "sampler", "scheduler", "steps", "seed"):
        value = keys.get(key)
        if isinstance(value, dict):
            value = value.get("name") or value.get("model_name")
        if isinstance(value, (str, int, float)) and str(value):
            parts.append(f"{key.replace('_', ' ')} {value}")
    return "generation settings" + (": " + ", ".join(parts) if parts else "")


_GRAPH_KEYS = frozenset({"prompt", "workflow", "invokeai_graph", "invokeai_workflow"})


def _generator_text(col: _Collector, source: str, fld: str, text: str, what: str) -> None:
    """A value known to be written by a generator front-end."""
    if fld.lower() in _GRAPH_KEYS:
        detail = _comfy_detail(text, what) if text.lstrip().startswith("{") else f"{what}? (plain text, not a JSON graph)"
    else:
        detail = _a1111_detail(text) or _settings_json_detail(text) or what
    col.add(source, fld, text, AI_GENERATED, detail)


# --------------------------------------------------------------------------- #
# PNG text chunks (walked without decoding pixels: IDAT is skipped by seeking)
# --------------------------------------------------------------------------- #
@dataclass
class _PngMeta:
    text: list[tuple[str, str]] = field(default_factory=list)
    exif: bytes | None = None
    xmp: bytes | None = None


def _inflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    """Decompress at most ``limit`` bytes (zlib bombs stop there); (bytes, truncated)."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit)
    return out, bool(inflater.unconsumed_tail) or len(out) >= limit and not inflater.eof


def _read_png(fh, notes: list[str]) -> _PngMeta:
    meta = _PngMeta()
    if fh.read(8) != b"\x89PNG\r\n\x1a\n":
        return meta
    chunks = 0
    text_overflow = False
    while True:
        header = fh.read(8)
        if len(header) < 8:
            notes.append("PNG ends without an IEND chunk (truncated file); chunks read so far are reported")
            return meta
        length, ctype = struct.unpack(">I4s", header)
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            notes.append(f"PNG has over {MAX_PNG_CHUNKS} chunks; the rest were not read")
            return meta
        if ctype == b"IEND":
            return meta
        if ctype not in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
            fh.seek(length + 4, io.SEEK_CUR)
            continue
        data = fh.read(min(length, MAX_PARSE_BYTES))
        cut = length > len(data)
        fh.seek(length - len(data) + 4, io.SEEK_CUR)
        if ctype == b"eXIf":
            if meta.exif is None and not cut:
                meta.exif = data
            continue
        if len(meta.text) >= MAX_TEXT_CHUNKS:
            if not text_overflow:
                notes.append(f"PNG has over {MAX_TEXT_CHUNKS} text chunks; the rest were not read")
                text_overflow = True
            continue
        try:
            keyword, value, cut_value = _png_text(ctype, data)
        except (ValueError, zlib.error) as exc:
            notes.append(f"PNG {ctype.decode()} chunk could not be decoded ({exc}); skipped")
            continue
        if cut or cut_value:
            notes.append(f"PNG {keyword}: chunk over {MAX_PARSE_BYTES // 1024} KiB; only the start was read")
        if ctype == b"iTXt" and keyword == "XML:com.adobe.xmp":
            if meta.xmp is None:
                meta.xmp = value.encode("utf-8")
            continue
        meta.text.append((keyword, value))


def _png_text(ctype: bytes, data: bytes) -> tuple[str, str, bool]:
    """(keyword, text, truncated) of a tEXt, zTXt or iTXt chunk body."""
    keyword, sep, rest = data.partition(b"\x00")
    if not sep or not 1 <= len(keyword) <= 79:
        raise ValueError("no keyword")
    key = keyword.decode("latin-1")
    if ctype == b"tEXt":
        return key, rest.decode("latin-1"), False
    if ctype == b"zTXt":
        raw, cut = _inflate(rest[1:], MAX_PARSE_BYTES)
        return key, raw.decode("latin-1"), cut
    # iTXt: flag, method, language\0, translated keyword\0, text
    if len(rest) < 2:
        raise ValueError("short iTXt chunk")
    compressed, body = rest[0], rest[2:]
    _lang, _, body = body.partition(b"\x00")
    _tkey, _, body = body.partition(b"\x00")
    cut = False
    if compressed:
        body, cut = _inflate(body, MAX_PARSE_BYTES)
    return key, body.decode("utf-8", "replace"), cut


def _png_findings(col: _Collector, meta: _PngMeta) -> None:
    keys = {k.lower(): v for k, v in meta.text if k}
    for keyword, value in meta.text:
        if not keyword:
            continue
        lower = keyword.lower()
        if lower in GENERATOR_PNG_KEYS:
            _generator_text(col, "png", keyword, value, GENERATOR_PNG_KEYS[lower])
        elif lower in SOFTWARE_PNG_KEYS:
            col.software("png", keyword, value)
        elif lower == "comment" and (detail := _settings_json_detail(value)):
            writer = "NovelAI" if "novelai" in keys.get("software", "").lower() else "a generator"
            col.add("png", keyword, value, AI_GENERATED, f"{detail} ({writer})")
        elif lower == "title" and classify_software(value)[0] == AI_GENERATED:
            col.add("png", keyword, value, AI_GENERATED, "the file calls itself AI-generated")
        else:
            col.add("png", keyword, value, UNKNOWN)


# --------------------------------------------------------------------------- #
# EXIF
# --------------------------------------------------------------------------- #
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


def _exif_findings(col: _Collector, exif) -> None:
    base = {k: v for k, v in exif.items()}
    try:
        sub = dict(exif.get_ifd(_EXIF_IFD))
    except Exception:  # noqa: BLE001 - a damaged sub-IFD must not lose IFD0
        sub = {}
        col.notes.append("EXIF: the Exif sub-IFD could not be read")

    def text(tag: int, ifd: dict) -> str:
        value = ifd.get(tag)
        return "" if value is None else _text(value).strip("\x00 ").strip()

    make, model = text(_TAG["Make"], base), text(_TAG["Model"], base)
    description = text(_TAG["ImageDescription"], base)
    # ComfyUI's animated WebP/other savers put the graph into Make (0x010F) and ImageDescription (0x010E).
    for name, value in (("Make", make), ("ImageDescription", description)):
        head = value[:9].lower()
        if head.startswith(("prompt:", "workflow:")):
            what = "ComfyUI prompt graph" if head.startswith("prompt:") else "ComfyUI editor workflow"
            body = value.split(":", 1)[1]
            col.add("exif", name, value, AI_GENERATED, _comfy_detail(body, what + f" in EXIF {name}"))
            if name == "Make":
                make = ""
        elif name == "ImageDescription" and value and (detail := _a1111_detail(value)):
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
            detail = _a1111_detail(value) or _settings_json_detail(value)
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


# --------------------------------------------------------------------------- #
# XMP (parsed without a DTD: no entity is declared, so none is expanded)
# --------------------------------------------------------------------------- #
_NS_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_NS_XMP = "http://ns.adobe.com/xap/1.0/"
_NS_STEVT = "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
_NS_TIFF = "http://ns.adobe.com/tiff/1.0/"
_NS_DCTERMS = "http://purl.org/dc/terms/"
_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XMP_FIELDS = {
    (_NS_IPTC_EXT, "DigitalSourceType"): "Iptc4xmpExt:DigitalSourceType",
    (_NS_XMP, "CreatorTool"): "xmp:CreatorTool",
    (_NS_STEVT, "softwareAgent"): "xmpMM:History/stEvt:softwareAgent",
    (_NS_TIFF, "Make"): "tiff:Make",
    (_NS_TIFF, "Model"): "tiff:Model",
    (_NS_TIFF, "Software"): "tiff:Software",
    (_NS_DCTERMS, "provenance"): "dcterms:provenance",
}
_XMP_START = re.compile(rb"<x:xmpmeta[\s>]|<rdf:RDF[\s>]")
_XMP_END = {b"<x:xmpmeta": b"</x:xmpmeta>", b"<rdf:RDF": b"</rdf:RDF>"}
_DST_FALLBACK = (
    re.compile(r"DigitalSourceType\s*=\s*[\"']([^\"'<>]{1,300})[\"']"),
    re.compile(r"DigitalSourceType[^>]{0,300}?rdf:resource\s*=\s*[\"']([^\"'<>]{1,300})[\"']"),
    re.compile(r"DigitalSourceType(?:\s[^>]{0,300})?>\s*([^<\s][^<]{0,299})<"),
)
_CREATOR_FALLBACK = (
    re.compile(r"CreatorTool\s*=\s*[\"']([^\"'<>]{1,300})[\"']"),
    re.compile(r"CreatorTool(?:\s[^>]{0,300})?>\s*([^<\s][^<]{0,299})<"),
)


def _extract_xmp_packet(data: bytes) -> bytes | None:
    """The ``<x:xmpmeta>…</x:xmpmeta>`` (or bare ``<rdf:RDF>``) part of some bytes."""
    match = _XMP_START.search(data)
    if not match:
        return None
    start = match.start()
    closing = _XMP_END[b"<x:xmpmeta" if data[start:start + 10] == b"<x:xmpmeta" else b"<rdf:RDF"]
    end = data.find(closing, start)
    return data[start:] if end < 0 else data[start:end + len(closing)]


def _xmp_findings(col: _Collector, packet: bytes) -> None:
    if len(packet) > MAX_XMP_BYTES:
        col.notes.append(f"XMP packet of {len(packet)} bytes; only the first {MAX_XMP_BYTES} were read")
        packet = packet[:MAX_XMP_BYTES]
    body = _extract_xmp_packet(packet) or packet
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = body.decode("utf-16", "replace")
    else:
        text = body.decode("utf-8", "replace")
    values: list[tuple[str, str]] = []
    if re.search(rb"<!(DOCTYPE|ENTITY)", packet, re.IGNORECASE) or re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        col.notes.append("XMP packet declares a DTD or entities (not allowed in XMP); read by pattern, not parsed")
        values = _xmp_by_pattern(text)
    else:
        try:
            values = _xmp_by_tree(text)
        except Exception as exc:  # noqa: BLE001 - malformed XMP is common
            col.notes.append(f"XMP packet is not well-formed XML ({_one_line(str(exc), 80)}); read by pattern")
            values = _xmp_by_pattern(text)
    seen: set[tuple[str, str]] = set()
    for fld, value in values:
        value = value.strip()
        if not value or (fld, value) in seen:
            continue
        seen.add((fld, value))
        if fld == "Iptc4xmpExt:DigitalSourceType":
            suggests, meaning = classify_source_type(value)
            col.add("xmp", fld, value, suggests, meaning)
        elif fld in ("tiff:Make", "tiff:Model"):
            col.add("xmp", fld, value, CAMERA, "camera or phone maker/model")
        elif fld == "dcterms:provenance":
            col.add("xmp", fld, value, UNKNOWN, "reference to a C2PA manifest (remote or embedded)")
        else:
            col.software("xmp", fld, value)


def _xmp_by_tree(text: str) -> list[tuple[str, str]]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text)
    found: list[tuple[str, str]] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = _XMP_FIELDS.get(_split_tag(element.tag))
        if name:
            resource = element.attrib.get(f"{{{_NS_RDF}}}resource")
            found.append((name, resource if resource else "".join(element.itertext())))
        for attr, value in element.attrib.items():
            name = _XMP_FIELDS.get(_split_tag(attr))
            if name:
                found.append((name, value))
    return found


def _split_tag(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _xmp_by_pattern(text: str) -> list[tuple[str, str]]:
    from xml.sax.saxutils import unescape

    found = []
    for pattern in _DST_FALLBACK:
        found += [("Iptc4xmpExt:DigitalSourceType", unescape(m)) for m in pattern.findall(text)]
    for pattern in _CREATOR_FALLBACK:
        found += [("xmp:CreatorTool", unescape(m)) for m in pattern.findall(text)]
    return found


# --------------------------------------------------------------------------- #
# C2PA (c2pa-python, optional)
# --------------------------------------------------------------------------- #
_C2PA_LOCK = threading.Lock()
_C2PA_WARNED = False
_C2PA_CONTEXT: list = []  # [(module, settings key, Context)]: one, rebuilt when either changes
_C2PA_FORMATS = {
    "PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "TIFF": "image/tiff",
    "GIF": "image/gif", "AVIF": "image/avif", "HEIF": "image/heif", "MPO": "image/jpeg",
}
C2PA_MISSING = "C2PA Content Credentials are not checked: c2pa-python is not installed (pip install 'aidetect[c2pa]')"


def _import_c2pa():
    """The c2pa module, or (None, reason)."""
    try:
        import c2pa  # noqa: PLC0415 - optional and heavy (native library)
    except Exception as exc:  # noqa: BLE001 - ImportError, or OSError from the native library
        return None, f"{type(exc).__name__}: {exc}"
    return c2pa, ""


def c2pa_available() -> bool:
    """Whether c2pa-python can be imported (the ``c2pa`` extra)."""
    return _import_c2pa()[0] is not None


def _c2pa_missing_once(reason: str) -> None:
    global _C2PA_WARNED
    with _C2PA_LOCK:
        if _C2PA_WARNED:
            return
        _C2PA_WARNED = True
    from aidetect.console import warn

    message = C2PA_MISSING
    if reason and not reason.startswith(("ModuleNotFoundError", "ImportError: import of c2pa halted")):
        message += f" ({reason})"
    warn(message)


def _c2pa_settings() -> tuple[dict, list[str]]:
    """Reader settings: never fetch anything over the network; optional extra trust anchors."""
    settings: dict = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    notes: list[str] = []
    anchors = os.environ.get(TRUST_ANCHORS_ENV)
    if anchors:
        try:
            pem = Path(anchors).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            notes.append(f"${TRUST_ANCHORS_ENV}={anchors} could not be read ({exc}); no extra trust anchors")
        else:
            if "-----BEGIN CERTIFICATE-----" in pem:
                settings["trust"] = {"trust_anchors": pem}
            else:
                notes.append(f"${TRUST_ANCHORS_ENV}={anchors} holds no PEM certificate; no extra trust anchors")
    return settings, notes


def _c2pa_context(module, settings: dict):
    key = json.dumps(settings, sort_keys=True)
    with _C2PA_LOCK:
        if _C2PA_CONTEXT and _C2PA_CONTEXT[0][0] is module and _C2PA_CONTEXT[0][1] == key:
            return _C2PA_CONTEXT[0][2]
        context = module.Context.from_dict(settings)
        _C2PA_CONTEXT[:] = [(module, key, context)]
        return context


def _read_c2pa_store(path: Path, fmt: str | None) -> tuple[str, dict | None, str, list[str]]:
    """The boundary to c2pa-python: (status, manifest store, remote url, notes)."""
    module, reason = _import_c2pa()
    if module is None:
        _c2pa_missing_once(reason)
        return "not-installed", None, "", []
    settings, notes = _c2pa_settings()
    try:
        context = _c2pa_context(module, settings)
        with open(path, "rb") as fh:
            reader = module.Reader.try_create(_C2PA_FORMATS.get(fmt or "", None), fh, context=context)
            if reader is None:
                return "none", None, "", notes
            try:
                store = json.loads(reader.json())
            finally:
                close = getattr(reader, "close", None)
                if close:
                    close()
    except Exception as exc:  # noqa: BLE001 - C2paError and friends; never fatal
        message = str(exc)
        lowered = message.lower()
        if "remote" in lowered and "http" in lowered:
            url = re.search(r"https?://\S+", message)
            return "remote", None, url.group(0).rstrip(").,'\"") if url else "", notes
        if "notsupported" in lowered.replace(" ", "") or "unsupported" in lowered:
            return "unsupported", None, "", notes
        if "manifestnotfound" in lowered.replace(" ", "") or "no jumbf" in lowered:
            return "none", None, "", notes
        notes.append(f"C2PA manifest could not be read: {_one_line(message, 200)}")
        return "error", None, "", notes
    if not isinstance(store, dict):
        notes.append("C2PA reader returned something other than a manifest store")
        return "error", None, "", notes
    return "found", store, "", notes


def _claim_generator(manifest: dict) -> str:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        first = info[0]
        return f"{first['name']} {first.get('version', '')}".strip()
    generator = manifest.get("claim_generator")
    return str(generator) if generator else ""


def _agent_name(agent: Any) -> str:
    if isinstance(agent, dict):
        return f"{agent.get('name', '')} {agent.get('version', '')}".strip()
    return str(agent) if agent else ""


def _c2pa_actions(manifest: dict) -> list[dict]:
    actions = []
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict) or not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            if not isinstance(action, dict):
                continue
            params = action.get("parameters") if isinstance(action.get("parameters"), dict) else {}
            actions.append(
                {
                    "action": str(action.get("action", "")),
                    "digitalSourceType": str(action.get("digitalSourceType") or params.get("digitalSourceType") or ""),
                    "softwareAgent": _agent_name(action.get("softwareAgent")),
                    "description": str(action.get("description") or ""),
                }
            )
    return actions


def _iptc_assertion_types(manifest: dict) -> list[str]:
    """Digital source types in a stds.iptc(.photo-metadata) assertion, if any."""
    found = []
    for assertion in manifest.get("assertions") or []:
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("stds.iptc"):
            data = assertion.get("data")
            if isinstance(data, dict):
                for key, value in data.items():
                    if key.lower().endswith("digitalsourcetype") and isinstance(value, str):
                        found.append(value)
    return found


_NOT_A_BREAK = {"signingCredential.untrusted"}


def _signature_state(store: dict) -> tuple[str, list[dict]]:
    """('trusted'|'valid'|'invalid'|'unknown', failures) from the validation results."""
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [f for f in results.get("failure") or [] if isinstance(f, dict)]
    successes = {s.get("code") for s in results.get("success") or [] if isinstance(s, dict)}
    if not results and isinstance(store.get("validation_status"), list):
        failures = [f for f in store["validation_status"] if isinstance(f, dict)]  # older stores: failures only
    breaking = [f for f in failures if f.get("code") not in _NOT_A_BREAK]
    state = str(store.get("validation_state") or "")
    if breaking:
        return "invalid", failures
    if state == "Trusted" or "signingCredential.trusted" in successes:
        return "trusted", failures
    if state == "Invalid" and not failures:
        return "invalid", failures  # invalid for a reason not listed under the active manifest
    if state in ("Valid", "Invalid") or "claimSignature.validated" in successes:
        return "valid", failures  # Invalid with only "untrusted" failures: intact but unknown signer
    return "unknown", failures


def _c2pa_findings(col: _Collector, store: dict) -> dict:
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) if isinstance(manifests.get(active_label), dict) else {}
    generator = _claim_generator(active)
    signer = active.get("signature_info") if isinstance(active.get("signature_info"), dict) else {}
    signature, failures = _signature_state(store)
    actions = _c2pa_actions(active)
    if generator:
        col.software("c2pa", "claim_generator", generator)
    for i, action in enumerate(actions):
        _c2pa_action_finding(col, f"actions[{i}]", action)
    for value in _iptc_assertion_types(active):
        suggests, meaning = classify_source_type(value)
        col.add("c2pa", "stds.iptc DigitalSourceType", value, suggests, meaning)
    ingredients = []
    for ingredient in active.get("ingredients") or []:
        if not isinstance(ingredient, dict):
            continue
        label = ingredient.get("active_manifest")
        ingredients.append(
            {"title": str(ingredient.get("title", "")), "relationship": str(ingredient.get("relationship", "")), "manifest": label}
        )
        parent = manifests.get(label) if isinstance(manifests.get(label), dict) else None
        if parent:
            title = ingredient.get("title") or label
            for i, action in enumerate(_c2pa_actions(parent)):
                if action["digitalSourceType"]:
                    _c2pa_action_finding(col, f"ingredient {title!s}: actions[{i}]", action)
    signer_text = ", ".join(str(signer[k]) for k in ("issuer", "common_name") if signer.get(k))
    col.add(
        "c2pa",
        "signature",
        f"{signature}" + (f" ({signer_text})" if signer_text else ""),
        UNKNOWN,
        {
            "trusted": "manifest intact; signer chains to a configured trust anchor",
            "valid": "manifest intact and signed, but the signer is not on a trust list: anyone can make such a signature",
            "invalid": "manifest or image changed after signing, or the signature is broken",
        }.get(signature, "signature not validated"),
    )
    return {
        "active_manifest": active_label,
        "claim_generator": generator,
        "title": active.get("title"),
        "signer": {k: signer.get(k) for k in ("issuer", "common_name", "alg", "time") if signer.get(k)},
        "signature": signature,
        "validation_state": store.get("validation_state"),
        "failures": [{"code": f.get("code"), "explanation": f.get("explanation")} for f in failures],
        "actions": actions,
        "digital_source_types": sorted({a["digitalSourceType"] for a in actions if a["digitalSourceType"]}),
        "ingredients": ingredients,
        "manifests": len(manifests),
    }


def _c2pa_action_finding(col: _Collector, fld: str, action: dict) -> None:
    name, source_type = action["action"], action["digitalSourceType"]
    value = name + (f" ({source_type})" if source_type else "") + (f" by {action['softwareAgent']}" if action["softwareAgent"] else "")
    if source_type:
        suggests, meaning = classify_source_type(source_type)
    elif name in C2PA_EDIT_ACTIONS:
        suggests, meaning = EDITED, "the picture was changed"
    else:
        suggests, meaning = UNKNOWN, ""
    if suggests == UNKNOWN and action["softwareAgent"]:
        by_agent, agent = classify_software(action["softwareAgent"])
        if by_agent != UNKNOWN:
            suggests, meaning = by_agent, f"software agent {agent}"
    col.add("c2pa", fld, value, suggests, meaning)


# --------------------------------------------------------------------------- #
# the entry point
# --------------------------------------------------------------------------- #
def read_provenance(path: PathLike, *, c2pa: bool = True) -> Provenance:
    """Everything ``path`` says about its origin. Never raises for a bad file (see notes/error)."""
    path = Path(os.fsdecode(os.fspath(path)))
    col = _Collector()
    prov = Provenance(notes=col.notes, findings=col.findings, c2pa_status="disabled" if not c2pa else "none")
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
        try:
            status, store, remote, notes = _read_c2pa_store(path, fmt)
        except Exception as exc:  # noqa: BLE001 - belt and braces: the boundary already catches
            status, store, remote, notes = "error", None, "", [f"C2PA manifest could not be read: {exc}"]
        col.notes.extend(notes)
        prov.c2pa_status = status
        if status == "remote":
            col.add("c2pa", "remote_manifest", remote or "(no URL)", UNKNOWN, "manifest stored remotely; not fetched")
            col.notes.append("the C2PA manifest is stored remotely and was not fetched (aidetect never goes online)")
        if store is not None:
            try:
                prov.c2pa = _c2pa_findings(col, store)
            except Exception as exc:  # noqa: BLE001 - unexpected store shape
                col.notes.append(f"C2PA manifest store has an unexpected shape ({exc}); not interpreted")
    return prov


def _failed(prov: Provenance, reason: str) -> Provenance:
    prov.error = reason
    prov.notes.append(f"file {reason}; no metadata read")
    return prov


def _read_embedded(path: Path, col: _Collector) -> str | None:
    """Read XMP, PNG text and EXIF into ``col``; return PIL's format name, or None if not an image."""
    from PIL import Image, UnidentifiedImageError

    fmt: str | None = None
    xmp: bytes | None = None
    with open(path, "rb") as fh:
        head = fh.read(8)
        fh.seek(0)
        if head == b"\x89PNG\r\n\x1a\n":
            fmt = "PNG"
            try:
                meta = _read_png(fh, col.notes)
            except (OSError, struct.error) as exc:
                col.notes.append(f"PNG chunks could not be read ({exc})")
                meta = _PngMeta()
            _stage(col, "PNG text", _png_findings, col, meta)
            if meta.exif:
                _stage(col, "EXIF", _exif_from_bytes, col, meta.exif)
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
                    col.notes.append(f"not a recognised image ({_one_line(str(exc), 120)})")
                im = None
            except Exception as exc:  # noqa: BLE001 - PIL raises many types on hostile input
                col.notes.append(f"PIL could not open the file ({type(exc).__name__}: {_one_line(str(exc), 120)})")
                im = None
            if im is not None:
                with im:
                    fmt = im.format or "unknown"
                    if fmt != "PNG":
                        _stage(col, "EXIF", lambda: _exif_findings(col, im.getexif()))
                        if xmp is None:
                            xmp = _pil_xmp(im)
        if xmp is None and fmt not in (None, "PNG", "JPEG", "MPO", "WEBP"):
            fh.seek(0)
            xmp = _extract_xmp_packet(fh.read(RAW_SCAN_BYTES))
    if xmp:
        _stage(col, "XMP", _xmp_findings, col, xmp)
    return fmt


def _stage(col: _Collector, what: str, func, *args) -> None:
    """Run one reader; a failure becomes a note, never an exception."""
    try:
        func(*args)
    except Exception as exc:  # noqa: BLE001 - hostile metadata must not stop the batch
        col.notes.append(f"{what} metadata could not be read ({type(exc).__name__}: {_one_line(str(exc), 120)})")


def _exif_from_bytes(col: _Collector, data: bytes) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif.load(data)
    _exif_findings(col, exif)


def _pil_xmp(im) -> bytes | None:
    value = im.info.get("xmp")
    if value is None:
        tags = getattr(im, "tag_v2", None)
        value = tags.get(700) if tags is not None else None  # TIFF XMLPacket
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, (tuple, list)):
        value = bytes(value)
    return value if isinstance(value, (bytes, bytearray)) and value else None


def read_many(paths: Iterable[PathLike], *, c2pa: bool = True) -> list[tuple[str, Provenance]]:
    """:func:`read_provenance` for each path, in order."""
    return [(str(p), read_provenance(p, c2pa=c2pa)) for p in paths]
