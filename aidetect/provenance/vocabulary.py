"""The shared types and the vocabulary every metadata source speaks.

A :class:`Finding` is one field read from one source; it *suggests* one of
:data:`SUGGESTIONS`. A :class:`Provenance` holds a file's findings and says,
in one line, what they add up to. :class:`Collector` is how a source module
adds findings and notes while it reads.

The vocabulary: the generator and editor names matched in tool-name fields
(:func:`classify_software`) and the IPTC/C2PA digital source types
(:func:`classify_source_type`). docs/provenance.md lists both with their
sources.

``unknown`` is :data:`aidetect.labels.UNKNOWN`: the same word the attribution
verdict uses, defined once for the package.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from aidetect.labels import UNKNOWN

AI_GENERATED = "ai-generated"
EDITED = "edited"
CAMERA = "camera"
#: Strongest first: :meth:`Provenance.suggests` returns the first one any finding makes.
SUGGESTIONS = (AI_GENERATED, EDITED, CAMERA, UNKNOWN)
RANK = {name: len(SUGGESTIONS) - i for i, name in enumerate(SUGGESTIONS)}  # ai 4 … unknown 1

# --------------------------------------------------------------------------- #
# limits shared by the sources (hostile files must not cost memory or time)
# --------------------------------------------------------------------------- #
#: Characters of one value kept in a finding (longer ones are truncated, with a note).
MAX_VALUE_CHARS = 64 * 1024
#: Bytes of one text chunk read or decompressed for parsing (JSON of a ComfyUI workflow).
MAX_PARSE_BYTES = 1024 * 1024

#: How each source is named in a summary line.
SOURCE_LABELS = {"c2pa": "C2PA", "xmp": "XMP", "png": "PNG", "exif": "EXIF", "watermark": "watermark"}
#: Tie-break between findings that suggest the same thing: signed manifest first, the pixel
#: watermark last (metadata that names a model and its settings says more).
SOURCE_ORDER = {"c2pa": 0, "xmp": 1, "png": 2, "exif": 3, "watermark": 4}


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
@dataclass
class Finding:
    """One metadata field and what it suggests about the image's origin."""

    source: str  # "c2pa", "xmp", "png", "exif" or "watermark"
    field: str  # the field read, e.g. "Software", "parameters", "Iptc4xmpExt:DigitalSourceType"
    value: str  # its value (text, capped at MAX_VALUE_CHARS)
    suggests: str  # one of SUGGESTIONS
    detail: str = ""  # what it was read as, e.g. "A1111 parameters: model X, sampler Y"

    def short(self, limit: int = 80) -> str:
        """The detail, else the value, on one line and at most ``limit`` characters."""
        return one_line(self.detail or self.value, limit)


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
    #: The invisible-watermark check: bit agreement with each known mark (docs/provenance.md); None when not decoded.
    watermark: dict | None = None
    #: found, none, too-small, too-large, unsupported, error, not-installed or disabled.
    watermark_status: str = "none"

    def suggests(self) -> str:
        """The strongest suggestion any finding makes: ai-generated > edited > camera > unknown."""
        return strongest(self.findings)

    def summary(self) -> str:
        """One short line: the C2PA manifest if any, else the strongest finding."""
        if self.error:
            return f"unreadable: {self.error}"
        telling = [f for f in self.findings if f.suggests != UNKNOWN]
        if self.c2pa is not None:
            line = _c2pa_line(self.c2pa, [f for f in self.findings if f.source == "c2pa"])
            others = [f for f in telling if f.source != "c2pa"]
        elif telling:
            best = min(telling, key=lambda f: (-RANK[f.suggests], SOURCE_ORDER.get(f.source, 9)))
            line = f"{SOURCE_LABELS.get(best.source, best.source)} {best.field}: {best.short(70)} ({best.suggests})"
            others = [f for f in telling if f is not best]
        elif self.c2pa_status == "remote":
            remote = next((f.value for f in self.findings if f.field == "remote_manifest"), "")
            return f"C2PA: manifest stored remotely, not fetched ({one_line(remote, 60)})"
        elif self.findings:
            n = len(self.findings)
            return f"no tell-tale provenance metadata ({n} other field{'s' if n != 1 else ''})"
        else:
            return "no provenance metadata"
        if others:
            line += f" +{len(others)} more"
        return line

    def to_dict(self) -> dict:
        """JSON-able: summary, suggests, findings, c2pa, c2pa_status, notes, error, watermark, watermark_status."""
        return {
            "summary": self.summary(),
            "suggests": self.suggests(),
            "findings": [asdict(f) for f in self.findings],
            "c2pa": self.c2pa,
            "c2pa_status": self.c2pa_status,
            "notes": list(self.notes),
            "error": self.error,
            "watermark": self.watermark,
            "watermark_status": self.watermark_status,
        }


def strongest(findings: list[Finding]) -> str:
    """The strongest suggestion among ``findings``; unknown when there is none."""
    best = UNKNOWN
    for finding in findings:
        if RANK.get(finding.suggests, 0) > RANK[best]:
            best = finding.suggests
    return best


def _c2pa_line(c2pa: dict, findings: list[Finding]) -> str:
    name = c2pa.get("claim_generator") or "unnamed claim generator"
    if "/" in name.split(" ", 1)[0]:
        name = name.split(" ", 1)[0]  # C2PA 1.x user-agent style: the first product is the application
    issuer = (c2pa.get("signer") or {}).get("issuer")
    if issuer and issuer.lower() not in name.lower():
        name = f"{name}, signed by {issuer}"
    signature = {
        "trusted": "signature valid, trusted signer",
        "valid": "signature valid, signer not on a trust list",
        "invalid": "signature INVALID",
    }.get(c2pa.get("signature"), "signature not checked")
    return f"C2PA: {one_line(name, 60)} ({strongest(findings)}, {signature})"


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
# what the source modules share
# --------------------------------------------------------------------------- #
def one_line(text: str, limit: int) -> str:
    """``text`` with its whitespace collapsed, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_text(value: Any) -> str:
    """A metadata value as text (bytes decoded as UTF-8, undecodable bytes replaced)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class Collector:
    """Findings and notes of one file, as the source modules read them."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.notes: list[str] = []

    def add(self, source: str, fld: str, value: Any, suggests: str, detail: str = "") -> Finding:
        text = value if isinstance(value, str) else str(value)
        text = text.replace("\x00", "")
        if len(text) > MAX_VALUE_CHARS:
            self.notes.append(
                f"{SOURCE_LABELS.get(source, source)} {fld}: value of {len(text)} characters truncated to {MAX_VALUE_CHARS}"
            )
            text = text[:MAX_VALUE_CHARS]
        finding = Finding(source, fld, text, suggests, detail)
        self.findings.append(finding)
        return finding

    def software(self, source: str, fld: str, value: str) -> None:
        """A tool-name field, classified with the software lists."""
        suggests, name = classify_software(value)
        detail = f"{'generator' if suggests == AI_GENERATED else 'editor'}: {name}" if name else ""
        self.add(source, fld, value, suggests, detail)
