"""Checkable evidence in the gallery (issue 15, item 5): per-row thumbnails and portable paths.

Thumbnails are lossless PNG bytes kept through every change and covered by a hash;
paths are stored relative to a named source root and resolved on this machine.
Galleries written before (absolute paths, no thumbnails) load and behave as before,
and the previous loader still reads a gallery written now.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aidetect.errors import AidetectError, CorruptFileError
from aidetect.gallery import Gallery
from aidetect.gallery.storage import _encode_paths
from aidetect.gallery.thumbnails import (
    PNG_SIGNATURE,
    THUMBNAIL_SIZE,
    decode_png,
    encode_png,
    make_thumbnail,
    thumbnail_from_image,
    thumbnails_for,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURE_GALLERY = REPO / "tests" / "fixtures" / "model_v0_1" / "gallery.npz"
DIM = 8


def unit(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def shas(tag: str, n: int) -> list[str]:
    return [hashlib.sha256(f"{tag}-{i}".encode()).hexdigest() for i in range(n)]


def pattern(seed: int, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- making thumbnails


def test_thumbnail_is_the_centre_square_resized(tmp_path):
    # 300×200: a red band 50 px wide on each side, green in the middle 200×200
    image = np.zeros((200, 300, 3), np.uint8)
    image[:, :50] = (255, 0, 0)
    image[:, 250:] = (255, 0, 0)
    image[:, 50:250] = (0, 200, 0)
    Image.fromarray(image).save(tmp_path / "wide.png")
    thumb = make_thumbnail(tmp_path / "wide.png")
    assert thumb.shape == (64, 64, 3) and thumb.dtype == np.uint8
    assert np.all(thumb == (0, 200, 0))  # the bands were cropped away
    assert thumbnail_from_image(image, 16).shape == (16, 16, 3)
    # lossless: PNG round trip gives the same pixels
    assert np.array_equal(decode_png(encode_png(thumb)), thumb)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    made = thumbnails_for([tmp_path / "wide.png", tmp_path / "broken.png"])
    assert made[0].shape == (64, 64, 3) and made[1] is None


def test_decode_refuses_non_png_and_huge_claims():
    with pytest.raises(AidetectError, match="not PNG"):
        decode_png(b"GIF89a....")
    big = io.BytesIO()
    Image.new("RGB", (300, 10)).save(big, format="PNG")
    with pytest.raises(AidetectError, match="limit"):
        decode_png(big.getvalue())


# --------------------------------------------------------------------------- thumbnails in the gallery


def gallery_with_thumbnails() -> tuple[Gallery, list]:
    g = Gallery.create("m", DIM)
    thumbs = [pattern(i) for i in range(5)]
    thumbs[3] = None  # one file gave none
    g.add(unit(5, seed=1), "a", [f"/a/{i}" for i in range(5)], shas("a", 5), thumbnails=thumbs)
    g.add(unit(3, seed=2), "b", ["/b/0", "/b/1", "/b/2"], shas("b", 3))  # thumbnails=None: none stored
    return g, thumbs


def test_thumbnails_round_trip_and_survive_changes(tmp_path):
    g, thumbs = gallery_with_thumbnails()
    assert g.thumbnail_count == 4
    assert g.thumbnail(0)[:8] == PNG_SIGNATURE and np.array_equal(g.thumbnail_array(0), thumbs[0])
    assert g.thumbnail(3) is None and g.thumbnail(6) is None and g.thumbnail_array(6) is None
    fingerprint = g.fingerprint
    plain = Gallery.create("m", DIM)
    plain.add(unit(5, seed=1), "a", [f"/a/{i}" for i in range(5)], shas("a", 5))
    plain.add(unit(3, seed=2), "b", ["/b/0", "/b/1", "/b/2"], shas("b", 3))
    assert plain.fingerprint == fingerprint  # thumbnails are evidence, not content: verdicts are the same

    for mmap in (False, True):
        g.save(tmp_path / "g.npz")
        h = Gallery.load(tmp_path / "g.npz", mmap=mmap)
        assert [h.thumbnail(i) for i in range(8)] == [g.thumbnail(i) for i in range(8)]
        assert h.verify() == [] and Gallery.verify_file(tmp_path / "g.npz") == []
    s = h.subset([4, 0, 7])
    assert np.array_equal(s.thumbnail_array(0), thumbs[4]) and np.array_equal(s.thumbnail_array(1), thumbs[0])
    assert s.thumbnail(2) is None
    h.remove_class("b")
    # a later add aligns thumbnails with rows; a removal in the middle keeps them aligned
    h.add(unit(2, seed=3), "c", ["/c/0", "/c/1"], shas("c", 2), thumbnails=[pattern(10), pattern(11)])
    batch = h.log[-1]["enrollment"]
    h.remove_class("a")
    assert np.array_equal(h.thumbnail_array(0), pattern(10)) and np.array_equal(h.thumbnail_array(1), pattern(11))
    h.save(tmp_path / "g.npz")
    assert Gallery.load(tmp_path / "g.npz").thumbnail_count == 2
    h.remove_enrollment(batch)
    assert h.thumbnail_count == 0


def test_thumbnail_arguments_are_checked():
    g = Gallery.create("m", DIM)
    with pytest.raises(AidetectError, match="thumbnails"):
        g.add(unit(2), "a", ["/1", "/2"], shas("x", 2), thumbnails=[pattern(0)])
    with pytest.raises(AidetectError, match="not PNG"):
        g.add(unit(1), "a", ["/1"], shas("x", 1), thumbnails=[b"GIF89a"])
    with pytest.raises(AidetectError, match="limit"):
        g.add(unit(1), "a", ["/1"], shas("x", 1), thumbnails=[np.zeros((300, 300, 3), np.uint8)])
    assert len(g) == 0 and len(g.log) == 1  # nothing changed, nothing logged
    # PNG bytes and PIL images are taken as they are
    png = encode_png(pattern(1))
    g.add(unit(2), "a", ["/1", "/2"], shas("x", 2), thumbnails=[png, Image.fromarray(pattern(2))])
    assert g.thumbnail(0) == png and np.array_equal(g.thumbnail_array(1), pattern(2))
    # skipped duplicates drop their thumbnails
    g.add(unit(2, seed=5), "a", ["/3", "/1"], [shas("y", 1)[0], shas("x", 2)[0]], thumbnails=[pattern(3), pattern(4)])
    assert g.thumbnail_count == 3 and np.array_equal(g.thumbnail_array(2), pattern(3))


def _rewrite_member(path: Path, key: str, fn) -> None:
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays[key] = fn(arrays[key].copy())
    np.savez(path, **arrays)


def test_edited_thumbnails_are_refused(tmp_path):
    g, _ = gallery_with_thumbnails()
    path = tmp_path / "g.npz"
    g.save(path)

    def flip(blob):
        blob[100] ^= 0xFF
        return blob

    _rewrite_member(path, "thumbnail_blob", flip)
    with pytest.raises(CorruptFileError, match="thumbnails were edited"):
        Gallery.load(path)
    # thumbnails without the hash that covers them (metadata of an older writer): refused too
    g.save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["meta"].tobytes())
    del meta["extras_sha256"]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(CorruptFileError, match="no hash covers"):
        Gallery.load(path)


def test_set_thumbnails_on_an_old_gallery(tmp_path):
    path = tmp_path / "old.npz"
    shutil.copy(FIXTURE_GALLERY, path)
    g = Gallery.load(path)
    fingerprint = g.fingerprint
    g.set_thumbnails([0, 2], [pattern(0), pattern(2)])
    assert g.thumbnail_count == 2 and g.thumbnail(1) is None and g.fingerprint == fingerprint
    g.save(path)
    assert np.array_equal(Gallery.load(path).thumbnail_array(2), pattern(2))


# --------------------------------------------------------------------------- portable paths


def test_paths_relative_to_a_source_root(tmp_path):
    root = tmp_path / "zoo" / "train"
    (root / "sd14").mkdir(parents=True)
    files = [root / "sd14" / f"{i}.png" for i in range(3)]
    for f in files:
        f.write_bytes(b"png")
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"png")
    g = Gallery.create("m", DIM)
    g.add(unit(4), "sd14", [*map(str, files), str(outside)], shas("p", 4), source_root=root)
    assert g.source_roots == ["train"]
    assert g.display_path(0) == "train/sd14/0.png" == g.paths[0]
    assert g.root_label(0) == "train" and g.relative_path(0) == "sd14/0.png"
    assert g.display_path(3) == str(outside) and g.root_label(3) is None and g.relative_path(3) is None
    # on this machine
    assert g.resolve_path(1, {"train": root}) == files[1]
    assert g.resolve_path(3) == outside  # an absolute path is looked up as it is
    assert g.resolve_path(1) is None  # the root's folder on this machine is not known
    # on another machine: the same gallery, the files under another folder
    g.save(tmp_path / "g.npz")
    moved = tmp_path / "mirror" / "train"
    shutil.copytree(root, moved)
    shutil.rmtree(root)
    h = Gallery.load(tmp_path / "g.npz")
    assert h.display_path(2) == "train/sd14/2.png"
    assert h.resolve_path(2, {"train": moved}) == moved / "sd14" / "2.png"
    assert h.resolve_path(2, {"train": root}) is None  # not there any more
    assert h.verify() == []
    # through subset and removals the labels stay with their rows
    s = h.subset([3, 2])
    assert s.root_label(0) is None and s.display_path(1) == "train/sd14/2.png"
    assert s.resolve_path(1, {"train": moved}) == moved / "sd14" / "2.png"


def test_named_roots_and_labels(tmp_path):
    a, b = tmp_path / "photos", tmp_path / "photos" / "nested"
    b.mkdir(parents=True)
    g = Gallery.create("m", DIM)
    g.add(unit(2), "real", [str(a / "x.png"), str(b / "y.png")], shas("n", 2), source_root={"mine": a, "deep": b})
    assert list(g.paths) == ["mine/x.png", "deep/y.png"]  # the longest matching root wins
    g.add(unit(1, seed=2), "real", [str(a / "z.png")], shas("z", 1), source_root=a, root_label="cam")
    assert g.paths[2] == "cam/z.png" and g.source_roots == ["mine", "deep", "cam"]
    for bad in ("", "a/b", "..", " x"):
        with pytest.raises(AidetectError, match="source root"):
            g.add(unit(1, seed=3), "real", ["/q"], shas("q", 1), source_root=a, root_label=bad)
    with pytest.raises(AidetectError, match="source_root"):
        g.add(unit(1, seed=3), "real", ["/q"], shas("q", 1), root_label="cam")


def test_a_forged_relative_path_is_never_followed(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"x")
    g = Gallery.create("m", DIM)
    g.add(unit(1), "a", [str(root / "ok.png")], shas("f", 1), source_root=root)
    g._path_blob, g._path_offsets = _encode_paths(["root/../secret.png"])
    assert g.resolve_path(0, {"root": root}) is None
    assert any("source root" in p for p in g.verify())


def test_set_source_root_on_absolute_paths(tmp_path):
    path = tmp_path / "old.npz"
    shutil.copy(FIXTURE_GALLERY, path)
    g = Gallery.load(path)
    first = g.paths[0]
    folder = str(Path(first).parent.parent)
    fingerprint = g.fingerprint
    changed = g.set_source_root(folder, root_label="data")
    assert changed >= 1 and g.root_label(0) == "data"
    assert g.display_path(0) == "data/" + Path(first).relative_to(folder).as_posix()
    assert g.fingerprint == fingerprint
    g.save(path)
    assert Gallery.load(path).verify() == []


def test_old_gallery_behaves_as_before(tmp_path):
    g = Gallery.load(FIXTURE_GALLERY)
    assert g.source_roots == [] and g.thumbnail_count == 0
    assert g.thumbnail(0) is None and g.root_label(0) is None and g.relative_path(0) is None
    assert g.display_path(0) == g.paths[0] and Path(g.paths[0]).is_absolute()
    assert g.resolve_path(0) is None or g.resolve_path(0) == Path(g.paths[0])
    assert g.resolve_path(0, {"anything": tmp_path}) == g.resolve_path(0)


# --------------------------------------------------------------------------- the previous loader


def _previous_loader(tmp_path: Path):
    """The gallery modules of the commit before these changes, imported from git."""
    commit = "06fb318"
    try:
        npz = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:aidetect/gallery/npz.py"],
                             capture_output=True, text=True, check=True).stdout
        storage = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:aidetect/gallery/storage.py"],
                                 capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the previous commit is not available (no git history)")
    (tmp_path / "old_gallery_npz.py").write_text(npz)
    (tmp_path / "old_gallery_storage.py").write_text(storage.replace("aidetect.gallery.npz", "old_gallery_npz"))
    sys.path.insert(0, str(tmp_path))
    try:
        spec = importlib.util.spec_from_file_location("old_gallery_storage", tmp_path / "old_gallery_storage.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("old_gallery_npz", None)
    return module.Gallery


def test_previous_loader_reads_a_gallery_written_now(tmp_path):
    OldGallery = _previous_loader(tmp_path)
    root = tmp_path / "imgs"
    g, _ = gallery_with_thumbnails()
    g.add(unit(1, seed=9), "c", [str(root / "c.png")], shas("c", 1), source_root=root)
    g.save(tmp_path / "new.npz")
    old = OldGallery.load(tmp_path / "new.npz")
    assert old.fingerprint == g.fingerprint and old.classes() == g.classes()
    assert old.paths[8] == "imgs/c.png"  # the display path: meaningful to the old reader too
    assert old.verify() == []
