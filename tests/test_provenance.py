"""aidetect.provenance and ``aidetect inspect``: metadata read from files made here."""

from __future__ import annotations

import datetime
import io
import json
import struct
import sys
import types
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

from aidetect import provenance as prov_mod
from aidetect.cli.main import app
from aidetect.provenance import c2pa_manifest as c2pa_mod
from aidetect.provenance import exif as exif_mod
from aidetect.provenance import xmp as xmp_mod
from aidetect.provenance import Finding, Provenance, classify_software, classify_source_type, read_provenance

runner = CliRunner()

A1111_TEXT = (
    "a photo of a cat on a sofa\n"
    "Negative prompt: blurry\n"
    "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Version: v1.6.0"
)
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def xmp_packet(body: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{body}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def dst_attribute(value: str, extra: str = "") -> bytes:
    return xmp_packet(
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" Iptc4xmpExt:DigitalSourceType="{value}" {extra}/>'
    )


def dst_element(value: str) -> bytes:
    return xmp_packet(
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{value}"/></rdf:Description>'
    )


def png(path: Path, text: dict[str, str] | None = None, *, ztxt: bool = False, xmp: bytes | None = None, exif: bytes | None = None) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value, zip=ztxt)
    if xmp is not None:
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
    kwargs = {"pnginfo": info}
    if exif is not None:
        kwargs["exif"] = exif
    Image.new("RGB", (16, 16), (90, 120, 200)).save(path, "PNG", **kwargs)
    return path


def jpeg(path: Path, exif: Image.Exif | None = None, xmp: bytes | None = None) -> Path:
    kwargs = {}
    if exif is not None:
        kwargs["exif"] = exif.tobytes()
    if xmp is not None:
        kwargs["xmp"] = xmp
    Image.new("RGB", (16, 16), (200, 120, 90)).save(path, "JPEG", **kwargs)
    return path


def exif_with(**tags) -> Image.Exif:
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    for name, value in tags.items():
        tag = exif_mod._TAG[name]
        (sub if tag >= 0x8000 else exif)[tag] = value
    return exif


def by_field(p: Provenance) -> dict[str, Finding]:
    return {f.field: f for f in p.findings}


def insert_chunk_before_iend(data: bytes, ctype: bytes, body: bytes) -> bytes:
    chunk = struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)
    at = data.rindex(b"IEND") - 4
    return data[:at] + chunk + data[at:]


# --------------------------------------------------------------------------- #
# PNG text chunks
# --------------------------------------------------------------------------- #
def test_a1111_parameters_chunk(tmp_path):
    p = read_provenance(png(tmp_path / "a1111.png", {"parameters": A1111_TEXT}), c2pa=False)
    finding = by_field(p)["parameters"]
    assert finding.source == "png" and finding.suggests == "ai-generated"
    assert finding.value == A1111_TEXT
    assert "sd_xl_base_1.0" in finding.detail and "DPM++ 2M Karras" in finding.detail and "seed 1234" in finding.detail
    assert p.suggests() == "ai-generated"
    assert p.summary().startswith("PNG parameters: A1111 parameters") and p.summary().endswith("(ai-generated)")
    assert p.error is None and p.c2pa is None and p.c2pa_status == "disabled"
    json.dumps(p.to_dict())


def test_comfyui_prompt_and_workflow_compressed(tmp_path):
    prompt = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev.safetensors"}},
              "3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20}}}
    workflow = {"nodes": [{"type": "CheckpointLoaderSimple", "widgets_values": ["flux1-dev.safetensors"]}], "links": []}
    path = png(tmp_path / "comfy.png", {"prompt": json.dumps(prompt), "workflow": json.dumps(workflow)}, ztxt=True)
    p = read_provenance(path, c2pa=False)
    fields = by_field(p)
    assert fields["prompt"].suggests == fields["workflow"].suggests == "ai-generated"
    assert "ComfyUI" in fields["prompt"].detail and "flux1-dev.safetensors" in fields["prompt"].detail
    assert "flux1-dev.safetensors" in fields["workflow"].detail
    assert p.summary().endswith("+1 more")


def test_text_chunk_after_image_data_is_read(tmp_path):
    path = png(tmp_path / "late.png")
    path.write_bytes(insert_chunk_before_iend(path.read_bytes(), b"tEXt", b"parameters\x00" + A1111_TEXT.encode("latin-1")))
    p = read_provenance(path, c2pa=False)
    assert by_field(p)["parameters"].suggests == "ai-generated"


def test_novelai_chunks(tmp_path):
    comment = json.dumps({"prompt": "cat", "steps": 28, "sampler": "k_euler", "seed": 7, "uc": "lowres"})
    path = png(tmp_path / "nai.png", {"Title": "AI generated image", "Software": "NovelAI", "Source": "NovelAI Diffusion V3 4BDE2A90", "Comment": comment})
    fields = by_field(read_provenance(path, c2pa=False))
    assert {name: f.suggests for name, f in fields.items()} == {
        "Title": "ai-generated", "Software": "ai-generated", "Source": "ai-generated", "Comment": "ai-generated"
    }
    assert "NovelAI" in fields["Comment"].detail and "steps 28" in fields["Comment"].detail


def test_unknown_text_chunk_is_shown_but_says_nothing(tmp_path):
    p = read_provenance(png(tmp_path / "misc.png", {"Creation Time": "2024-01-01"}), c2pa=False)
    assert by_field(p)["Creation Time"].suggests == "unknown"
    assert p.suggests() == "unknown"
    assert p.summary() == "no tell-tale provenance metadata (1 other field)"


def test_long_value_is_capped_with_a_note(tmp_path):
    huge = "y" * (prov_mod.MAX_VALUE_CHARS * 2) + "\n" + A1111_TEXT
    p = read_provenance(png(tmp_path / "long.png", {"parameters": huge}), c2pa=False)
    finding = by_field(p)["parameters"]
    assert len(finding.value) == prov_mod.MAX_VALUE_CHARS
    assert finding.suggests == "ai-generated" and "sd_xl_base_1.0" in finding.detail  # parsed before the cut
    assert any("truncated" in note for note in p.notes)


def test_compressed_text_bomb_is_bounded(tmp_path):
    path = png(tmp_path / "bomb.png")
    bomb = zlib.compress(b"\x00" * (64 * 1024 * 1024), 9)  # 64 MiB inflated, ~64 KiB on disk
    path.write_bytes(insert_chunk_before_iend(path.read_bytes(), b"zTXt", b"Comment\x00\x00" + bomb))
    p = read_provenance(path, c2pa=False)
    assert len(by_field(p)["Comment"].value) <= prov_mod.MAX_VALUE_CHARS
    assert any("only the start was read" in note for note in p.notes)


def test_damaged_text_chunk_becomes_a_note(tmp_path):
    path = png(tmp_path / "bad.png")
    path.write_bytes(insert_chunk_before_iend(path.read_bytes(), b"zTXt", b"Comment\x00\x00not zlib at all"))
    p = read_provenance(path, c2pa=False)
    assert p.error is None and any("zTXt" in note for note in p.notes)


# --------------------------------------------------------------------------- #
# EXIF
# --------------------------------------------------------------------------- #
def test_jpeg_exif_software_editor(tmp_path):
    p = read_provenance(jpeg(tmp_path / "edited.jpg", exif_with(Software="Adobe Photoshop 25.0 (Windows)", Make="Canon", Model="Canon EOS R5")), c2pa=False)
    fields = by_field(p)
    assert fields["Software"].suggests == "edited" and fields["Software"].source == "exif"
    assert fields["Make/Model"].value == "Canon EOS R5" and fields["Make/Model"].suggests == "camera"
    assert p.suggests() == "edited"
    assert p.summary() == "EXIF Software: editor: Adobe Photoshop (edited) +1 more"


def test_jpeg_camera_fields(tmp_path):
    exif = exif_with(Make="NIKON CORPORATION", Model="NIKON Z 6", Software="Ver.01.00", MakerNote=b"Nikon\x00\x02" + b"\x00" * 40,
                     LensModel="NIKKOR Z 24-70mm f/4 S", ExposureTime=0.004, FNumber=4.0, ISOSpeedRatings=400)
    p = read_provenance(jpeg(tmp_path / "camera.jpg", exif), c2pa=False)
    fields = by_field(p)
    assert fields["Software"].suggests == "unknown"  # firmware version, not an editor
    assert fields["MakerNote"].suggests == fields["LensModel"].suggests == "camera"
    assert fields["ExposureTime/FNumber/ISO"].value == "1/250 s, f/4, ISO 400"
    assert p.suggests() == "camera"
    assert p.summary().startswith("EXIF Make/Model: ")


def test_jpeg_user_comment_with_a1111_parameters(tmp_path):
    # What A1111 writes into JPEG/WebP: piexif UserComment, "UNICODE" prefix then UTF-16.
    comment = b"UNICODE\x00" + A1111_TEXT.encode("utf-16-be")
    p = read_provenance(jpeg(tmp_path / "sd.jpg", exif_with(UserComment=comment)), c2pa=False)
    finding = by_field(p)["UserComment"]
    assert finding.value == A1111_TEXT and finding.suggests == "ai-generated"


def test_comfyui_webp_exif_make_is_not_a_camera(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Prompt:" + json.dumps({"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.ckpt"}}})
    exif[0x010E] = "Workflow:" + json.dumps({"nodes": []})
    path = tmp_path / "comfy.webp"
    Image.new("RGB", (16, 16)).save(path, "WEBP", exif=exif.tobytes())
    p = read_provenance(path, c2pa=False)
    fields = by_field(p)
    assert "Make/Model" not in fields
    assert fields["Make"].suggests == fields["ImageDescription"].suggests == "ai-generated"
    assert "sd15.ckpt" in fields["Make"].detail


def test_exif_software_generator(tmp_path):
    p = read_provenance(jpeg(tmp_path / "mj.jpg", exif_with(Software="Midjourney v6")), c2pa=False)
    assert by_field(p)["Software"].suggests == "ai-generated"


def test_png_exif_chunk(tmp_path):
    path = png(tmp_path / "exif.png", exif=exif_with(Software="GIMP 2.10.36").tobytes())
    assert by_field(read_provenance(path, c2pa=False))["Software"].suggests == "edited"


# --------------------------------------------------------------------------- #
# XMP
# --------------------------------------------------------------------------- #
def test_xmp_digital_source_type_attribute_in_jpeg(tmp_path):
    packet = dst_attribute(TRAINED, 'xmp:CreatorTool="Adobe Firefly"')
    p = read_provenance(jpeg(tmp_path / "ff.jpg", xmp=packet), c2pa=False)
    fields = by_field(p)
    assert fields["Iptc4xmpExt:DigitalSourceType"].value == TRAINED
    assert fields["Iptc4xmpExt:DigitalSourceType"].suggests == "ai-generated"
    assert fields["xmp:CreatorTool"].suggests == "ai-generated"
    assert p.summary().startswith("XMP Iptc4xmpExt:DigitalSourceType")


def test_xmp_digital_source_type_resource_in_png(tmp_path):
    p = read_provenance(png(tmp_path / "cap.png", xmp=dst_element(CAPTURE)), c2pa=False)
    assert by_field(p)["Iptc4xmpExt:DigitalSourceType"].suggests == "camera"


def test_xmp_history_software_agent(tmp_path):
    packet = xmp_packet(
        '<rdf:Description rdf:about="" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
        'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"><xmpMM:History><rdf:Seq>'
        '<rdf:li stEvt:action="saved" stEvt:softwareAgent="Adobe Photoshop Lightroom Classic 13.0"/>'
        "</rdf:Seq></xmpMM:History></rdf:Description>"
    )
    p = read_provenance(jpeg(tmp_path / "lr.jpg", xmp=packet), c2pa=False)
    assert by_field(p)["xmpMM:History/stEvt:softwareAgent"].suggests == "edited"


def test_xmp_with_entities_is_not_expanded(tmp_path):
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
    ).encode()
    packet = laughs + dst_attribute(TRAINED, 'xmp:CreatorTool="&lol2;&ext;"')
    p = read_provenance(jpeg(tmp_path / "lol.jpg", xmp=packet), c2pa=False)
    fields = by_field(p)
    assert fields["Iptc4xmpExt:DigitalSourceType"].suggests == "ai-generated"  # found by pattern
    assert "root:" not in json.dumps(p.to_dict()) and "lollol" not in json.dumps(p.to_dict())
    assert any("DTD" in note for note in p.notes)


def test_malformed_xmp_falls_back_to_patterns(tmp_path):
    packet = dst_attribute(TRAINED)[:-40]  # cut: no closing tags
    p = read_provenance(jpeg(tmp_path / "cut.jpg", xmp=packet), c2pa=False)
    assert by_field(p)["Iptc4xmpExt:DigitalSourceType"].suggests == "ai-generated"
    assert any("not well-formed" in note for note in p.notes)


def test_oversized_xmp_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(xmp_mod, "MAX_XMP_BYTES", 2048)
    packet = dst_attribute(TRAINED).replace(b"<rdf:Description", b"<!-- " + b"p" * 4096 + b" --><rdf:Description")
    p = read_provenance(jpeg(tmp_path / "big.jpg", xmp=packet), c2pa=False)
    assert any("only the first 2048" in note for note in p.notes)


def test_xmp_in_gif_found_by_raw_scan(tmp_path):
    path = tmp_path / "x.gif"
    Image.new("P", (8, 8)).save(path, "GIF")
    data = path.read_bytes()
    # An XMP application extension ("XMP DataXMP") before the trailer; the raw scan finds the packet.
    packet = dst_attribute(TRAINED)
    path.write_bytes(data[:-1] + b"\x21\xff\x0bXMP DataXMP" + packet + bytes(range(0xFF, -1, -1)) + b"\x00" + b"\x3b")
    p = read_provenance(path, c2pa=False)
    assert by_field(p)["Iptc4xmpExt:DigitalSourceType"].suggests == "ai-generated"


# --------------------------------------------------------------------------- #
# no metadata, unreadable files
# --------------------------------------------------------------------------- #
def test_file_without_metadata(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    p = read_provenance(path, c2pa=False)
    assert p.findings == [] and p.notes == [] and p.error is None
    assert p.suggests() == "unknown" and p.summary() == "no provenance metadata"


def test_missing_file_never_raises(tmp_path):
    p = read_provenance(tmp_path / "nope.jpg")
    assert p.error == "does not exist" and p.notes and p.findings == []
    assert p.summary() == "unreadable: does not exist"


def test_not_an_image(tmp_path):
    path = tmp_path / "page.png"
    path.write_text("<html>not an image</html>")
    p = read_provenance(path)
    assert p.error == "not a recognised image" and p.c2pa_status == "unsupported"


def test_folder_is_an_error(tmp_path):
    assert read_provenance(tmp_path).error == "is a folder, not a file"


def test_truncated_png_keeps_what_was_read(tmp_path):
    path = png(tmp_path / "cut.png", {"parameters": A1111_TEXT})
    path.write_bytes(path.read_bytes()[:-30])
    p = read_provenance(path, c2pa=False)
    assert by_field(p)["parameters"].suggests == "ai-generated"
    assert any("IEND" in note for note in p.notes)


def test_classifiers():
    assert classify_software("Adobe Photoshop 2024")[0] == "edited"
    assert classify_software("Imagenomic Portraiture")[0] == "unknown"  # "Imagen" is a whole word only
    assert classify_software("DALL·E 3")[0] == "ai-generated"
    assert classify_source_type("compositeWithTrainedAlgorithmicMedia")[0] == "ai-generated"
    assert classify_source_type("http://cv.iptc.org/newscodes/digitalsourcetype/humanEdits")[0] == "edited"
    assert classify_source_type("digsrctype:digitalCapture")[0] == "camera"
    assert classify_source_type("http://example.com/whatever")[0] == "unknown"


# --------------------------------------------------------------------------- #
# C2PA: the library mocked at its boundary (always runs)
# --------------------------------------------------------------------------- #
FIREFLY_STORE = {
    "active_manifest": "urn:uuid:edit",
    "manifests": {
        "urn:uuid:edit": {
            "claim_generator": "Adobe_Photoshop/25.0 adobe_c2pa/0.7.6 c2pa-rs/0.25.2",
            "title": "out.jpg",
            "signature_info": {"issuer": "Adobe Inc.", "common_name": "Adobe Content Credentials", "time": "2024-01-01T00:00:00+00:00"},
            "assertions": [
                {"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.opened"},
                    {"action": "c2pa.placed", "softwareAgent": "Adobe Photoshop 25.0"},
                    {"action": "c2pa.edited", "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"},
                ]}},
            ],
            "ingredients": [{"title": "gen.png", "relationship": "parentOf", "active_manifest": "urn:uuid:gen"}],
        },
        "urn:uuid:gen": {
            "claim_generator_info": [{"name": "Adobe Firefly", "version": "1.0"}],
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": TRAINED}]}}],
        },
    },
    "validation_results": {"activeManifest": {
        "success": [{"code": "claimSignature.validated"}],
        "failure": [{"code": "signingCredential.untrusted", "explanation": "signing certificate untrusted"}],
    }},
    "validation_state": "Valid",
}


class FakeC2paError(Exception):
    pass


def fake_c2pa(store=None, error: Exception | None = None, calls: list | None = None):
    module = types.ModuleType("c2pa")

    class Context:
        @classmethod
        def from_dict(cls, settings):
            if calls is not None:
                calls.append(("settings", settings))
            return cls()

    class Reader:
        def __init__(self, text):
            self.text = text

        @classmethod
        def try_create(cls, fmt, stream, context=None):
            if calls is not None:
                calls.append(("read", fmt))
            if error is not None:
                raise error
            return None if store is None else cls(json.dumps(store))

        def json(self):
            return self.text

        def close(self):
            pass

    module.Context, module.Reader, module.C2paError = Context, Reader, FakeC2paError
    return module


@pytest.fixture
def plain_jpeg(tmp_path):
    return jpeg(tmp_path / "signed.jpg")


def test_c2pa_manifest_interpreted(monkeypatch, plain_jpeg):
    calls = []
    monkeypatch.setitem(sys.modules, "c2pa", fake_c2pa(FIREFLY_STORE, calls=calls))
    p = read_provenance(plain_jpeg)
    assert p.c2pa_status == "found"
    assert ("read", "image/jpeg") in calls
    settings = next(c[1] for c in calls if c[0] == "settings")
    assert settings["verify"] == {"remote_manifest_fetch": False, "ocsp_fetch": False}
    c2pa = p.c2pa
    assert c2pa["signature"] == "valid" and c2pa["signer"]["issuer"] == "Adobe Inc."
    assert c2pa["claim_generator"].startswith("Adobe_Photoshop")
    assert [a["action"] for a in c2pa["actions"]] == ["c2pa.opened", "c2pa.placed", "c2pa.edited"]
    assert c2pa["ingredients"] == [{"title": "gen.png", "relationship": "parentOf", "manifest": "urn:uuid:gen"}]
    suggests = {f.field: f.suggests for f in p.findings}
    assert suggests["claim_generator"] == "edited"
    assert suggests["actions[0]"] == "unknown" and suggests["actions[1]"] == "edited" and suggests["actions[2]"] == "ai-generated"
    assert suggests["ingredient gen.png: actions[0]"] == "ai-generated"
    assert p.suggests() == "ai-generated"
    assert p.summary() == "C2PA: Adobe_Photoshop/25.0, signed by Adobe Inc. (ai-generated, signature valid, signer not on a trust list)"
    json.dumps(p.to_dict())


@pytest.mark.parametrize(
    "results, state, expected",
    [
        ({"success": [{"code": "signingCredential.trusted"}, {"code": "claimSignature.validated"}]}, "Trusted", "trusted"),
        ({"failure": [{"code": "assertion.dataHash.mismatch"}]}, "Invalid", "invalid"),
        ({"failure": [{"code": "signingCredential.untrusted"}]}, "Invalid", "valid"),
        ({}, "Invalid", "invalid"),
        ({}, None, "unknown"),
    ],
)
def test_c2pa_signature_states(monkeypatch, plain_jpeg, results, state, expected):
    store = {**FIREFLY_STORE, "validation_results": {"activeManifest": results}, "validation_state": state}
    monkeypatch.setitem(sys.modules, "c2pa", fake_c2pa(store))
    p = read_provenance(plain_jpeg)
    assert p.c2pa["signature"] == expected
    assert {"trusted": "trusted signer", "invalid": "INVALID", "valid": "not on a trust list", "unknown": "not checked"}[expected] in p.summary()


def test_c2pa_no_manifest(monkeypatch, plain_jpeg):
    monkeypatch.setitem(sys.modules, "c2pa", fake_c2pa(None))
    p = read_provenance(plain_jpeg)
    assert p.c2pa is None and p.c2pa_status == "none" and p.notes == []


def test_c2pa_remote_manifest_not_fetched(monkeypatch, plain_jpeg):
    error = FakeC2paError("Remote: must fetch remote manifests from url https://example.com/m.c2pa")
    monkeypatch.setitem(sys.modules, "c2pa", fake_c2pa(error=error))
    p = read_provenance(plain_jpeg)
    assert p.c2pa_status == "remote" and by_field(p)["remote_manifest"].value == "https://example.com/m.c2pa"
    assert p.summary().startswith("C2PA: manifest stored remotely, not fetched")


def test_c2pa_reader_error_is_a_note(monkeypatch, plain_jpeg):
    monkeypatch.setitem(sys.modules, "c2pa", fake_c2pa(error=FakeC2paError("JumbfParseError: bad box")))
    p = read_provenance(plain_jpeg)
    assert p.c2pa_status == "error" and p.error is None and any("bad box" in n for n in p.notes)


def test_c2pa_unexpected_store_shape(monkeypatch, plain_jpeg):
    monkeypatch.setitem(sys.modules, "c2pa", fake_c2pa({"manifests": "garbage", "validation_results": []}))
    p = read_provenance(plain_jpeg)  # must not raise
    assert p.c2pa_status == "found"


def test_c2pa_missing_said_once(monkeypatch, plain_jpeg, capsys):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa -> ImportError
    monkeypatch.setattr(c2pa_mod, "_C2PA_WARNED", False)
    first, second = read_provenance(plain_jpeg), read_provenance(plain_jpeg)
    assert first.c2pa_status == second.c2pa_status == "not-installed"
    assert first.notes == second.notes == []
    assert capsys.readouterr().err.count("c2pa-python is not installed") == 1
    assert not prov_mod.c2pa_available()


def test_c2pa_off(monkeypatch, plain_jpeg):
    calls = []
    monkeypatch.setitem(sys.modules, "c2pa", fake_c2pa(FIREFLY_STORE, calls=calls))
    p = read_provenance(plain_jpeg, c2pa=False)
    assert calls == [] and p.c2pa is None and p.c2pa_status == "disabled"


def test_trust_anchor_setting(monkeypatch, plain_jpeg, tmp_path):
    calls = []
    monkeypatch.setitem(sys.modules, "c2pa", fake_c2pa(FIREFLY_STORE, calls=calls))
    pem = tmp_path / "anchors.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv(prov_mod.TRUST_ANCHORS_ENV, str(pem))
    read_provenance(plain_jpeg)
    settings = [c[1] for c in calls if c[0] == "settings"][-1]
    assert settings["trust"]["trust_anchors"].startswith("-----BEGIN CERTIFICATE-----")
    monkeypatch.setenv(prov_mod.TRUST_ANCHORS_ENV, str(tmp_path / "missing.pem"))
    assert any("could not be read" in n for n in read_provenance(plain_jpeg).notes)


# --------------------------------------------------------------------------- #
# C2PA: a real manifest signed offline with a throw-away certificate chain
# --------------------------------------------------------------------------- #
def _test_chain():
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aidetect tests")])

    def usage(**on):
        flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                     key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
        flags.update(on)
        return x509.KeyUsage(**flags)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    validity = dict(not_valid_before=now - datetime.timedelta(days=1), not_valid_after=now + datetime.timedelta(days=7))
    ca = (x509.CertificateBuilder(subject_name=name("aidetect test CA"), issuer_name=name("aidetect test CA"), public_key=ca_key.public_key(),
                                  serial_number=x509.random_serial_number(), **validity)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder(subject_name=name("aidetect test signer"), issuer_name=ca.subject, public_key=key.public_key(),
                                    serial_number=x509.random_serial_number(), **validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return chain, private, ca.public_bytes(pem)


@pytest.fixture(scope="module")
def signed_png(tmp_path_factory):
    """A PNG with a real C2PA manifest (created, trainedAlgorithmicMedia), signed offline."""
    c2pa = pytest.importorskip("c2pa")
    chain, private, ca_pem = _test_chain()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))
    manifest = {
        "claim_generator_info": [{"name": "aidetect test generator", "version": "1.0"}],
        "title": "generated.png",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": TRAINED, "softwareAgent": {"name": "Test Diffusion"}}]}}],
    }
    source, signed = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(source, "PNG")
    source.seek(0)
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, "image/png", source, signed)
    folder = tmp_path_factory.mktemp("c2pa")
    (folder / "ca.pem").write_bytes(ca_pem)
    path = folder / "signed.png"
    path.write_bytes(signed.getvalue())
    return path


def test_real_c2pa_signed_png(signed_png):
    p = read_provenance(signed_png)
    assert p.c2pa_status == "found"
    assert p.c2pa["claim_generator"] == "aidetect test generator 1.0"
    assert p.c2pa["signature"] == "valid"  # intact, but our throw-away CA is on no trust list
    assert p.c2pa["digital_source_types"] == [TRAINED]
    assert p.c2pa["signer"]["common_name"] == "aidetect test signer"
    assert by_field(p)["actions[0]"].suggests == "ai-generated"
    assert p.suggests() == "ai-generated"
    assert "signature valid, signer not on a trust list" in p.summary()


def test_real_c2pa_trusted_with_anchor(signed_png, monkeypatch):
    monkeypatch.setenv(prov_mod.TRUST_ANCHORS_ENV, str(signed_png.parent / "ca.pem"))
    p = read_provenance(signed_png)
    assert p.c2pa["signature"] == "trusted" and "trusted signer" in p.summary()


def test_real_c2pa_tampered_pixels(signed_png, tmp_path):
    data = bytearray(signed_png.read_bytes())
    at = data.index(b"IDAT")
    length = struct.unpack(">I", data[at - 4:at])[0]
    data[at + 10] ^= 0xFF  # change the compressed pixels and fix the chunk CRC: only C2PA can tell
    data[at + 4 + length:at + 8 + length] = struct.pack(">I", zlib.crc32(bytes(data[at:at + 4 + length])) & 0xFFFFFFFF)
    path = tmp_path / "tampered.png"
    path.write_bytes(bytes(data))
    p = read_provenance(path)
    assert p.c2pa["signature"] == "invalid"
    assert "assertion.dataHash.mismatch" in [f["code"] for f in p.c2pa["failures"]]
    assert "signature INVALID" in p.summary()


def test_real_c2pa_plain_file_has_none(tmp_path):
    pytest.importorskip("c2pa")
    path = jpeg(tmp_path / "plain.jpg")
    p = read_provenance(path)
    assert p.c2pa is None and p.c2pa_status == "none" and p.notes == []


def test_real_c2pa_bmp_is_unsupported(tmp_path):
    pytest.importorskip("c2pa")
    path = tmp_path / "x.bmp"
    Image.new("RGB", (4, 4)).save(path)
    p = read_provenance(path)
    assert p.c2pa_status == "unsupported" and p.notes == []


# --------------------------------------------------------------------------- #
# aidetect inspect
# --------------------------------------------------------------------------- #
def test_inspect_json_with_folder_and_errors(tmp_path):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    png(folder / "a1111.png", {"parameters": A1111_TEXT})
    jpeg(folder / "sub" / "edited.jpg", exif_with(Software="Adobe Photoshop 25.0"))
    Image.new("RGB", (8, 8)).save(folder / "plain.png")
    (folder / "broken.png").write_bytes(b"not an image")
    result = runner.invoke(app, ["inspect", "--json", "--no-c2pa", str(folder), str(tmp_path / "missing.jpg")])
    assert result.exit_code == 1, result.output
    records = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    assert set(records) == {"a1111.png", "edited.jpg", "plain.png", "broken.png", "missing.jpg"}
    assert records["a1111.png"]["suggests"] == "ai-generated" and records["a1111.png"]["error"] is None
    assert records["edited.jpg"]["suggests"] == "edited"
    assert records["plain.png"]["summary"] == "no provenance metadata"
    assert "not a recognised image" in records["broken.png"]["error"]
    assert "does not exist" in records["missing.jpg"]["error"]
    assert "skipped" in result.stderr


def test_inspect_text_output(tmp_path):
    path = png(tmp_path / "a1111.png", {"parameters": A1111_TEXT})
    result = runner.invoke(app, ["inspect", "--no-c2pa", str(path)])
    assert result.exit_code == 0, result.output
    assert "a1111.png" in result.stdout and "ai-generated" in result.stdout and "parameters" in result.stdout


def test_cli_import_stays_light():
    import subprocess

    code = "import sys, aidetect.cli.main; assert not {'torch', 'c2pa'} & set(sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_package_stays_at_the_data_layer():
    """aidetect.provenance imports no aidetect module but labels, errors, console and fileio (issue 14)."""
    import ast

    allowed = {"aidetect.labels", "aidetect.errors", "aidetect.console", "aidetect.fileio"}
    for file in Path(prov_mod.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"aidetect.{a.name}" for a in node.names] if node.module == "aidetect" else [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "aidetect" and not name.startswith("aidetect.provenance"):
                    assert name in allowed, f"{file.name} imports {name}"
