"""aidetect.provenance.watermark: the invisible DWT-DCT marks of reference generation code.

Each mark is embedded with imwatermark's own encoder, the way its writer does
(the Stable Diffusion scripts on the 8-bit BGR image; diffusers, Stability's
generative-models and FLUX on a float image), saved as PNG and read back with
read_provenance. Skipped without the watermark extra (invisible-watermark),
except the tests of what happens without it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from aidetect.cli.main import app
from aidetect.provenance import KNOWN_WATERMARKS, read_provenance, watermark_available
from aidetect.provenance import watermark as wm

REPO = Path(__file__).resolve().parents[1]
#: A real photograph on which all four marks decode cleanly when embedded (skimage's astronaut, 512×512).
PHOTO = REPO.parent / "shared" / "data" / "photos" / "skimage_astronaut.jpg"
#: A real photograph shipped with the package (256×256).
BUNDLED_PHOTO = REPO / "aidetect" / "bundled" / "examples" / "real.png"
MARKS = {mark.name: mark for mark in KNOWN_WATERMARKS}

needs_imwatermark = pytest.mark.skipif(
    importlib.util.find_spec("imwatermark") is None or not watermark_available(),
    reason="the watermark extra is not installed (pip install 'aidetect[watermark]', i.e. invisible-watermark)",
)
runner = CliRunner()


# --------------------------------------------------------------------------- #
# the writers, as their reference code embeds (imwatermark's encoder)
# --------------------------------------------------------------------------- #
def _encoder(mark):
    from imwatermark import WatermarkEncoder

    encoder = WatermarkEncoder()
    if mark.name in ("StableDiffusionV1", "SDV2"):
        encoder.set_watermark("bytes", mark.name.encode("utf-8"))
    else:
        encoder.set_watermark("bits", list(mark.bits))
    return encoder


def sd_script(rgb: np.ndarray, mark) -> np.ndarray:
    """CompVis / Stability scripts/txt2img.py: cv2 RGB2BGR, encode the uint8 image, back to RGB."""
    import cv2

    bgr = _encoder(mark).encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), "dwtDct")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def diffusers_sdxl(rgb: np.ndarray, *, bgr: bool = True) -> np.ndarray:
    """diffusers StableDiffusionXLWatermarker on the pipeline's [-1, 1] image, then numpy_to_pil.

    ``bgr=False``: the early releases, which passed RGB where imwatermark expects BGR.
    """
    x = rgb.astype(np.float32) / 127.5 - 1.0
    image = 255 * (x / 2 + 0.5)
    if bgr:
        image = image[:, :, ::-1]
    out = _encoder(MARKS["SDXL"]).encode(image, "dwtDct")
    if bgr:
        out = out[:, :, ::-1]
    x = np.clip(2 * (out / 255 - 0.5), -1.0, 1.0)
    return np.round((x / 2 + 0.5) * 255).astype(np.uint8)


def flux_reference(rgb: np.ndarray) -> np.ndarray:
    """black-forest-labs/flux util.WatermarkEmbedder then save_image's (127.5 * (x + 1)).byte()."""
    x = rgb.astype(np.float32) / 127.5 - 1.0
    image = np.ascontiguousarray((255 * (0.5 * x + 0.5))[:, :, ::-1])
    out = _encoder(MARKS["FLUX.1"]).encode(image, "dwtDct")[:, :, ::-1]
    x = 2 * np.clip(out / 255, 0.0, 1.0) - 1
    return (127.5 * (x + 1.0)).astype(np.uint8)


WRITERS = {
    "StableDiffusionV1": lambda rgb: sd_script(rgb, MARKS["StableDiffusionV1"]),
    "SDV2": lambda rgb: sd_script(rgb, MARKS["SDV2"]),
    "SDXL": diffusers_sdxl,
    "FLUX.1": flux_reference,
}


def textured(size: int = 512, seed: int = 0) -> np.ndarray:
    """A colourful natural-looking texture: random colour cells, bicubic-smoothed, with sensor-like noise."""
    rng = np.random.default_rng(seed)
    cells = rng.uniform(0, 255, size=(size // 8, size // 8, 3)).astype(np.uint8)
    image = np.asarray(Image.fromarray(cells).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def photo() -> np.ndarray:
    if not PHOTO.is_file():
        pytest.skip(f"{PHOTO} is absent (shared/ beside the repository)")
    return np.asarray(Image.open(PHOTO).convert("RGB"))


def save_png(rgb: np.ndarray, path: Path) -> Path:
    Image.fromarray(rgb).save(path, "PNG")
    return path


def watermark_findings(p):
    return {f.field: f for f in p.findings if f.source == "watermark"}


# --------------------------------------------------------------------------- #
# found, and named
# --------------------------------------------------------------------------- #
@needs_imwatermark
@pytest.mark.parametrize("name", list(WRITERS))
def test_mark_embedded_in_a_photo_is_found_and_named(name, tmp_path):
    path = save_png(WRITERS[name](photo()), tmp_path / "marked.png")
    p = read_provenance(path, c2pa=False)
    assert p.watermark_status == "found", p.watermark
    assert set(watermark_findings(p)) == {name}
    finding = watermark_findings(p)[name]
    assert finding.suggests == "ai-generated" and MARKS[name].made_by in finding.detail
    assert f"of {len(MARKS[name].bits)} bits" in finding.value
    assert p.watermark["agreement"][name] >= wm.MATCH_AGREEMENT and p.watermark["matched"] == [name]
    assert p.suggests() == "ai-generated" and p.summary().startswith(f"watermark {name}: invisible watermark of")
    json.dumps(p.to_dict())


@needs_imwatermark
@pytest.mark.parametrize("name", list(WRITERS))
def test_mark_embedded_in_a_synthetic_image_is_found(name, tmp_path):
    path = save_png(WRITERS[name](textured()), tmp_path / "marked.png")
    p = read_provenance(path, c2pa=False)
    assert set(watermark_findings(p)) == {name}


@needs_imwatermark
def test_early_diffusers_channel_order_is_found(tmp_path):
    path = save_png(diffusers_sdxl(photo(), bgr=False), tmp_path / "sdxl-rgb.png")
    finding = watermark_findings(read_provenance(path, c2pa=False))["SDXL"]
    assert "float32 RGB" in finding.value


@needs_imwatermark
def test_mark_at_the_minimum_size(tmp_path):
    path = save_png(sd_script(textured(256, seed=3), MARKS["SDV2"]), tmp_path / "small.png")
    assert set(watermark_findings(read_provenance(path, c2pa=False))) == {"SDV2"}


@needs_imwatermark
def test_mark_beside_generator_metadata_leaves_the_summary_to_the_metadata(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, Seed: 1, Model: v1-5-pruned-emaonly")
    path = tmp_path / "both.png"
    Image.fromarray(WRITERS["StableDiffusionV1"](photo())).save(path, "PNG", pnginfo=info)
    p = read_provenance(path, c2pa=False)
    assert p.summary().startswith("PNG parameters:") and p.summary().endswith("+1 more")
    assert "StableDiffusionV1" in watermark_findings(p)


# --------------------------------------------------------------------------- #
# not flagged
# --------------------------------------------------------------------------- #
@needs_imwatermark
@pytest.mark.parametrize("source", ["photo", "bundled", "textured"])
def test_image_without_a_mark_is_not_flagged(source, tmp_path):
    rgb = {"photo": photo, "bundled": lambda: np.asarray(Image.open(BUNDLED_PHOTO).convert("RGB")), "textured": textured}[source]()
    p = read_provenance(save_png(rgb, tmp_path / "plain.png"), c2pa=False)
    assert p.watermark_status == "none" and watermark_findings(p) == {}
    assert p.findings == [] and p.summary() == "no provenance metadata"
    assert set(p.watermark["agreement"]) == set(MARKS) and max(p.watermark["agreement"].values()) < 0.8
    assert p.watermark["matched"] == []


@needs_imwatermark
def test_sizes_outside_the_checked_range(tmp_path, monkeypatch):
    small = save_png(textured(256)[:, :255], tmp_path / "small.png")
    assert read_provenance(small, c2pa=False).watermark_status == "too-small"
    monkeypatch.setattr(wm, "MAX_PIXELS", 300 * 300)
    big = save_png(WRITERS["SDV2"](textured(512)), tmp_path / "big.png")
    p = read_provenance(big, c2pa=False)
    assert p.watermark_status == "too-large" and p.watermark is None and watermark_findings(p) == {}


@needs_imwatermark
def test_truncated_pixels_are_a_note(tmp_path):
    path = save_png(textured(512), tmp_path / "cut.png")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    p = read_provenance(path, c2pa=False)
    assert p.watermark_status == "error" and any(n.startswith("watermark:") for n in p.notes)


def test_unreadable_file_and_switch_off(tmp_path):
    (tmp_path / "page.png").write_text("<html>not an image</html>")
    assert read_provenance(tmp_path / "page.png", c2pa=False).watermark_status == "unsupported"
    plain = save_png(textured(256), tmp_path / "plain.png")
    p = read_provenance(plain, c2pa=False, watermark=False)
    assert p.watermark_status == "disabled" and p.watermark is None


# --------------------------------------------------------------------------- #
# without the extra
# --------------------------------------------------------------------------- #
def test_without_the_extra_nothing_is_said(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(wm, "_libraries", lambda: None)
    path = tmp_path / "marked.png"
    Image.fromarray(textured(512)).save(path)
    p = read_provenance(path, c2pa=False)
    assert p.watermark_status == "not-installed" and p.watermark is None
    assert p.findings == [] and p.notes == [] and p.summary() == "no provenance metadata"
    assert capsys.readouterr().err == ""
    assert not watermark_available()
    with pytest.raises(ImportError, match="aidetect\\[watermark\\]"):
        wm.agreements(textured(256))


def test_without_imwatermark_the_check_is_off(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "imwatermark", None)  # as if its import had failed
    assert wm._libraries() is None


# --------------------------------------------------------------------------- #
# the decoder is imwatermark's, bit for bit
# --------------------------------------------------------------------------- #
@needs_imwatermark
@pytest.mark.parametrize("view", wm.VIEWS)
def test_decoder_matches_imwatermark(view):
    from imwatermark import WatermarkDecoder

    images = [textured(256, seed=1), textured(512, seed=2)[:301, :377], np.asarray(Image.open(BUNDLED_PHOTO).convert("RGB"))]
    images.append(sd_script(textured(320, seed=4), MARKS["StableDiffusionV1"]))
    for rgb in images:
        blocks = wm.block_bits(rgb, view)
        source = {"uint8 BGR": rgb[..., ::-1], "float32 BGR": rgb[..., ::-1].astype(np.float32), "float32 RGB": rgb.astype(np.float32)}[view]
        for length in sorted({len(mark.bits) for mark in KNOWN_WATERMARKS} | {8}):
            expected = np.asarray(WatermarkDecoder("bits", length).decode(np.ascontiguousarray(source), "dwtDct"), dtype=bool)
            assert np.array_equal(wm.decode(blocks, length), expected), (rgb.shape, view, length)


def test_known_messages():
    assert [m.name for m in KNOWN_WATERMARKS] == ["StableDiffusionV1", "SDV2", "SDXL", "FLUX.1"]
    assert len(MARKS["StableDiffusionV1"].bits) == 136 and len(MARKS["SDV2"].bits) == 32
    # As the reference code computes them: [int(bit) for bit in bin(WATERMARK_MESSAGE)[2:]].
    assert MARKS["SDXL"].bits == tuple(int(b) for b in bin(0xB3EC907BB19E)[2:]) and len(MARKS["SDXL"].bits) == 48
    assert MARKS["FLUX.1"].bits == tuple(int(b) for b in bin(0x2AFE879CF52E)[2:]) and len(MARKS["FLUX.1"].bits) == 46
    assert wm._bits_of_bytes(b"A") == (0, 1, 0, 0, 0, 0, 0, 1)


# --------------------------------------------------------------------------- #
# beside the other metadata in aidetect inspect
# --------------------------------------------------------------------------- #
@needs_imwatermark
def test_inspect_shows_the_mark(tmp_path):
    marked = save_png(WRITERS["SDXL"](photo()), tmp_path / "sdxl.png")
    save_png(photo(), tmp_path / "plain.png")
    result = runner.invoke(app, ["inspect", "--json", "--no-c2pa", str(tmp_path)])
    assert result.exit_code == 0, result.output
    records = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    assert records["sdxl.png"]["suggests"] == "ai-generated" and records["sdxl.png"]["watermark_status"] == "found"
    assert records["sdxl.png"]["findings"][0]["source"] == "watermark"
    assert records["plain.png"]["watermark_status"] == "none" and records["plain.png"]["summary"] == "no provenance metadata"
    text = runner.invoke(app, ["inspect", "--no-c2pa", str(marked)])
    assert text.exit_code == 0 and "watermark SDXL" in text.stdout and "ai-generated" in text.stdout
