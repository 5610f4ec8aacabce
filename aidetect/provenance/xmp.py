"""XMP: the IPTC digital source type and the tool names in the packet.

The packet is parsed without a DTD: one that declares a DTD or entities (XMP
allows neither) is read with bounded regular expressions instead, so no
entity is ever declared, expanded or resolved; so is one that is not
well-formed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from aidetect.labels import UNKNOWN
from aidetect.provenance.vocabulary import CAMERA, Collector, classify_source_type, one_line

#: Bytes of one XMP packet parsed.
MAX_XMP_BYTES = 1024 * 1024
#: Bytes at the start of a file scanned for an XMP packet PIL does not expose (GIF, …).
RAW_SCAN_BYTES = 4 * 1024 * 1024

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


def extract_xmp_packet(data: bytes) -> bytes | None:
    """The ``<x:xmpmeta>…</x:xmpmeta>`` (or bare ``<rdf:RDF>``) part of some bytes."""
    match = _XMP_START.search(data)
    if not match:
        return None
    start = match.start()
    closing = _XMP_END[b"<x:xmpmeta" if data[start:start + 10] == b"<x:xmpmeta" else b"<rdf:RDF"]
    end = data.find(closing, start)
    return data[start:] if end < 0 else data[start:end + len(closing)]


def scan_for_xmp(fh) -> bytes | None:
    """An XMP packet found by scanning the first RAW_SCAN_BYTES of the open file ``fh``."""
    fh.seek(0)
    return extract_xmp_packet(fh.read(RAW_SCAN_BYTES))


def pil_xmp(im) -> bytes | None:
    """The XMP packet Pillow exposes for an open image (``info["xmp"]``, TIFF tag 700), or None."""
    value = im.info.get("xmp")
    if value is None:
        tags = getattr(im, "tag_v2", None)
        value = tags.get(700) if tags is not None else None  # TIFF XMLPacket
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, (tuple, list)):
        value = bytes(value)
    return value if isinstance(value, (bytes, bytearray)) and value else None


def xmp_findings(col: Collector, packet: bytes) -> None:
    """Findings from one XMP packet: digital source type, tool names, camera make/model, C2PA reference."""
    if len(packet) > MAX_XMP_BYTES:
        col.notes.append(f"XMP packet of {len(packet)} bytes; only the first {MAX_XMP_BYTES} were read")
        packet = packet[:MAX_XMP_BYTES]
    body = extract_xmp_packet(packet) or packet
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
            col.notes.append(f"XMP packet is not well-formed XML ({one_line(str(exc), 80)}); read by pattern")
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
    # Here, not at the top: xml.sax.saxutils imports urllib.request (~0.1 s), and only
    # packets that are malformed or declare a DTD come this way.
    from xml.sax.saxutils import unescape  # noqa: PLC0415

    found = []
    for pattern in _DST_FALLBACK:
        found += [("Iptc4xmpExt:DigitalSourceType", unescape(m)) for m in pattern.findall(text)]
    for pattern in _CREATOR_FALLBACK:
        found += [("xmp:CreatorTool", unescape(m)) for m in pattern.findall(text)]
    return found
