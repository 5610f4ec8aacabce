"""Tiny latent autoencoders (Ollin Boer Bohan's TAESD family, MIT) for the zoo.

Five encoder/decoder pairs, each a small distilled stand-in for the VAE of one
latent-diffusion family. A zoo class encodes a real 256x256 window to the latent
(1/8 of the side) and decodes it back: the image then carries the decoder's
traces on real content, with no generative prior. See docs/zoo-data.md.

The networks are built here from the key layout of the safetensors files (no
diffusers): keys are the indices of one ``nn.Sequential``.

- Encoder: 3x3 conv from RGB, blocks, and bias-free stride-2 3x3 convs between
  them, down to a 3x3 conv to the latent channels.
- Decoder: index 0 is a parameter-free clamp ``tanh(x / 3) * 3`` of the latent,
  then conv + ReLU (index 2), blocks, and three times nearest-neighbour 2x
  upsampling followed by a bias-free conv, and a final 3x3 conv to RGB. The
  missing indices of the decoder are therefore the clamp (0), the ReLU (2) and
  the upsamplings (the others).
- Block: ``ReLU(conv3(ReLU(conv3(ReLU(conv3(x))))) + x)``.
- FLUX.2 (``taef2``) adds to the three blocks nearest the latent a residual
  pool applied to the block's input first: ``x = x + pool(x)`` with
  ``pool = 1x1 conv (64 -> 256, no bias), GroupNorm(4, 256), ReLU, 1x1 conv
  (256 -> 64, no bias)``. The builder adds it wherever a block has ``pool.*``
  keys, so one module covers all five pairs.

Range: the networks take and give images in [0, 1] (the original repository's
convention; diffusers' ``AutoencoderTiny`` maps its [-1, 1] to [0, 1] before the
same layers). Latents stay float (no 8-bit latent quantisation: a diffusion
pipeline hands the decoder float latents). Sides must be multiples of 8: the
three stride-2 convs (padding 1) would round an odd size up, and the decoder's
8x output would then be larger than the input.

Weights are bf16 (fp16 for ``taef2``) and are cast to float32; inference runs on
the CPU in float32 (channels-last memory layout) with the caller's thread
settings: deterministic for one machine and torch version. Every file's SHA-256 is
checked against ``SHA256SUMS`` (the bytes checked are the bytes loaded) and the
file is read with safetensors, never unpickled.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

# zoo class -> (weight file prefix, what the pair stands in for)
PAIRS: dict[str, tuple[str, str]] = {
    "taesd-sd1": ("taesd", "Stable Diffusion 1.x / 2.x"),
    "taesd-sdxl": ("taesdxl", "Stable Diffusion XL"),
    "taesd-sd3": ("taesd3", "Stable Diffusion 3 / 3.5"),
    "taesd-flux1": ("taef1", "FLUX.1"),
    "taesd-flux2": ("taef2", "FLUX.2"),
}
SUMS_FILE = "SHA256SUMS"
LATENT_FACTOR = 8  # encoder: three stride-2 convs


class WeightsError(RuntimeError):
    """A weight file is missing, or its SHA-256 does not match SHA256SUMS (one-line message)."""


def weight_files(cls: str) -> list[str]:
    prefix = PAIRS[cls][0]
    return [f"{prefix}_encoder.safetensors", f"{prefix}_decoder.safetensors"]


def read_sums(folder: Path) -> dict[str, str]:
    """``SHA256SUMS`` of ``folder`` as {file name: hex digest}."""
    path = Path(folder) / SUMS_FILE
    if not path.is_file():
        raise WeightsError(f"taesd weights: {path} not found (use --taesd-dir)")
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest.lower()
    return sums


def read_verified(folder: Path, name: str, sums: dict[str, str] | None = None) -> bytes:
    """The bytes of one weight file, after checking them against SHA256SUMS."""
    folder = Path(folder)
    sums = read_sums(folder) if sums is None else sums
    path = folder / name
    if name not in sums:
        raise WeightsError(f"taesd weights: {name} is not listed in {folder / SUMS_FILE}")
    if not path.is_file():
        raise WeightsError(f"taesd weights: {path} not found (use --taesd-dir)")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sums[name]:
        raise WeightsError(f"taesd weights: SHA-256 mismatch for {path} (got {digest[:16]}..., "
                           f"SHA256SUMS says {sums[name][:16]}...)")
    return data


def verify(folder: Path, classes) -> dict[str, str]:
    """Check every file the given taesd classes need; returns {file: sha256}."""
    sums = read_sums(folder)
    out = {}
    for cls in classes:
        for name in weight_files(cls):
            read_verified(folder, name, sums)
            out[name] = sums[name]
    return out


def _build(state: dict, decoder: bool):
    """An nn.Sequential laid out by the indices of ``state`` (float32, eval mode)."""
    import torch
    from torch import nn

    class Clamp(nn.Module):
        def forward(self, x):
            return torch.tanh(x / 3) * 3

    class Block(nn.Module):
        def __init__(self, n: int, pool_width: int | None):
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(n, n, 3, padding=1), nn.ReLU(),
                nn.Conv2d(n, n, 3, padding=1), nn.ReLU(),
                nn.Conv2d(n, n, 3, padding=1),
            )
            self.pool = None
            if pool_width is not None:  # FLUX.2: the residual pool in front of the block
                self.pool = nn.Sequential(
                    nn.Conv2d(n, pool_width, 1, bias=False), nn.GroupNorm(4, pool_width), nn.ReLU(),
                    nn.Conv2d(pool_width, n, 1, bias=False),
                )

        def forward(self, x):
            if self.pool is not None:
                x = x + self.pool(x)
            return torch.relu(self.conv(x) + x)

    layers: dict[int, dict[str, tuple]] = {}
    for key, t in state.items():
        head, _, rest = key.partition(".")
        if not head.isdigit() or not rest:
            raise WeightsError(f"taesd weights: unexpected key {key!r}")
        layers.setdefault(int(head), {})[rest] = tuple(t.shape)
    modules = []
    for i in range(max(layers) + 1):
        entry = layers.get(i)
        if entry is None:
            if not decoder:
                raise WeightsError(f"taesd weights: encoder layer {i} has no weights")
            modules.append(Clamp() if i == 0 else nn.ReLU() if i == 2 else nn.Upsample(scale_factor=2, mode="nearest"))
        elif "conv.0.weight" in entry:
            out_ch, in_ch = entry["conv.0.weight"][:2]
            if out_ch != in_ch:
                raise WeightsError(f"taesd weights: block {i} changes width ({in_ch} -> {out_ch}); not supported")
            pool = entry["pool.0.weight"][0] if "pool.0.weight" in entry else None
            modules.append(Block(out_ch, pool))
        elif "weight" in entry:
            out_ch, in_ch, k = entry["weight"][:3]
            # Bias-free 3x3 convs inside the encoder are its stride-2 downsamplers.
            stride = 2 if (not decoder and "bias" not in entry) else 1
            modules.append(nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2, bias="bias" in entry))
        else:
            raise WeightsError(f"taesd weights: layer {i} not understood ({sorted(entry)})")
    net = nn.Sequential(*modules)
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    # channels_last: oneDNN's convolutions take about 20 % less CPU time here (one thread).
    net.float().eval().to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class TinyAutoencoder:
    """One encoder/decoder pair, float32 on the CPU."""

    def __init__(self, folder: Path, cls: str, sums: dict[str, str] | None = None):
        from safetensors.torch import load as load_safetensors

        enc_name, dec_name = weight_files(cls)
        sums = read_sums(folder) if sums is None else sums
        self.cls = cls
        self.encoder = _build(load_safetensors(read_verified(folder, enc_name, sums)), decoder=False)
        self.decoder = _build(load_safetensors(read_verified(folder, dec_name, sums)), decoder=True)
        self.latent_channels = self.encoder[-1].out_channels

    def reconstruct_float(self, x):
        """[N, 3, H, W] float32 in [0, 1] -> the decoded image, float32, not clipped."""
        import torch

        h, w = x.shape[-2:]
        if h % LATENT_FACTOR or w % LATENT_FACTOR:
            raise ValueError(f"taesd: image sides must be multiples of {LATENT_FACTOR}, got {w}x{h}")
        with torch.inference_mode():
            x = x.float().contiguous(memory_format=torch.channels_last)
            return self.decoder(self.encoder(x)).contiguous()

    def reconstruct(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 -> HxWx3 uint8 (encode, decode, clip to [0, 1], round)."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0
        y = self.reconstruct_float(x)[0].permute(1, 2, 0).numpy()
        if y.shape != rgb.shape:
            raise RuntimeError(f"taesd: output {y.shape} differs from input {rgb.shape}")
        if not np.isfinite(y).all():
            raise RuntimeError(f"{self.cls}: non-finite output")
        return np.rint(np.clip(y, 0.0, 1.0) * 255.0).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (peak 255)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
