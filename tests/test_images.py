"""aidetect.data.images: load_image on a corpus of awkward files, iter_image_files on odd trees."""

from __future__ import annotations

import ast
import builtins
import inspect
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import (  # noqa: E402
    BAD,
    BLUE,
    EXPECTED_SIZES,
    GOOD,
    HUGE_SIZE,
    LABELS,
    RED,
    UNICODE_NAME,
    make_bad_inputs,
    make_symlink_loop,
    make_unreadable,
    permissions_enforced,
)

from aidetect.data import images  # noqa: E402
from aidetect.data.images import (  # noqa: E402
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    iter_image_files,
    load_image,
    max_pixels_from_env,
)
from aidetect.errors import AidetectError, ImageReadError  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return make_bad_inputs(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(autouse=True)
def _no_env_limit(monkeypatch):
    monkeypatch.delenv("AIDETECT_MAX_PIXELS", raising=False)


def _load_quietly(path, **kwargs) -> tuple[Image.Image, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        im = load_image(path, **kwargs)
    return im, [str(w.message) for w in caught]


def _refusal(path, **kwargs) -> str:
    with pytest.raises(ImageReadError) as info:
        load_image(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert Path(path).name in message, message
    return message


def _rgb(im: Image.Image, xy) -> tuple[int, int, int]:
    return tuple(int(v) for v in im.getpixel(xy))


def test_corpus_is_labelled():
    assert GOOD | BAD == set(LABELS) and not GOOD & BAD
    assert set(EXPECTED_SIZES) == GOOD


def test_extensions():
    assert IMAGE_EXTENSIONS == frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


def test_module_imports_no_torch():
    tree = ast.parse(inspect.getsource(images))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "mmap", "os", "stat", "threading", "warnings", "pathlib", "typing",
                        "numpy", "PIL", "aidetect"}, imported


# --------------------------------------------------------------------------- #
# good files: every one loads as RGB of the expected size, without warnings
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("key", sorted(GOOD))
def test_good_file_loads_as_rgb(corpus, key):
    im, caught = _load_quietly(corpus[key])
    assert im.mode == "RGB"
    assert im.size == EXPECTED_SIZES[key]
    assert caught == []
    # Fully decoded and detached from the file.
    assert np.asarray(im).shape == (im.size[1], im.size[0], 3)


def test_cmyk_jpeg_becomes_red(corpus):
    im = load_image(corpus["cmyk_jpeg"])
    r, g, b = _rgb(im, (5, 5))
    assert r > 200 and g < 60 and b < 60


def test_16bit_png_is_scaled_not_clipped(corpus):
    assert Image.open(corpus["png16_gradient"]).mode.startswith("I")  # really 16-bit on disk
    arr = np.asarray(load_image(corpus["png16_gradient"]))
    row = arr[0, :, 0].astype(int)
    assert row.min() == 0 and row.max() == 255
    assert np.all(np.diff(row) >= 0)  # still a monotonic gradient
    assert len(np.unique(row)) > 200  # spread over the range, not clipped to 255
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()


def test_palette_png_with_transparency_no_warning(corpus):
    path = corpus["palette_transparency_png"]
    with warnings.catch_warnings(record=True) as naive:  # the corpus exercises the warning path
        warnings.simplefilter("always")
        Image.open(path).convert("RGB")
    assert naive, "corpus palette PNG should make a naive convert('RGB') warn"
    im, caught = _load_quietly(path)
    assert caught == []
    # alpha dropped, colours kept: pixel (4, 0) uses palette index 1 (red, alpha 128)
    assert _rgb(im, (4, 0)) == (255, 0, 0)


def test_greyscale_and_alpha(corpus):
    grey = load_image(corpus["greyscale_jpeg"])
    r, g, b = _rgb(grey, (0, 0))
    assert r == g == b and abs(r - 128) <= 2
    assert _rgb(load_image(corpus["greyscale_alpha_png"]), (0, 0)) == (200, 200, 200)
    # Fully transparent RGBA: alpha dropped, the colour underneath kept.
    assert _rgb(load_image(corpus["rgba_png"]), (0, 0)) == (10, 20, 30)


def test_tiny_images(corpus):
    assert _rgb(load_image(corpus["tiny_1x1_png"]), (0, 0)) == (1, 2, 3)
    with Image.open(corpus["small_8x8_png"]) as src:
        expected = np.asarray(src.convert("RGB"))
    assert np.array_equal(np.asarray(load_image(corpus["small_8x8_png"])), expected)


def test_exif_orientation_applied(corpus):
    path = corpus["exif_rotated_jpeg"]
    with Image.open(path) as raw:
        assert raw.size == (40, 20) and raw.getexif().get(0x0112) == 6
    im = load_image(path)
    assert im.size == (20, 40)  # width and height swapped
    top, bottom = _rgb(im, (10, 5)), _rgb(im, (10, 34))
    assert top[0] > 200 and top[2] < 60, top  # red on top after a clockwise turn
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_animated_gif_gives_first_frame(corpus):
    with Image.open(corpus["animated_gif"]) as raw:
        assert getattr(raw, "n_frames", 1) == 2
    im = load_image(corpus["animated_gif"])
    assert _rgb(im, (3, 3)) == RED
    assert _rgb(im, (3, 3)) != BLUE


@pytest.mark.parametrize("key", ["webp", "tiff", "bmp", "unicode_spaced_png"])
def test_lossless_formats_roundtrip(corpus, key):
    with Image.open(corpus[key]) as src:
        expected = np.asarray(src.convert("RGB"))
    assert np.array_equal(np.asarray(load_image(corpus[key])), expected)


def test_unicode_and_spaces_in_name(corpus):
    path = corpus["unicode_spaced_png"]
    assert path.name == UNICODE_NAME
    assert load_image(str(path)).size == EXPECTED_SIZES["unicode_spaced_png"]
    assert load_image(os.fsencode(path)).mode == "RGB"  # bytes paths too


def test_result_independent_of_file(corpus, tmp_path):
    src = tmp_path / "copy.png"
    src.write_bytes(corpus["small_8x8_png"].read_bytes())
    im = load_image(src)
    src.unlink()
    assert np.asarray(im).sum() > 0


# --------------------------------------------------------------------------- #
# bad files: ImageReadError, one line, naming the file
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("key", sorted(BAD))
def test_bad_file_raises_one_line_error(corpus, key):
    _refusal(corpus[key])


def test_zero_byte(corpus):
    assert "empty" in _refusal(corpus["zero_byte_jpg"])


@pytest.mark.parametrize("key", ["truncated_jpeg", "truncated_png"])
def test_truncated(corpus, key):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert "truncated" in _refusal(corpus[key])


def test_png_missing_only_its_end_marker(corpus, tmp_path):
    path = tmp_path / "no_iend.png"
    path.write_bytes(corpus["small_8x8_png"].read_bytes()[:-12])  # all pixels there, IEND cut
    assert "truncated" in _refusal(path)


def test_text_named_jpg(corpus):
    assert "not a recognised image" in _refusal(corpus["text_named_jpg"])


def test_missing_file(tmp_path):
    assert "not found" in _refusal(tmp_path / "nope.jpg")


def test_directory_is_refused(tmp_path):
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    assert "folder" in _refusal(folder)


def test_message_format_is_path_reason_fix(corpus):
    message = _refusal(corpus["zero_byte_jpg"])
    assert message.startswith(f"{corpus['zero_byte_jpg']}: ")
    assert ";" in message


def test_newline_in_file_name_stays_one_line(tmp_path):
    path = tmp_path / "bad\nname.jpg"
    path.write_text("not an image")
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    message = str(info.value)
    assert "\n" not in message and "bad\\nname.jpg" in message


def test_unreadable_file_real(tmp_path):
    made = make_unreadable(tmp_path)
    try:
        if not permissions_enforced(made["file"]):
            pytest.skip("running as root: chmod 000 does not stop reading (see the simulated test)")
        assert "permission denied" in _refusal(made["file"])
    finally:
        os.chmod(made["dir"], 0o755)


def test_unreadable_file_simulated(corpus, monkeypatch):
    target = os.fspath(corpus["small_8x8_png"])
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if os.fspath(file) == target:
            raise PermissionError(13, "Permission denied", target)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    message = _refusal(target)
    assert "permission denied" in message and "chmod" in message


def test_other_pil_error_is_wrapped(corpus, monkeypatch):
    def boom(self):
        raise ValueError("decoder exploded\nwith two lines")

    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    message = _refusal(corpus["small_8x8_png"])
    assert "decoder exploded with two lines" in message


# --------------------------------------------------------------------------- #
# pixel limit
# --------------------------------------------------------------------------- #
def test_huge_header_refused_before_decoding(corpus, monkeypatch):
    path = corpus["huge_header_png"]
    assert path.stat().st_size < 1000
    decoded = []
    real_load = ImageFile.ImageFile.load

    def spy(self):
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        message = _refusal(path)
    assert decoded == []  # refused from the header alone (no wall-clock bound: the machine is shared)
    assert caught == []  # no DecompressionBombWarning spew
    assert f"{HUGE_SIZE[0]}x{HUGE_SIZE[1]}" in message and "limit" in message
    assert "AIDETECT_MAX_PIXELS" in message


def test_huge_header_not_refused_for_size_when_limit_raised(corpus):
    before = Image.MAX_IMAGE_PIXELS
    message = _refusal(corpus["huge_header_png"], max_pixels=HUGE_SIZE[0] * HUGE_SIZE[1])
    assert "limit" not in message and "truncated" in message  # it gets to decoding, which fails
    assert Image.MAX_IMAGE_PIXELS == before  # PIL's global restored


def test_env_limit(corpus, monkeypatch):
    assert max_pixels_from_env() == DEFAULT_MAX_PIXELS == 100_000_000
    monkeypatch.setenv("AIDETECT_MAX_PIXELS", "63")
    assert max_pixels_from_env() == 63
    assert "limit of 63" in _refusal(corpus["small_8x8_png"])  # 8x8 = 64 pixels
    assert load_image(corpus["small_8x8_png"], max_pixels=64).size == (8, 8)  # argument wins
    monkeypatch.setenv("AIDETECT_MAX_PIXELS", "1_000")
    assert max_pixels_from_env() == 1000


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5"])
def test_bad_env_limit(monkeypatch, value):
    monkeypatch.setenv("AIDETECT_MAX_PIXELS", value)
    with pytest.raises(AidetectError, match="AIDETECT_MAX_PIXELS"):
        max_pixels_from_env()


def test_bad_limit_argument(corpus):
    with pytest.raises(AidetectError, match="max_pixels"):
        load_image(corpus["small_8x8_png"], max_pixels=0)


def test_our_limit_overrides_pils(corpus, monkeypatch):
    # 64 pixels > 2 x PIL's limit: PIL alone would raise; ours (the default) allows it.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    im, caught = _load_quietly(corpus["small_8x8_png"])
    assert im.size == (8, 8) and caught == []
    assert Image.MAX_IMAGE_PIXELS == 10
    # Between PIL's limit and twice it: PIL would only warn; we stay silent.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    im, caught = _load_quietly(corpus["small_8x8_png"])
    assert im.size == (8, 8) and caught == []
    # And a limit below PIL's is still ours, with our message.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    assert "8x8" in _refusal(corpus["small_8x8_png"], max_pixels=63)


# --------------------------------------------------------------------------- #
# iter_image_files
# --------------------------------------------------------------------------- #
def _touch_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (2, 2)).save(path, "PNG")
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "tree"
    for rel in [
        "b.png",
        "A/UPPER.JPG",
        "A/lower.jpeg",
        "A/deep/deeper/x.TIFF",
        "A/deep/y.WebP",
        "space dir/ünï.gif",
        ".hidden.png",
        ".hidden_dir/inside.png",
        "z.Bmp",
        "z.tif",
    ]:
        _touch_png(root / rel)
    (root / "notes.txt").write_text("not an image")
    (root / "README").write_text("no extension")
    return root


def _collect(paths):
    errors: list[tuple[str, str]] = []
    found = list(iter_image_files(paths, on_error=lambda p, r: errors.append((p, r))))
    return found, errors


def test_iter_recursive_sorted_case_insensitive_skips_hidden(tree):
    found, errors = _collect([tree])
    rel = [p.relative_to(tree).as_posix() for p in found]
    assert rel == [
        "A/UPPER.JPG",
        "A/deep/deeper/x.TIFF",
        "A/deep/y.WebP",
        "A/lower.jpeg",
        "b.png",
        "space dir/ünï.gif",
        "z.Bmp",
        "z.tif",
    ]
    assert errors == []
    assert all(isinstance(p, Path) and p.is_file() for p in found)


def test_iter_is_lazy(tree, monkeypatch):
    gen = iter_image_files([tree], on_error=lambda p, r: None)
    assert inspect.isgenerator(gen)
    listed: list[str] = []
    real_scandir = os.scandir

    def counting(path="."):
        listed.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(images.os, "scandir", counting)
    first = next(gen)
    assert first.name == "UPPER.JPG"
    assert len(listed) == 2  # root and A only; nothing else listed yet
    gen.close()


def test_iter_accepts_single_path_and_str(tree):
    assert list(iter_image_files(str(tree / "A" / "deep"), on_error=None)) == [
        tree / "A/deep/deeper/x.TIFF",
        tree / "A/deep/y.WebP",
    ]


def test_iter_explicit_file_whatever_extension(tree):
    found, errors = _collect([tree / "notes.txt", tree / ".hidden.png", tree / "README"])
    assert found == [tree / "notes.txt", tree / ".hidden.png", tree / "README"]
    assert errors == []


def test_iter_missing_path_reported(tree):
    missing = tree / "does not exist"
    found, errors = _collect([missing, tree / "b.png"])
    assert found == [tree / "b.png"]
    assert len(errors) == 1 and errors[0][0] == str(missing) and "does not exist" in errors[0][1]


def test_iter_default_on_error_warns_on_stderr(tmp_path, capsys):
    assert list(iter_image_files([tmp_path / "gone"])) == []
    assert "gone" in capsys.readouterr().err


def test_iter_symlink_loop(tmp_path):
    root = make_symlink_loop(tmp_path)
    found, errors = _collect([root])  # returns at all: each directory is listed once
    assert [p.relative_to(root).as_posix() for p in found] == ["a.png", "sub/b.png"]
    reported = {Path(p).name: r for p, r in errors}
    assert "back" in reported and "loop" in reported["back"]
    assert "self_loop.jpg" in reported  # a link to itself is reported, not followed


def test_iter_same_folder_twice_scanned_once(tree):
    found, errors = _collect([tree / "A", tree / "A" / "deep"])
    assert len(found) == len(set(found)) == 4
    assert len(errors) == 1 and "already scanned" in errors[0][1]


def test_iter_symlinked_folder_followed(tree, tmp_path):
    link = tmp_path / "link_to_deep"
    os.symlink(tree / "A" / "deep", link, target_is_directory=True)
    found, errors = _collect([link])
    assert [p.name for p in found] == ["x.TIFF", "y.WebP"] and errors == []


def test_iter_broken_symlink_reported(tmp_path):
    os.symlink(tmp_path / "nowhere.png", tmp_path / "dangling.png")
    found, errors = _collect([tmp_path])
    assert found == [] and len(errors) == 1 and "broken" in errors[0][1]


def test_iter_unreadable_directory_real(tmp_path):
    made = make_unreadable(tmp_path)
    try:
        if not permissions_enforced(made["file"]):
            pytest.skip("running as root: chmod 000 does not stop reading (see the simulated test)")
        found, errors = _collect([tmp_path])
        assert made["dir"] / "inside.png" not in found
        assert any("permission denied" in r for _, r in errors)
    finally:
        os.chmod(made["dir"], 0o755)


def test_iter_unreadable_directory_simulated(tree, monkeypatch):
    real_scandir = os.scandir
    blocked = os.fspath(tree / "A")

    def fake(path="."):
        if os.fspath(path) == blocked:
            raise PermissionError(13, "Permission denied", blocked)
        return real_scandir(path)

    monkeypatch.setattr(images.os, "scandir", fake)
    found, errors = _collect([tree])
    assert [p.relative_to(tree).as_posix() for p in found] == ["b.png", "space dir/ünï.gif", "z.Bmp", "z.tif"]
    assert errors and errors[0][0] == blocked and "permission denied" in errors[0][1]


def test_iter_then_load_every_corpus_file(corpus):
    folder = corpus["cmyk_jpeg"].parent
    loaded, refused = [], []
    for path in iter_image_files([folder], on_error=lambda p, r: None):
        try:
            load_image(path)
            loaded.append(path)
        except ImageReadError:
            refused.append(path)
    names = {v.name: k for k, v in corpus.items()}
    assert {names[p.name] for p in loaded} == GOOD
    assert {names[p.name] for p in refused} == BAD
