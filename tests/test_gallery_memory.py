"""A memory-mapped gallery keeps only what a search reads resident (issue 18, item 4).

``Gallery.load(mmap=True)`` maps every large member from the file; once loading has checked
the hashes, the digests, paths, enrollment ids and thumbnails leave the process's resident
memory (their pages are paged back in when a row is shown). Nothing a caller sees changes:
a mapped gallery answers exactly like one read into memory, old files included.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from aidetect.gallery import Gallery
from aidetect.gallery.npz import MAPPED_KEYS, release_pages

from test_gallery import DIM, MODEL, REPO, shas, unit


def rich_gallery(tmp_path: Path, n: int = 40) -> Gallery:
    """Two enrollments, a source root, thumbnails on some rows, non-ASCII paths."""
    root = tmp_path / "zoo"
    g = Gallery.create(MODEL, DIM, source="test")
    thumbs = [np.full((4, 4, 3), i, dtype=np.uint8) if i % 3 == 0 else None for i in range(n)]
    g.add(unit(n, seed=1), "a", [str(root / f"ä/{i}.png") for i in range(n)], shas("a", n), thumbnails=thumbs,
          source_root=root)
    g.add(unit(7, seed=2), "b", [f"/elsewhere/图像{i}.jpg" for i in range(7)], shas("b", 7))
    return g


def everything(g: Gallery) -> dict:
    q = unit(9, dim=g.embedding_dim, seed=5)
    sims, idx = g.search(q, 5)
    sub = g.subset(np.arange(0, len(g), 2))
    return {
        "paths": list(g.paths), "sha": list(g.sha256s), "fingerprint": g.fingerprint, "classes": g.classes(),
        "enrollments": g.enrollments(), "roots": g.source_roots, "thumbs": [g.thumbnail(i) for i in range(len(g))],
        "rows": [(g.display_path(i), g.root_label(i), g.relative_path(i)) for i in range(len(g))],
        "search": (sims.tobytes(), idx.tolist()), "verify": g.verify(), "slices": (g.paths[3:9], g.sha256s[-2:]),
        "subset": (sub.fingerprint, list(sub.paths), list(sub.sha256s)),
        "contains": g.contains_sha256(shas("a", 3) + shas("zz", 1)).tolist(),
    }


def test_a_mapped_gallery_answers_like_one_in_memory(tmp_path):
    path = tmp_path / "g.npz"
    g = rich_gallery(tmp_path)
    g.save(path)
    in_memory, mapped = Gallery.load(path), Gallery.load(path, mmap=True)
    assert everything(mapped) == everything(in_memory) == everything(g)
    # changing a mapped gallery and saving it over its own file (the maps keep the old one alive)
    mapped.add(unit(3, seed=9), "c", ["/c/0", "/c/1", "/c/2"], shas("c", 3))
    mapped.remove_enrollment(list(mapped.enrollments())[0])  # the first one: class a
    mapped.save(path)
    again = Gallery.load(path, mmap=True)
    assert everything(again) == everything(mapped)
    assert again.classes() == {"b": 7, "c": 3}


@pytest.mark.parametrize("name", ["tests/fixtures/model_v0_1/gallery.npz", "models/default/gallery.npz"])
def test_old_galleries_load_mapped_with_identical_answers(name):
    path = REPO / name
    if not path.exists():
        pytest.skip(f"{name} is not in this checkout")
    assert everything(Gallery.load(path, mmap=True)) == everything(Gallery.load(path))


def test_large_members_are_maps_not_copies(tmp_path):
    path = tmp_path / "g.npz"
    rich_gallery(tmp_path).save(path)
    g = Gallery.load(path, mmap=True)
    for array in (g._embeddings, g._sha, g._path_blob, g._path_offsets, g._enrollment, g._thumb_blob, g._thumb_offsets):
        base = array
        while base is not None and not isinstance(base, np.memmap):
            base = base.base
        assert isinstance(base, np.memmap)
    assert {"sha256", "path_blob", "path_offsets", "enrollment", "thumbnail_blob"} <= set(MAPPED_KEYS)
    assert "label_codes" not in MAPPED_KEYS and "meta" not in MAPPED_KEYS  # every vote reads the labels
    # a gallery without source roots holds no array of -1s behind its root codes
    plain = Gallery.create(MODEL, DIM)
    plain.add(unit(50, seed=3), "a", [f"/{i}" for i in range(50)], shas("p", 50))
    plain.save(tmp_path / "plain.npz")
    codes = Gallery.load(tmp_path / "plain.npz", mmap=True)._root_codes
    assert codes.strides == (0,) and codes.tolist() == [-1] * 50


def test_release_pages_keeps_the_data_readable(tmp_path):
    data = np.arange(100_000, dtype=np.int64)
    np.save(tmp_path / "a.npy", data)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert int(mapped.sum()) == int(data.sum())
    release_pages(mapped)
    release_pages(np.asarray(mapped)[10:])  # a view of a map: the map behind it
    release_pages(data)  # not a map: nothing happens
    assert np.array_equal(mapped, data) and np.array_equal(data, np.arange(100_000))


def _resident_kib_of(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, mine = 0, False
    target = os.path.realpath(path)
    with open("/proc/self/smaps") as handle:
        for line in handle:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                mine = len(head) >= 6 and os.path.realpath(" ".join(head[5:])) == target
            elif mine and line.startswith("Rss:"):
                total += int(head[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_only_the_embeddings_stay_resident_after_loading(tmp_path):
    n = 20_000
    g = Gallery.create(MODEL, DIM)
    g.add(unit(n, seed=4), "a", [f"/data/some/longer/folder/{i:07d}.png" for i in range(n)], shas("r", n))
    path = tmp_path / "g.npz"
    g.save(path)
    del g
    loaded = Gallery.load(path, mmap=True)
    embeddings_kib = loaded.embeddings.nbytes // 1024  # 625 KiB; digests 625, paths 1,100: read, then released
    resident = _resident_kib_of(path)
    assert resident <= embeddings_kib + 64, resident
    assert loaded.paths[n - 1] == f"/data/some/longer/folder/{n - 1:07d}.png"  # paged back in on demand
    assert loaded.sha256s[0] == shas("r", 1)[0]
