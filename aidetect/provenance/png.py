"""PNG text chunks: what Stable Diffusion front-ends write (A1111, ComfyUI, InvokeAI, NovelAI, Fooocus).

The chunks are walked by their headers without decoding pixels (image data is
skipped by seeking), so text written after the image data is found too. The
``eXIf`` chunk and the XMP ``iTXt`` chunk are handed back for the EXIF and
XMP readers.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field

from aidetect.labels import UNKNOWN
from aidetect.provenance.parameters import generator_text, settings_json_detail
from aidetect.provenance.vocabulary import AI_GENERATED, MAX_PARSE_BYTES, Collector, classify_software

#: PNG text chunks read per file.
MAX_TEXT_CHUNKS = 256
#: PNG chunks walked per file (a PNG has a few dozen; image data comes in 8-64 KiB pieces).
MAX_PNG_CHUNKS = 200_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

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


@dataclass
class PngMeta:
    """What the chunk walk found: text chunks in file order, the eXIf block and the XMP packet."""

    text: list[tuple[str, str]] = field(default_factory=list)
    exif: bytes | None = None
    xmp: bytes | None = None


def _inflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    """Decompress at most ``limit`` bytes (zlib bombs stop there); (bytes, truncated)."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, limit)
    return out, bool(inflater.unconsumed_tail) or len(out) >= limit and not inflater.eof


def read_png(fh, notes: list[str]) -> PngMeta:
    """Walk the chunks of the PNG open in ``fh`` (at its start); problems are appended to ``notes``."""
    meta = PngMeta()
    if fh.read(8) != PNG_SIGNATURE:
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


def png_findings(col: Collector, meta: PngMeta) -> None:
    """One finding per text chunk: generator keywords, tool names, NovelAI's JSON comment, the rest as unknown."""
    keys = {k.lower(): v for k, v in meta.text if k}
    for keyword, value in meta.text:
        if not keyword:
            continue
        lower = keyword.lower()
        if lower in GENERATOR_PNG_KEYS:
            generator_text(col, "png", keyword, value, GENERATOR_PNG_KEYS[lower])
        elif lower in SOFTWARE_PNG_KEYS:
            col.software("png", keyword, value)
        elif lower == "comment" and (detail := settings_json_detail(value)):
            writer = "NovelAI" if "novelai" in keys.get("software", "").lower() else "a generator"
            col.add("png", keyword, value, AI_GENERATED, f"{detail} ({writer})")
        elif lower == "title" and classify_software(value)[0] == AI_GENERATED:
            col.add("png", keyword, value, AI_GENERATED, "the file calls itself AI-generated")
        else:
            col.add("png", keyword, value, UNKNOWN)
