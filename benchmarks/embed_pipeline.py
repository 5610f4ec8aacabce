"""Is the encoder the only bottleneck of `aidetect embed`? Three measurements side by side, one run:

  (a) the encoder alone: forward passes on random tensors at the model's input size and batch;
  (b) aidetect's embedding pipeline (the code behind `aidetect embed`) on a folder of real photos:
      DataLoader decoding, preprocessing, batching, inference_mode;
  (c) a naive loop: open one image with PIL, preprocess, forward one image.

    python benchmarks/embed_pipeline.py [--photos ../shared/data/photos] [--batch-size 32] [--workers 0 1 2]

Prints images/s and the ratios b/a (goal >= 0.85) and b/c (goal >= 2). The
model is EfficientNet-B0 with random weights at 256x256 (the thesis recipe):
speed does not depend on what the weights learned.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from aidetect.config import ArchitectureConfig, ModelConfig, PreprocessConfig
from aidetect.data.images import iter_image_files, load_image
from aidetect.embedding import embed_files
from aidetect.models.encoder import Encoder
from aidetect.models.model_dir import load_model, save_model
from aidetect.models.preprocess import to_array


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"))
    parser.add_argument("--batch-size", type=int, default=None, help="default: what aidetect embed uses on this device")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--limit", type=int, default=320)
    args = parser.parse_args()

    files = [str(p) for p in iter_image_files([args.photos])][: args.limit]
    from aidetect.embedding import default_batch_size

    args.batch_size = args.batch_size or default_batch_size(torch.device("cpu"))
    folder = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    save_model(folder, Encoder(ArchitectureConfig()), ModelConfig(preprocess=PreprocessConfig(image_size=args.image_size)))
    model = load_model(folder)
    encoder, preprocess = model.encoder, model.config.preprocess
    print(f"{len(files)} photos from {args.photos}; EfficientNet-B0 at {args.image_size}px, batch {args.batch_size}, "
          f"{torch.get_num_threads()} torch threads")

    # (a) the encoder alone, in the layout the pipeline uses
    encoder = encoder.to(memory_format=torch.channels_last)
    batch = torch.rand(args.batch_size, 3, args.image_size, args.image_size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        encoder(batch)
        n_batches = max(1, len(files) // args.batch_size)
        began = time.perf_counter()
        for _ in range(n_batches):
            encoder(batch)
        a = n_batches * args.batch_size / (time.perf_counter() - began)
    print(f"(a) encoder forward only   : {a:7.2f} images/s")

    # (b) the pipeline, for each worker count
    b_best = 0.0
    for workers in args.workers:
        began = time.perf_counter()
        result = embed_files(encoder, preprocess, files, batch_size=args.batch_size, workers=workers, progress=None)
        b = len(result.paths) / (time.perf_counter() - began)
        b_best = max(b_best, b)
        print(f"(b) aidetect embed, {workers} workers: {b:7.2f} images/s   b/a = {b / a:.2f}")

    # (c) naive loop
    began = time.perf_counter()
    n_naive = min(len(files), 96)
    with torch.inference_mode():
        for path in files[:n_naive]:
            array = to_array(load_image(path), preprocess)
            encoder(torch.from_numpy(array)[None])
    c = n_naive / (time.perf_counter() - began)
    print(f"(c) naive one-image loop   : {c:7.2f} images/s")
    print(f"best b/a = {b_best / a:.2f} (goal >= 0.85); best b/c = {b_best / c:.2f} (goal >= 2)")


if __name__ == "__main__":
    main()
