"""What the welch recipe's fixed readings of the pixels cost, side by side in one run.

    python benchmarks/feature_cost.py                    # 64 images of 256 px, one thread
    python benchmarks/feature_cost.py --batch-size 8 --image-size 128 --repeats 1

Times, per image: the Welch spectrum (aidetect.models.welch), the co-occurrences of pixel
residuals (aidetect.models.cooccurrence), and one training step's forward and backward pass of
the two encoders that read them (``welch-mlp``, ``welch-cooc-mlp``). Random pixels on the 8-bit
scale stand in for images, so decoding and augmentation, the larger part of a training step on a
CPU, are not measured. The machine is shared and noisy: read the ratios, not the milliseconds.
"""

from __future__ import annotations

import argparse
import time

import torch

from aidetect.config import ArchitectureConfig
from aidetect.models.cooccurrence import ResidualCooccurrence
from aidetect.models.encoder import Encoder
from aidetect.models.welch import WelchPowerSpectrum


def per_image_ms(step, images: torch.Tensor, repeats: int) -> float:
    """Best of ``repeats`` timings of ``step(images)``, after one warm-up call, in ms per image."""
    step(images)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        step(images)
        best = min(best, time.perf_counter() - started)
    return 1000 * best / len(images)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=256, help="64 or more (the Welch spectrum reads 64-px tiles)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.image_size < 64 or args.batch_size < 2 or args.repeats < 1 or args.threads < 1:
        parser.error("--image-size needs 64 or more, --batch-size 2 or more (BatchNorm), --repeats and --threads 1 or more")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.batch_size, 3, args.image_size, args.image_size)).float() / 255

    def training_step(encoder: Encoder):
        def step(x: torch.Tensor) -> None:
            encoder.zero_grad(set_to_none=True)
            encoder(x).sum().backward()
        return step

    readers = {"Welch spectrum": WelchPowerSpectrum(), "co-occurrences": ResidualCooccurrence()}
    with torch.inference_mode():
        readings = {name: per_image_ms(reader, images, args.repeats) for name, reader in readers.items()}
    steps = {}
    for name in ("welch-mlp", "welch-cooc-mlp"):
        encoder = Encoder(ArchitectureConfig(name=name)).train()
        steps[name] = per_image_ms(training_step(encoder), images, args.repeats)
    print(f"{args.batch_size} images of {args.image_size} px, {args.threads} thread(s), best of {args.repeats}")
    print("| what | ms an image | × the first of its kind |")
    print("|---|---|---|")
    for kind, rows in (("reading", readings), ("training step (forward + backward)", steps)):
        first = next(iter(rows.values()))
        for name, ms in rows.items():
            print(f"| {name}, {kind} | {ms:.1f} | {ms / first:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
