"""Training throughput of the thesis encoder: fp32 eager vs the optimised path, side by side.

    python benchmarks/train_throughput.py --device cuda             # batch 186, 256x256
    python benchmarks/train_throughput.py --device cpu --image-size 64 --batch-size 16 --steps 3

The optimised path is what `aidetect train` does on CUDA: bf16 autocast,
channels_last, fused AdamW (and torch.compile with --compile). Random tensors
stand in for images, so decoding is not measured here. On CUDA it also prints
the peak memory and the largest batch (powers of two, then the thesis's 186)
that fits.
"""

from __future__ import annotations

import argparse
import time

import torch

from aidetect.config import ArchitectureConfig
from aidetect.devices import autocast
from aidetect.losses import SupConLoss
from aidetect.models.encoder import Encoder


def run(device, batch, size, steps, optimised, compile_model=False):
    torch.manual_seed(0)
    encoder = Encoder(ArchitectureConfig()).to(device)
    loss_fn = SupConLoss().to(device)
    if optimised and device.type == "cuda":
        encoder = encoder.to(memory_format=torch.channels_last)
    model = torch.compile(encoder) if compile_model else encoder
    fused = optimised and device.type == "cuda"
    optimizer = torch.optim.AdamW(list(encoder.parameters()) + list(loss_fn.parameters()), lr=1e-3, fused=fused)
    images = torch.rand(batch, 3, size, size, device=device)
    if optimised and device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.arange(batch, device=device) % 9

    def step():
        with autocast(device, enabled=optimised):
            z = model(images)
        loss = loss_fn(z, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up (and compilation)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - began
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return batch * steps / elapsed, peak


def largest_batch(device, size):
    fits = None
    for batch in (64, 128, 186, 256, 512, 1024, 2048):
        try:
            run(device, batch, size, 1, optimised=True)
            fits = batch
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            torch.cuda.empty_cache()
    return fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=186)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; batch {args.batch_size}, {args.image_size}x{args.image_size}, {args.steps} steps")
    eager, eager_peak = run(device, args.batch_size, args.image_size, args.steps, optimised=False)
    fast, fast_peak = run(device, args.batch_size, args.image_size, args.steps, optimised=True, compile_model=args.compile)
    print(f"fp32 eager:      {eager:8.1f} images/s   peak {eager_peak:.2f} GiB")
    label = "bf16+CL+fused" + ("+compile" if args.compile else "")
    print(f"{label:15s}: {fast:8.1f} images/s   peak {fast_peak:.2f} GiB")
    print(f"speed-up: {fast / eager:.2f}x")
    if device.type == "cuda":
        print(f"largest batch that fits at {args.image_size}px (optimised): {largest_batch(device, args.image_size)}")


if __name__ == "__main__":
    main()
