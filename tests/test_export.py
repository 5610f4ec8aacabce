import pytest
"""benchmarks/zoo/export.py and ship_default.py: the maintainers' path from a trained model to the bundled one."""

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from helpers import load_script

ZOO = Path(__file__).resolve().parents[1] / "benchmarks" / "zoo"


def _export_module():
    return load_script("benchmarks/zoo/export.py", "zoo_export")


def test_export_half_precision_model_with_re_embedded_gallery(tiny_model, tmp_path):
    from aidetect.gallery import Gallery
    from aidetect.models.model_dir import load_model

    export_model = _export_module().export_model

    out = tmp_path / "shipped"
    fingerprint = export_model(tiny_model, out)
    state = load_file(out / "model.safetensors")
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    assert (out / "model.safetensors").stat().st_size < 0.6 * (tiny_model / "model.safetensors").stat().st_size
    shipped = load_model(out)
    assert shipped.config.fingerprint == fingerprint
    gallery = Gallery.load(out / "gallery.npz", expected_model_fingerprint=fingerprint)
    original = Gallery.load(tiny_model / "gallery.npz")
    assert gallery.classes() == original.classes()


@pytest.mark.slow
def test_ship_default_help_touches_nothing():
    bundled = Path(__file__).resolve().parents[1] / "aidetect" / "bundled" / "default"
    before = sorted((p.name, p.stat().st_mtime_ns) for p in bundled.iterdir())
    for args in (["--help"], [], ["/nonexistent/model"]):
        subprocess.run([sys.executable, str(ZOO / "ship_default.py"), *args], capture_output=True, timeout=60)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in bundled.iterdir()) == before
