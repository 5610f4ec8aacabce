"""The pre-trained model's way back from the device (benchmarks/gpu/pretrain_procedural.sh).

    python benchmarks/gpu/procedural_weights.py half SRC DEST [--probe DIR]   # there: SRC = aidetect train --out
    python benchmarks/gpu/procedural_weights.py install SRC DEST [--force]     # here: SRC = the returned model/

``half`` turns a trained model directory into a smaller one a device call can return (one file
of at most 16 MiB): the floating-point weights become float16, except the BatchNorm running
statistics (a few thousand numbers, kept in float32 since a depthwise channel's variance can sit
near float16's smallest normal number). It writes DEST/model.safetensors, DEST/config.json (the
original's, with ``fingerprint`` set to the float16 file's SHA-256, as aidetect checks on every
load, and ``training.float16`` recording the float32 fingerprint) and DEST/metrics.jsonl. DEST
is an aidetect model directory without a gallery: ``aidetect.models.model_dir.load_model``
reads it (float16 tensors are widened to float32 on load) and ``aidetect train --init DEST``
fine-tunes from it, which needs no gallery. Then it loads both directories and compares their
embeddings of up to 16 images under ``--probe DIR`` (random ones without it): the float16
model's must stay within a cosine of 0.999 of the float32 one's.

``install`` copies such a returned folder (read-only where the device tool leaves it) into
DEST, loads it with aidetect to check the fingerprint and the architecture, and prints what
it is, so that DEST can be passed to ``aidetect train --init DEST``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

MAX_BYTES = 16 << 20  # the device tool returns files of at most 16 MiB
KEEP_FLOAT32 = ("running_mean", "running_var")
FILES = ("model.safetensors", "config.json", "metrics.jsonl")


def _probe_images(folder: Path | None, size: int, n: int = 16):
    """Up to n images as a float batch [N, 3, size, size] in [0, 1] (centre crops; random pixels without a folder)."""
    import numpy as np
    import torch
    from PIL import Image

    arrays = []
    if folder is not None:
        for path in sorted(folder.rglob("*.png"))[:n]:
            with Image.open(path) as im:
                a = np.asarray(im.convert("RGB"), dtype=np.uint8)
            h, w = a.shape[:2]
            if min(h, w) >= size:
                top, left = (h - size) // 2, (w - size) // 2
                arrays.append(a[top : top + size, left : left + size])
    if not arrays:
        rng = np.random.RandomState(0)
        arrays = [rng.randint(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(4)]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
    return x


def half(src: Path, dest: Path, probe: Path | None) -> int:
    import torch

    from aidetect.models.model_dir import fingerprint_of, load_model
    from aidetect.models.weights import read_safetensors, tensors_to_bytes

    if not (src / "model.safetensors").is_file() or not (src / "config.json").is_file():
        print(f"error: {src} holds no model.safetensors and config.json (no epoch finished?)")
        return 1
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    state = read_safetensors(src / "model.safetensors")
    out, kept = {}, []
    for name, tensor in state.items():
        if tensor.is_floating_point() and not name.endswith(KEEP_FLOAT32):
            out[name] = tensor.to(torch.float16)
            if not torch.isfinite(out[name]).all():
                print(f"error: {name} does not fit float16 (values up to {tensor.abs().max().item():.3g})")
                return 1
        else:
            out[name] = tensor
            if tensor.is_floating_point():
                kept.append(name)
    data = tensors_to_bytes(out)
    dest.mkdir(parents=True, exist_ok=True)
    config.setdefault("training", {})["float16"] = {
        "from_fingerprint": config.get("fingerprint"),
        "kept_float32": f"{len(kept)} BatchNorm running-statistics tensors ({', '.join(KEEP_FLOAT32)})",
        "by": "benchmarks/gpu/procedural_weights.py half",
    }
    config["fingerprint"] = fingerprint_of(data)
    (dest / "model.safetensors").write_bytes(data)
    (dest / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if (src / "metrics.jsonl").is_file():
        shutil.copyfile(src / "metrics.jsonl", dest / "metrics.jsonl")
    n_params = sum(t.numel() for t in state.values() if t.is_floating_point())
    print(f"float16: {n_params:,} numbers, {(src / 'model.safetensors').stat().st_size / 2**20:.2f} MiB -> "
          f"{len(data) / 2**20:.2f} MiB; fingerprint {config['training']['float16']['from_fingerprint']} -> {config['fingerprint']}")

    a, b = load_model(src), load_model(dest)
    x = _probe_images(probe, int(a.config.preprocess.image_size))
    with torch.no_grad():
        ea, eb = a.encoder(x), b.encoder(x)
    cos = torch.nn.functional.cosine_similarity(ea, eb, dim=1)
    print(f"check: {len(x)} {'probe' if probe else 'random'} images at {x.shape[-1]} px, cosine float16 vs float32 "
          f"min {cos.min().item():.6f}, mean {cos.mean().item():.6f}")
    problems = []
    if cos.min().item() < 0.999:
        problems.append("the float16 embeddings moved more than a cosine of 0.999")
    if len(data) > MAX_BYTES:
        problems.append(f"{len(data)} bytes is over the device tool's 16 MiB a file")
    for p in problems:
        print(f"error: {p}")
    return 1 if problems else 0


def install(src: Path, dest: Path, force: bool) -> int:
    from aidetect.models.model_dir import load_model

    missing = [f for f in FILES[:2] if not (src / f).is_file()]
    if missing:
        print(f"error: {src} lacks {', '.join(missing)}")
        return 1
    if (dest / "model.safetensors").exists() and not force:
        print(f"error: {dest} already holds a model; pass --force to replace it")
        return 1
    dest.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        if (src / f).is_file():
            shutil.copyfile(src / f, dest / f)  # copyfile: not the read-only mode of the returned files
    model = load_model(dest)  # checks the fingerprint and that the weights fit config.json's architecture
    c = model.config
    arch = c.architecture
    hist = c.training.get("history") or []
    if not hist and (dest / "metrics.jsonl").is_file():  # a run stopped at the deadline: no history in config.json
        hist = [json.loads(line) for line in (dest / "metrics.jsonl").read_text().splitlines() if line.strip()]
    print(f"{dest}: aidetect model {c.fingerprint} (float16 of {c.training.get('float16', {}).get('from_fingerprint')}), "
          f"recipe {c.recipe}, {arch.name} front-end {arch.front_end} stem stride {arch.stem_stride}, "
          f"{len(c.trained_classes)} trained classes, {len(hist)} epochs"
          + (f", last val loss {hist[-1].get('val_loss'):.4f}" if hist else ""))
    print(f"fine-tune with: aidetect train --data ZOO --recipe fingerprint --init {dest} ...")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    h = sub.add_parser("half", help="a trained model directory -> float16 weights + config.json + metrics.jsonl")
    h.add_argument("src", type=Path)
    h.add_argument("dest", type=Path)
    h.add_argument("--probe", type=Path, default=None, help="a folder of PNGs to compare the embeddings on")
    i = sub.add_parser("install", help="copy a returned float16 model directory here and check it loads")
    i.add_argument("src", type=Path)
    i.add_argument("dest", type=Path)
    i.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    if args.command == "half":
        return half(args.src, args.dest, args.probe)
    return install(args.src, args.dest, args.force)


if __name__ == "__main__":
    sys.exit(main())
