"""Red-team cases against the gallery (issue 19): each test fails on the code before the fix.

Poisoned embeddings, undoing one enrollment, a read-only folder, zip bombs, orphaned
temporaries, a forged change log, extra archive members, and OS errors while saving.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import aidetect.gallery.storage as gallery_storage
from aidetect.cli.main import app
from aidetect.errors import AidetectError, CorruptFileError
from aidetect.fileio import atomic_writer
from aidetect.gallery import Gallery, update_gallery

REPO = Path(__file__).resolve().parents[1]
FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model_v0_1"
runner = CliRunner()


def unit(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def shas(tag: str, n: int) -> list[str]:
    return [hashlib.sha256(f"{tag}-{i}".encode()).hexdigest() for i in range(n)]


@pytest.fixture
def model_dir(tmp_path) -> tuple[Path, str, int]:
    """A model directory with only its config.json (what the gallery commands read)."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(FIXTURE_MODEL / "config.json", folder / "config.json")
    from aidetect.config import ModelConfig

    config = ModelConfig.load(folder)
    return folder, config.fingerprint, int(config.architecture.output_dim)


def gallery_for(fingerprint: str, dim: int) -> Gallery:
    g = Gallery.create(fingerprint, dim, source="test")
    g.add(unit(6, dim, seed=1), "real", [f"/r/{i}.png" for i in range(6)], shas("real", 6))
    g.add(unit(4, dim, seed=2), "sd14", [f"/s/{i}.png" for i in range(4)], shas("sd14", 4))
    return g


def one_line(text: str) -> bool:
    return text.strip().count("\n") == 0


# --------------------------------------------------------------------------- 1. poisoned embeddings


def _poison(g: Gallery, kind: str) -> None:
    emb = np.array(g._embeddings)
    if kind == "nan":
        emb[2, 0] = np.nan
    elif kind == "inf":
        emb[2, 3] = -np.inf
    else:  # a row scaled ×50: finite, but far from unit norm
        emb[2] *= 50
    g._embeddings = emb
    g._content_hash = None  # the poisoner recomputes the (unkeyed) content hash on save


@pytest.mark.parametrize("kind", ["nan", "inf", "x50"])
def test_poisoned_gallery_refused_for_use_and_by_verify(tmp_path, model_dir, kind):
    folder, fingerprint, dim = model_dir
    path = tmp_path / "poisoned.npz"
    g = gallery_for(fingerprint, dim)
    _poison(g, kind)
    g.save(path)

    for mmap in (False, True):
        with pytest.raises(CorruptFileError) as info:
            Gallery.load(path, mmap=mmap)
        message = str(info.value)
        assert one_line(message) and str(path) in message
        assert f"aidetect gallery verify {path}" in message and "row 2" in message
    with pytest.raises(CorruptFileError):
        update_gallery(path, fingerprint, dim, lambda gal: None)  # enroll into it: refused too

    problems = Gallery.verify_file(path)
    expected = "NaN or infinite" if kind in ("nan", "inf") else "not unit vectors"
    assert any(expected in p and "row 2" in p for p in problems), problems

    # through the CLI: loading for use exits 2 with one line; verify (as the message says) exits 1
    listed = runner.invoke(app, ["gallery", "list", "--model", str(folder), "--gallery", str(path)])
    assert listed.exit_code == 2 and one_line(listed.stderr) and "gallery verify" in listed.stderr
    verified = runner.invoke(app, ["gallery", "verify", str(path), "--model", str(folder)])
    assert verified.exit_code == 1 and expected in verified.stdout


def test_clean_gallery_passes_both(tmp_path, model_dir):
    folder, fingerprint, dim = model_dir
    path = tmp_path / "g.npz"
    gallery_for(fingerprint, dim).save(path)
    assert len(Gallery.load(path, mmap=True)) == 10 and Gallery.verify_file(path) == []
    result = runner.invoke(app, ["gallery", "verify", str(path), "--model", str(folder)])
    assert result.exit_code == 0 and "ok" in result.stdout


# --------------------------------------------------------------------------- 2. undo one enrollment


def test_remove_enrollment_undoes_exactly_one(tmp_path):
    dim = 16
    g = Gallery.create("m", dim)
    first = g.add(unit(10, dim, seed=1), "real", [f"/orig/{i}" for i in range(10)], shas("orig", 10))
    g.add(unit(3, dim, seed=2), "sd14", ["/s/0", "/s/1", "/s/2"], shas("sd", 3))
    before = g.fingerprint
    # 40 new images of `real`, plus 2 files already in the gallery (skipped: not this enrollment's)
    result = g.add(unit(42, dim, seed=3), "real", [f"/new/{i}" for i in range(42)], shas("new", 40) + shas("orig", 2))
    added, skipped = result  # still unpacks as (added, skipped)
    assert (added, skipped) == (40, 2) and result.added == 40
    assert g.last_enrollment == result.enrollment != first.enrollment and len(result.enrollment) == 8
    assert g.log[-1]["enrollment"] == result.enrollment
    assert g.enrollments() == {first.enrollment: 10, g.log[2]["enrollment"]: 3, result.enrollment: 40}

    # the record survives a later removal and a save/load round trip
    g.remove_class("sd14")
    g.save(tmp_path / "g.npz")
    h = Gallery.load(tmp_path / "g.npz")
    assert h.remove_enrollment(result.enrollment.upper(), source="test") == {"real": 40}
    assert h.classes() == {"real": 10} and list(h.paths) == [f"/orig/{i}" for i in range(10)]
    assert h.log[-1]["action"] == "remove" and h.log[-1]["enrollment"] == result.enrollment
    assert h.verify() == []
    h.save(tmp_path / "g.npz")
    assert Gallery.load(tmp_path / "g.npz").enrollments()[result.enrollment] == 0

    with pytest.raises(AidetectError, match="no rows left"):
        h.remove_enrollment(result.enrollment)
    with pytest.raises(AidetectError, match="no enrollment 0badbeef"):
        h.remove_enrollment("0badbeef")
    with pytest.raises(AidetectError, match="not an enrollment id"):
        h.remove_enrollment("real")
    h.add(unit(3, dim, seed=2), "sd14", ["/s/0", "/s/1", "/s/2"], shas("sd", 3))
    assert h.fingerprint == before


def test_add_labelled_is_one_enrollment():
    g = Gallery.create("m", 8)
    result = g.add_labelled(unit(6, 8), ["a", "b", "a", "b", "c", "a"], [f"/{i}" for i in range(6)], shas("l", 6))
    assert result == (6, 0) and g.enrollments() == {result.enrollment: 6}
    assert g.remove_enrollment(result.enrollment) == {"a": 3, "b": 2, "c": 1} and len(g) == 0 and g.verify() == []


def test_cli_remove_enrollment_and_list(tmp_path, model_dir):
    folder, fingerprint, dim = model_dir
    path = tmp_path / "g.npz"
    g = gallery_for(fingerprint, dim)
    batch = g.add(unit(40, dim, seed=5), "real", [f"/n/{i}" for i in range(40)], shas("n", 40))
    g.save(path)
    listing = runner.invoke(app, ["gallery", "list", "--model", str(folder), "--gallery", str(path), "--json"])
    assert listing.exit_code == 0, listing.output
    assert json.loads(listing.stdout)["enrollments"][batch.enrollment] == 40
    table = runner.invoke(app, ["gallery", "list", "--model", str(folder), "--gallery", str(path)])
    assert batch.enrollment in table.stdout

    removed = runner.invoke(app, ["gallery", "remove", "--enrollment", batch.enrollment, "--model", str(folder), "--gallery", str(path)])
    assert removed.exit_code == 0, removed.output
    assert batch.enrollment in removed.stdout and "40 of real" in removed.stdout
    assert Gallery.load(path).classes() == {"real": 6, "sd14": 4}

    for args in (["real", "--enrollment", batch.enrollment], []):
        bad = runner.invoke(app, ["gallery", "remove", *args, "--model", str(folder), "--gallery", str(path)])
        assert bad.exit_code == 2 and one_line(bad.stderr)
    assert Gallery.load(path).classes() == {"real": 6, "sd14": 4}


def test_old_gallery_has_no_enrollments_and_still_works(tmp_path):
    path = tmp_path / "old.npz"
    shutil.copy(FIXTURE_MODEL / "gallery.npz", path)
    g = Gallery.load(path)
    assert g.enrollments() == {} and all("enrollment" not in e for e in g.log)
    with pytest.raises(AidetectError, match="written before enrollment ids"):
        g.remove_enrollment("12345678")
    batch = g.add(unit(2, g.embedding_dim, seed=9), "new", ["/a", "/b"], shas("old-new", 2))
    g.save(path)
    h = Gallery.load(path)
    assert h.enrollments() == {batch.enrollment: 2} and h.verify() == []


# --------------------------------------------------------------------------- 3. a read-only folder


def test_unwritable_folder_is_not_reported_as_locked(tmp_path, monkeypatch):
    folder = tmp_path / "readonly"
    folder.mkdir()
    path = folder / "g.npz"
    real_open = os.open

    def refuse(target, *args, **kwargs):  # root ignores chmod, so simulate the refusal
        if str(target).startswith(str(folder)):
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        return real_open(target, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(AidetectError) as info:
        # A short timeout instead of a wall-clock bound: had it waited for a lock, the message would say "locked".
        update_gallery(path, "m", 4, lambda g: None, timeout=0.05)
    message = str(info.value)
    assert one_line(message) and str(folder) in message and "not writable" in message and "--gallery PATH" in message
    assert "locked" not in message and not (folder / "g.npz.lock").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores chmod (see the simulated test)")
def test_unwritable_folder_real_chmod(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(AidetectError, match="not writable"):
            update_gallery(folder / "g.npz", "m", 4, lambda g: None, timeout=600)
    finally:
        os.chmod(folder, 0o755)


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from filelock import FileLock
    with FileLock(sys.argv[1] + ".lock"):
        print("held", flush=True)
        time.sleep(30)
    """
)


def test_a_held_lock_is_reported_as_locked(tmp_path):
    path = tmp_path / "g.npz"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AidetectError) as info:
            update_gallery(path, "m", 4, lambda g: None, timeout=0.3)
        assert "locked by another aidetect process" in str(info.value) and "not writable" not in str(info.value)
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------- 4. zip bombs


def _copy_members(source: Path, target: zipfile.ZipFile, skip: str) -> None:
    with zipfile.ZipFile(source) as zf:
        for info in zf.infolist():
            if info.filename != skip:
                target.writestr(info.filename, zf.read(info), compress_type=zipfile.ZIP_STORED)


def _npy_header(shape: tuple[int, ...], dtype: str = "|u1") -> bytes:
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def test_zip_bomb_refused_from_the_headers(tmp_path):
    gallery_for("m", 8).save(tmp_path / "g.npz")
    path = tmp_path / "bomb.npz"
    inflated = 64 << 20
    with zipfile.ZipFile(path, "w") as zf:
        _copy_members(tmp_path / "g.npz", zf, skip="path_blob.npy")
        # streaming deflate: 64 MiB of zeros in ~64 KiB
        info = zipfile.ZipInfo("path_blob.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as member:
            member.write(_npy_header((inflated,)))
            zeros = bytes(1 << 20)
            for _ in range(inflated >> 20):
                member.write(zeros)
    assert path.stat().st_size < 1 << 20

    tracemalloc.start()
    try:
        with pytest.raises(CorruptFileError) as info:
            Gallery.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert one_line(message) and "zip bomb" in message and "path_blob.npy" in message
    assert peak < 8 << 20  # nothing was inflated (memory, not wall time: the machine is shared)
    assert any("zip bomb" in p for p in Gallery.verify_file(path))


def test_member_whose_header_and_zip_size_disagree_is_refused(tmp_path):
    gallery_for("m", 8).save(tmp_path / "g.npz")
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        _copy_members(tmp_path / "g.npz", zf, skip="path_blob.npy")
        # the .npy header claims a terabyte; the member holds a few bytes
        zf.writestr("path_blob.npy", _npy_header((1 << 40,)) + b"abc", compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(CorruptFileError, match="declares"):
        Gallery.load(path)


def test_a_compressed_gallery_still_loads(tmp_path):
    g = Gallery.create("m", 8)
    g.add(unit(3000, 8, seed=4), "one", [f"/data/one/{i:05d}.png" for i in range(3000)], shas("c", 3000))
    g.save(tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    np.savez_compressed(tmp_path / "c.npz", **arrays)  # label codes compress ~1000x: bounded by the row count
    assert Gallery.load(tmp_path / "c.npz").fingerprint == g.fingerprint


# --------------------------------------------------------------------------- 4. orphaned temporaries


_KILLED_SAVE = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import aidetect.gallery.storage as storage
    from aidetect.gallery import Gallery

    real = storage.write_npz
    def dying(handle, arrays):
        handle.write(b"x" * 100000)
        handle.flush()
        os._exit(9)  # as kill -9: no cleanup runs
    storage.write_npz = dying
    g = Gallery.create("m", 4)
    g.save(sys.argv[1])
    """
)


def test_orphaned_temporaries_are_cleaned_on_the_next_save(tmp_path, monkeypatch):
    path = tmp_path / "g.npz"
    gallery_for("m", 8).save(path)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path)], env=env, check=False)
    orphans = sorted(p for p in tmp_path.iterdir() if p.name != "g.npz")
    assert len(orphans) == 1 and orphans[0].name.startswith(".g.npz.aidetect-")  # named recognisably
    orphan = orphans[0]
    fresh = tmp_path / ".g.npz.aidetect-fresh123.tmp"  # a save in progress elsewhere
    others = [tmp_path / ".g.npz.backup01.tmp", tmp_path / ".h.npz.aidetect-abcd1234.tmp"]
    for p in [fresh, *others]:
        p.write_bytes(b"x")
    hour_ago = time.time() - 2 * 3600
    for p in [orphan, *others]:
        os.utime(p, (hour_ago, hour_ago))

    from aidetect.fileio import clean_stale_temps

    monkeypatch.setattr(os, "getuid", lambda: os.stat(path).st_uid + 1)  # another user's: kept
    assert clean_stale_temps(path) == [] and orphan.exists()
    monkeypatch.undo()

    Gallery.load(path).save(path)
    assert not orphan.exists()
    assert fresh.exists() and all(p.exists() for p in others)
    assert Gallery.load(path).verify() == []


def test_atomic_writer_names_temporaries_recognisably(tmp_path, monkeypatch):
    seen = []
    real = tempfile.mkstemp

    def spy(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        seen.append(Path(name).name)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    with atomic_writer(tmp_path / "report.html") as fh:
        fh.write(b"x")
    assert seen and seen[0].startswith(".report.html.aidetect-") and seen[0].endswith(".tmp")


# --------------------------------------------------------------------------- 4. the change log, extra members


def test_forged_log_entry_is_refused(tmp_path):
    path = tmp_path / "g.npz"
    gallery_for("m", 8).save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["meta"].tobytes())
    # consistent with the replay (count 0), so only a hash of the log can tell
    meta["log"].insert(1, {"time": "2020-01-01T00:00:00Z", "action": "add", "class": "real", "count": 0,
                           "source": "forged", "user": "mallory", "skipped": 0})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(CorruptFileError, match="change log was edited"):
        Gallery.load(path)
    assert any("change log was edited" in p for p in Gallery.verify_file(path))


def test_old_gallery_log_not_covered_is_a_note(tmp_path, model_dir):
    folder, _, _ = model_dir
    path = tmp_path / "old.npz"
    shutil.copy(FIXTURE_MODEL / "gallery.npz", path)
    report = Gallery.check_file(path)
    assert report["problems"] == []
    assert any(n.startswith("log not covered (written by an older aidetect)") for n in report["notes"])
    result = runner.invoke(app, ["gallery", "verify", str(path), "--model", str(folder), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["notes"]
    # the next change covers it
    g = Gallery.load(path)
    g.save(path)
    assert Gallery.check_file(path) == {"problems": [], "notes": []}


def test_extra_members_are_reported_by_verify(tmp_path, model_dir):
    folder, fingerprint, dim = model_dir
    path = tmp_path / "g.npz"
    gallery_for(fingerprint, dim).save(path)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("payload.npy", _npy_header((3,)) + b"abc")
    assert len(Gallery.load(path)) == 10  # loading for use ignores them (nothing reads them)
    problems = Gallery.verify_file(path)
    assert any("payload.npy" in p and "does not write" in p for p in problems)
    result = runner.invoke(app, ["gallery", "verify", "--gallery", str(path), "--model", str(folder)])
    assert result.exit_code == 1 and "payload.npy" in result.stdout


# --------------------------------------------------------------------------- 5. OS errors while saving


def test_permission_error_while_saving_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "g.npz"
    g = gallery_for("m", 8)
    g.save(path)
    before = path.read_bytes()

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    g.add(unit(1, 8, seed=7), "x", ["/x"], shas("x", 1))
    with pytest.raises(AidetectError) as info:
        g.save(path)
    message = str(info.value)
    assert one_line(message) and "not writable" in message and str(tmp_path) in message and "intact" in message
    assert path.read_bytes() == before


def test_disk_full_through_the_cli_exits_2(tmp_path, model_dir, monkeypatch):
    folder, fingerprint, dim = model_dir
    path = tmp_path / "g.npz"
    gallery_for(fingerprint, dim).save(path)
    before = path.read_bytes()

    def full(handle, arrays):
        handle.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gallery_storage, "write_npz", full)
    result = runner.invoke(app, ["gallery", "remove", "sd14", "--model", str(folder), "--gallery", str(path)])
    assert result.exit_code == 2 and one_line(result.stderr) and "disk is full" in result.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz", "g.npz.lock", "model"]
