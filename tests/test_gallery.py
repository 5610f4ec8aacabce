"""The gallery file: round trip, dedup, log, refusal of unsafe/damaged files, search, crash safety."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import aidetect.gallery.npz as gallery_npz
import aidetect.gallery.search as gallery_search
import aidetect.gallery.storage as gallery_storage
from aidetect.errors import AidetectError, CorruptFileError, IncompatibleGalleryError, UnsafeFileError
from aidetect.gallery import GALLERY_SCHEMA_VERSION, Gallery, update_gallery

REPO = Path(__file__).resolve().parents[1]
DIM = 16
MODEL = "model-aaaa1111"


def unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def shas(tag: str, n: int) -> list[str]:
    return [hashlib.sha256(f"{tag}-{i}".encode()).hexdigest() for i in range(n)]


def small_gallery() -> Gallery:
    g = Gallery.create(MODEL, DIM, source="test")
    g.add(unit(5, seed=1), "sd14", [f"/data/sd14/{i}.png" for i in range(5)], shas("sd14", 5), source="a")
    g.add(unit(3, seed=2), "adm", ["/données/ünïcödé/图像.png", "/x/a b.jpg", "/x/c.webp"], shas("adm", 3))
    return g


# --------------------------------------------------------------------------- round trip


def test_round_trip(tmp_path):
    g = small_gallery()
    path = tmp_path / "gallery.npz"
    g.save(path)
    h = Gallery.load(path, expected_model_fingerprint=MODEL)
    assert len(h) == 8
    assert h.model_fingerprint == MODEL and h.embedding_dim == DIM
    assert h.embeddings.dtype == np.float16
    np.testing.assert_array_equal(h.embeddings, g.embeddings)
    assert list(h.labels()) == list(g.labels()) == ["sd14"] * 5 + ["adm"] * 3
    assert list(h.paths) == list(g.paths)
    assert h.paths[5] == "/données/ünïcödé/图像.png"
    assert list(h.sha256s) == shas("sd14", 5) + shas("adm", 3)
    assert h.log == g.log
    assert [e["action"] for e in h.log] == ["create", "add", "add"]
    assert set(h.log[1]) >= {"time", "action", "class", "count", "source", "user"}
    assert h.log[1]["time"].endswith("Z") and h.log[1]["source"] == "a"
    assert h.fingerprint == g.fingerprint and len(h.fingerprint) == 16
    assert h.classes() == {"adm": 3, "sd14": 5}
    assert list(h.classes()) == ["adm", "sd14"]
    assert h.verify() == []
    # the file is a plain npz without pickles
    with zipfile.ZipFile(path) as zf:
        # the six members every gallery has, and the enrollment ids (an optional member)
        assert sorted(zf.namelist()) == sorted(f"{k}.npy" for k in gallery_npz.KEYS + ("enrollment",))
    meta = json.loads(np.load(path, allow_pickle=False)["meta"].tobytes())
    assert meta["schema_version"] == GALLERY_SCHEMA_VERSION


def test_round_trip_mmap_and_empty(tmp_path):
    g = small_gallery()
    g.save(tmp_path / "g.npz")
    m = Gallery.load(tmp_path / "g.npz", mmap=True)
    assert isinstance(m.embeddings.base, np.memmap) or isinstance(m.embeddings, np.memmap)
    np.testing.assert_array_equal(m.embeddings, g.embeddings)
    assert m.fingerprint == g.fingerprint
    m.add(unit(1, seed=9), "new", ["/n.png"], shas("new", 1))  # mutating a mapped gallery copies
    m.save(tmp_path / "g.npz")
    assert len(Gallery.load(tmp_path / "g.npz")) == 9

    empty = Gallery.create(MODEL, DIM)
    empty.save(tmp_path / "e.npz")
    e = Gallery.load(tmp_path / "e.npz", mmap=True)
    assert len(e) == 0 and e.classes() == {} and e.verify() == []
    sims, idx = e.search(unit(2), k=11)
    assert sims.shape == (2, 0) and idx.shape == (2, 0)


def test_fingerprint_tracks_content():
    a, b = small_gallery(), small_gallery()
    assert a.fingerprint == b.fingerprint  # log times may differ; content does not
    b.add(unit(1, seed=5), "glide", ["/g.png"], shas("glide", 1))
    assert a.fingerprint != b.fingerprint
    b.remove_class("glide")
    assert a.fingerprint == b.fingerprint


# --------------------------------------------------------------------------- add / remove


def test_dedup_within_and_across_calls():
    g = Gallery.create(MODEL, DIM)
    s = shas("x", 4)
    added, skipped = g.add(unit(5), "sd15", [f"/p{i}" for i in range(5)], s + [s[1]])
    assert (added, skipped) == (4, 1)
    assert list(g.paths) == ["/p0", "/p1", "/p2", "/p3"]  # first occurrence kept
    # the same files again under another class: all skipped
    assert g.add(unit(4, seed=3), "wukong", ["/q"] * 4, s) == (0, 4)
    assert g.classes() == {"sd15": 4}
    # a mix
    assert g.add(unit(3, seed=4), "wukong", ["/a", "/b", "/c"], [s[0], *shas("y", 2)]) == (2, 1)
    assert g.classes() == {"sd15": 4, "wukong": 2}
    assert g.log[-1]["count"] == 2 and g.log[-1]["skipped"] == 1
    assert g.contains_sha256([s[3], shas("z", 1)[0]]).tolist() == [True, False]
    assert g.verify() == []


def test_add_checks_arguments():
    g = Gallery.create(MODEL, DIM)
    with pytest.raises(AidetectError, match="do not fit"):
        g.add(unit(2, dim=8), "a", ["/1", "/2"], shas("a", 2))
    with pytest.raises(AidetectError, match="one path and one SHA-256"):
        g.add(unit(2), "a", ["/1"], shas("a", 2))
    with pytest.raises(AidetectError, match="64 hexadecimal"):
        g.add(unit(1), "a", ["/1"], ["nothex"])
    with pytest.raises(AidetectError, match="unit vectors"):
        g.add(unit(1) * 3, "a", ["/1"], shas("a", 1))
    bad = unit(1)
    bad[0, 0] = np.nan
    with pytest.raises(AidetectError, match="NaN"):
        g.add(bad, "a", ["/1"], shas("a", 1))
    with pytest.raises(AidetectError, match="non-empty"):
        g.add(unit(1), "", ["/1"], shas("a", 1))
    assert len(g) == 0


def test_remove_class_logged_and_undone(tmp_path):
    g = small_gallery()
    before = g.fingerprint
    g.add(unit(4, seed=7), "newgen", [f"/new/{i}" for i in range(4)], shas("newgen", 4), source="enroll")
    assert g.remove_class("newgen", source="gallery remove") == 4
    assert g.classes() == {"adm": 3, "sd14": 5}
    assert g.fingerprint == before
    assert g.log[-1]["action"] == "remove" and g.log[-1]["class"] == "newgen" and g.log[-1]["count"] == 4
    assert g.verify() == []
    # removing a class in the middle keeps the others' rows, labels and paths aligned
    g.remove_class("adm")
    assert list(g.labels()) == ["sd14"] * 5
    assert list(g.paths) == [f"/data/sd14/{i}.png" for i in range(5)]
    g.save(tmp_path / "g.npz")
    assert Gallery.load(tmp_path / "g.npz").verify() == []
    with pytest.raises(AidetectError, match="no class 'nope'"):
        g.remove_class("nope")


def test_subset():
    g = small_gallery()
    s = g.subset([7, 0, 2])
    assert list(s.labels()) == ["adm", "sd14", "sd14"]
    assert s.paths[0] == "/x/c.webp" and s.sha256s[1] == g.sha256s[0]
    np.testing.assert_array_equal(s.embeddings, g.embeddings[[7, 0, 2]])
    assert s.log[: len(g.log)] == g.log
    assert s.verify() == []
    assert len(g) == 8  # the original is untouched
    with pytest.raises(AidetectError):
        g.subset([1, 1])


# --------------------------------------------------------------------------- refusals


def test_refuses_other_models_gallery(tmp_path):
    small_gallery().save(tmp_path / "g.npz")
    with pytest.raises(IncompatibleGalleryError) as info:
        Gallery.load(tmp_path / "g.npz", expected_model_fingerprint="model-other")
    msg = str(info.value)
    assert str(tmp_path / "g.npz") in msg and MODEL in msg and "model-other" in msg and "--gallery NEW" in msg
    with pytest.raises(IncompatibleGalleryError):
        update_gallery(tmp_path / "g.npz", "model-other", DIM, lambda g: None)


def test_missing_file(tmp_path):
    with pytest.raises(CorruptFileError, match="does not exist"):
        Gallery.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0.0, 0.05, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "g.npz"
    small_gallery().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptFileError) as info:
        Gallery.load(path)
    assert str(path) in str(info.value)
    problems = Gallery.verify_file(path)
    assert len(problems) == 1 and str(path) in problems[0]


def test_garbage_file(tmp_path):
    path = tmp_path / "g.npz"
    path.write_bytes(b"hello, not a gallery")
    with pytest.raises(CorruptFileError):
        Gallery.load(path)
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(CorruptFileError):
        Gallery.load(tmp_path / "x.npy")


class _Planted:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_planted_pickle_is_never_unpickled(tmp_path, protocol):
    marker = tmp_path / "PWNED"
    path = tmp_path / "gallery.npz"
    path.write_bytes(pickle.dumps(_Planted(str(marker)), protocol=protocol))
    expected = UnsafeFileError if protocol >= 2 else CorruptFileError
    with pytest.raises(expected) as info:
        Gallery.load(path)
    assert str(path) in str(info.value)
    assert Gallery.verify_file(path)
    with pytest.raises(AidetectError):
        update_gallery(path, MODEL, DIM, lambda g: None)
    assert not marker.exists()


def test_object_array_inside_npz_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "g.npz"
    small_gallery().save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["label_codes"] = np.array([_Planted(str(marker))] * 8, dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(UnsafeFileError):
        Gallery.load(path)
    with pytest.raises(UnsafeFileError):
        Gallery.load(path, mmap=True)
    assert not marker.exists()


def _rewrite(path: Path, **changes):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["meta"].tobytes())
    for key, value in changes.items():
        if key.startswith("meta_"):
            meta[key[5:]] = value
        elif value is None:
            del arrays[key]
        else:
            arrays[key] = value
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"meta_model_fingerprint": MODEL + "x"}, "content hash"),
        ({"meta_count": 9}, "metadata counts 9"),
        ({"meta_class_counts": {"adm": 4, "sd14": 4}}, "class counts"),
        ({"meta_class_names": ["adm", "sd14", "zzz"]}, "class"),
        ({"meta_embedding_dim": 32}, "values per row"),
        ({"meta_schema_version": 99}, "newer"),
        ({"meta_schema_version": "one"}, "schema"),
        ({"label_codes": np.zeros(7, np.int32)}, "labels for 8"),
        ({"sha256": np.zeros((7, 32), np.uint8)}, "SHA-256 digests for 8"),
        ({"path_offsets": np.arange(8, dtype=np.int64)}, "paths for 8"),
        ({"embeddings": np.zeros((8, DIM), np.float32)}, "float16"),
        ({"embeddings": None}, "missing embeddings"),
        ({"meta_log": "nope"}, "log"),
    ],
)
def test_edited_file_refused(tmp_path, changes, match):
    path = tmp_path / "g.npz"
    small_gallery().save(path)
    _rewrite(path, **changes)
    with pytest.raises(CorruptFileError, match=match) as info:
        Gallery.load(path)
    assert str(path) in str(info.value)


def test_edited_embeddings_and_paths_refused(tmp_path):
    path = tmp_path / "g.npz"
    g = small_gallery()
    g.save(path)
    emb = np.array(g.embeddings)
    emb[0, 0] = -emb[0, 0]
    _rewrite(path, embeddings=emb)
    with pytest.raises(CorruptFileError, match="content hash"):
        Gallery.load(path)
    g.save(path)
    blob = np.load(path)["path_blob"].copy()
    blob[1] = ord("X")
    _rewrite(path, path_blob=blob)
    with pytest.raises(CorruptFileError, match="paths"):
        Gallery.load(path)


# --------------------------------------------------------------------------- verify


def test_verify_catches_tampered_log(tmp_path):
    g = small_gallery()
    g.log[1]["count"] = 4  # claims 4 sd14 images were added, the gallery holds 5
    problems = g.verify()
    assert any("sd14" in p and "5 rows" in p and "accounts for 4" in p for p in problems)

    g = small_gallery()
    del g.log[2]  # an enrollment erased from history
    assert any("adm" in p for p in g.verify())

    # through the file: the log is editable JSON, verify_file replays it
    g = small_gallery()
    path = tmp_path / "g.npz"
    g.save(path)
    log = json.loads(np.load(path)["meta"].tobytes())["log"]
    log.append({"time": "2020-01-01T00:00:00Z", "action": "remove", "class": "adm", "count": 3, "source": "", "user": ""})
    _rewrite(path, meta_log=log)
    # the log is covered by a hash: an edited entry is refused on load and reported by verify
    with pytest.raises(CorruptFileError, match="change log was edited"):
        Gallery.load(path)
    assert any("change log was edited" in p for p in Gallery.verify_file(path))
    # a forger who recomputes the (unkeyed) log hash is still caught by the replay
    _rewrite(path, meta_log=log, meta_log_sha256=gallery_storage._log_hash(log))
    problems = Gallery.verify_file(path)
    assert any("adm" in p and "accounts for 0" in p for p in problems)


def test_verify_catches_duplicates_and_non_unit():
    g = small_gallery()
    g._sha = g._sha.copy()
    g._sha[1] = g._sha[0]
    g._embeddings = np.array(g._embeddings)
    g._embeddings[3] *= 2
    g._embeddings[4, 0] = np.inf
    problems = g.verify()
    assert any("more than once" in p for p in problems)
    assert any("not unit" in p and "row 3" in p for p in problems)
    assert any("infinite" in p for p in problems)


def test_digest_matching_with_shared_prefixes():
    # digests sharing their first 8 bytes exercise the exact (full 32-byte) comparison
    base = np.frombuffer(hashlib.sha256(b"x").digest(), dtype=np.uint8)
    hay = np.tile(base, (5, 1))
    hay[:, 31] = [1, 2, 3, 4, 5]
    needles = np.tile(base, (4, 1))
    needles[:, 31] = [3, 9, 5, 1]
    assert gallery_storage._digests_in(needles, hay).tolist() == [True, False, True, True]
    rows = np.concatenate([hay, hay[[2, 0]], needles[[1]]])
    assert gallery_storage._first_occurrences(rows).tolist() == [True] * 5 + [False, False, True]


# --------------------------------------------------------------------------- search


@pytest.fixture(params=["numpy", "faiss"])
def engine(request, monkeypatch):
    """Each search test runs on both exact engines (faiss: when faiss-cpu is installed)."""
    if request.param == "faiss" and gallery_search._faiss() is None:
        pytest.skip("faiss-cpu is not installed")
    monkeypatch.setenv(gallery_search.ENGINE_ENV, request.param)
    return request.param


@pytest.mark.parametrize("n, k", [(1000, 11), (50, 11), (7, 11), (1, 3), (300, 1)])
def test_search_matches_brute_force(monkeypatch, engine, n, k):
    # small blocks so the merge across gallery blocks and query chunks is exercised
    monkeypatch.setattr(gallery_search, "_FAISS_BLOCK", 64)
    monkeypatch.setattr(gallery_search, "_SEARCH_BLOCK_MIN", 64)
    monkeypatch.setattr(gallery_search, "_SEARCH_BLOCK_MAX", 64)
    monkeypatch.setattr(gallery_search, "_SIM_BLOCK_ELEMENTS", 64 * 5)
    g = Gallery.create(MODEL, DIM)
    g.add(unit(n, seed=11), "a", [f"/{i}" for i in range(n)], shas("s", n))
    q = unit(23, seed=12)
    sims, idx = g.search(q, k)
    kk = min(k, n)
    assert sims.shape == idx.shape == (23, kk)
    assert sims.dtype == np.float32 and idx.dtype == np.int64
    full = q @ g.embeddings.astype(np.float32).T
    ref_idx = np.argsort(-full, axis=1, kind="stable")[:, :kk]
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(sims, np.take_along_axis(full, ref_idx, axis=1), rtol=0, atol=1e-6)
    assert np.all(np.diff(sims, axis=1) <= 0)


def test_search_ties_and_sorted_gallery(monkeypatch, engine):
    monkeypatch.setattr(gallery_search, "_FAISS_BLOCK", 8)
    monkeypatch.setattr(gallery_search, "_SEARCH_BLOCK_MIN", 8)
    monkeypatch.setattr(gallery_search, "_SEARCH_BLOCK_MAX", 8)
    # identical rows: ties go to the lower index
    base = unit(1, seed=3)
    g = Gallery.create(MODEL, DIM)
    g.add(np.repeat(base, 30, axis=0), "a", ["/"] * 30, shas("t", 30))
    sims, idx = g.search(base, 5)
    assert idx.tolist() == [[0, 1, 2, 3, 4]]
    # rows in increasing similarity to the query: every block beats the previous ones
    q = unit(1, seed=4)
    e = unit(200, seed=5)
    e = e[np.argsort(e @ q[0])]
    g = Gallery.create(MODEL, DIM)
    g.add(e, "a", ["/"] * 200, shas("u", 200))
    sims, idx = g.search(q, 11)
    full = q @ g.embeddings.astype(np.float32).T
    np.testing.assert_array_equal(idx, np.argsort(-full, axis=1, kind="stable")[:, :11])


def test_search_checks_arguments():
    g = small_gallery()
    with pytest.raises(AidetectError):
        g.search(unit(2, dim=8), 3)
    with pytest.raises(AidetectError):
        g.search(unit(2), 0)
    q = unit(1)
    q[0, 0] = np.nan
    with pytest.raises(AidetectError):
        g.search(q, 3)


# --------------------------------------------------------------------------- crash safety and concurrency


def test_failed_save_leaves_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "g.npz"
    g = small_gallery()
    g.save(path)
    before = path.read_bytes()

    real_write = gallery_storage.write_npz

    class Dying:
        def __init__(self, handle):
            self.handle, self.written = handle, 0

        def write(self, data):
            if self.written > 200:
                raise OSError(28, "No space left on device")
            self.written += len(data)
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(gallery_storage, "write_npz", lambda handle, arrays: real_write(Dying(handle), arrays))
    g.add(unit(50, seed=8), "big", [f"/b/{i}" for i in range(50)], shas("big", 50))
    with pytest.raises(AidetectError) as info:
        g.save(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "disk is full" in message and "intact" in message
    assert path.read_bytes() == before
    assert Gallery.load(path).classes() == {"adm": 3, "sd14": 5}
    assert [p.name for p in tmp_path.iterdir()] == ["g.npz"]  # no temporary left behind


def test_update_gallery_creates_and_updates(tmp_path):
    path = tmp_path / "sub" / "g.npz"
    g = update_gallery(path, MODEL, DIM, lambda g: g.add(unit(2), "a", ["/1", "/2"], shas("a", 2)))
    assert g.classes() == {"a": 2}
    g = update_gallery(path, MODEL, DIM, lambda g: g.remove_class("a"))
    assert Gallery.load(path).classes() == {} and [e["action"] for e in g.log] == ["create", "add", "remove"]
    with pytest.raises(IncompatibleGalleryError):
        update_gallery(path, MODEL, DIM + 1, lambda g: None)


_WORKER = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    from aidetect.gallery import update_gallery

    path, tag, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(abs(hash(tag)) % 2**32)
    for r in range(rounds):
        x = rng.standard_normal((3, 16)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        s = [hashlib.sha256(f"{tag}-{r}-{i}".encode()).hexdigest() for i in range(3)]
        update_gallery(path, "model-aaaa1111", 16,
                       lambda g: g.add(x, tag, [f"/{tag}/{r}/{i}" for i in range(3)], s, source=tag))
    """
)


def test_concurrent_updates_all_land(tmp_path):
    path = tmp_path / "g.npz"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rounds = 8
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(path), tag, str(rounds)], env=env,
                         stderr=subprocess.PIPE, text=True)
        for tag in ("alpha", "beta", "gamma")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    g = Gallery.load(path)
    assert g.classes() == {"alpha": 3 * rounds, "beta": 3 * rounds, "gamma": 3 * rounds}
    assert sum(1 for e in g.log if e["action"] == "add") == 3 * rounds
    assert g.verify() == []


def test_classes_added_in_any_order_keep_their_rows(tmp_path):
    """New class names are inserted in sorted order and earlier rows are re-coded around them:
    every row keeps the class it was added with, through a save and a load."""
    g = Gallery.create("m", DIM)
    order = ["mm", "zz", "aa", "mm", "bb", "ab", "zz"]
    for i, name in enumerate(order):
        g.add(unit(2, seed=i), name, [f"{name}/{i}.png"] * 2, shas(f"{name}{i}", 2))
    expected = [name for name in order for _ in range(2)]
    assert g.class_names == sorted(set(order))
    assert list(g.labels()) == expected
    g.save(tmp_path / "g.npz")
    assert list(Gallery.load(tmp_path / "g.npz").labels()) == expected
