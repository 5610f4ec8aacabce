"""A family of latent decoders for training (issue #17): perturbed copies of the seen TAESD decoders.

    python benchmarks/zoo/decoder_family.py --zoo /work/zoo --out /work/decoders
        [--decoders taesd-sd1 taesd-sdxl taesd-flux1] [--variants 8] [--sigma 0.05 0.1]
        [--per-class 80 16] [--seed 0] [--taesd-dir ../shared/data/taesd]

**Why.** Every latent-diffusion image passes through a VAE decoder, and the zoo's five
``taesd-*`` classes are the only decoders an encoder here trains on: five points, three of
them in the latent-decoder leave-out. Detection of the two left out is at chance under
compression for every encoder (docs/zoo-benchmark.md). As the procedural generators give the
encoder thousands of up-sampling networks instead of a dozen, this gives it many decoders of
the family instead of three: decoder ``d``'s weights, each conv's multiplied elementwise by
``1 + sigma * N(0, 1)`` (one seeded draw per class), decode ``d``'s own encoder's latent of a
real window. Unperturbed weights are never written, so no class duplicates a zoo class; on six
zoo windows (loaded machine) sigma 0.05 kept the reconstruction's PSNR against the real
window within 0.5 dB of the unperturbed decoder's (22.4 / 25.0 dB) while differing from its
output by 31 dB; sigma 0.1 by 26 dB at a cost of 0.5-1.7 dB. Different seeds of one
architecture leave different fingerprints (Yu et al., ICCV 2019), so each variant is a class.

**What a file is.** ``OUT/{train,val}/dec-<decoder>-v<k>/<window>.png``: a real window of the
zoo's *own* split of the same name (``ZOO/train/real`` for train, ``ZOO/val/real`` for val:
nothing of the zoo's test split is read), encoded and decoded as the zoo builds its
``taesd-*`` classes (benchmarks/zoo/zoo_taesd.py, float32, clipped, rounded), written as a plain
PNG under the window's own file name (so ``aidetect train --aligned`` batches it with the
window's other versions). Each class takes its own seeded sample of ``--per-class`` windows.

**Training on it with the zoo.** ``--link-zoo`` also links the zoo's train and val class
folders into OUT (symlinks; discovery follows them), so ``aidetect train --data OUT`` trains on
the zoo and the family together; evaluate with ``--data ZOO`` so galleries and test images are
the zoo's alone. Leave the unseen decoders out of both (``--exclude taesd-sd3 --exclude
taesd-flux2``) for the latent-decoder leave-out.

Deterministic for one machine and torch version, resumable (files already there are skipped;
the same command after a kill finishes the set), refuses a folder started with other
arguments; one torch thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import zoo_generators as zg  # noqa: E402
import zoo_taesd  # noqa: E402

SPLITS = ("train", "val")
PARAMS_FILE = "decoder-family.json"


def class_name(decoder: str, variant: int) -> str:
    return f"dec-{decoder.removeprefix('taesd-')}-v{variant}"


def class_seed(seed: int, decoder: str, variant: int) -> int:
    """A seed that depends on the run's seed, the decoder and the variant only (not on the other arguments)."""
    digest = hashlib.sha256(f"{seed}:{decoder}:{variant}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def perturbed_decoder(decoder, sigma: float, seed: int):
    """A copy of ``decoder`` whose conv weights are multiplied by 1 + sigma * N(0, 1), drawn from ``seed``."""
    import copy

    import torch

    net = copy.deepcopy(decoder)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():  # modules() is in definition order: the draw is reproducible
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(1.0 + sigma * torch.randn(module.weight.shape, generator=generator))
    return net


def windows(zoo: Path, split: str) -> list[Path]:
    folder = zoo / split / "real"
    found = sorted(p for p in folder.glob("*.png") if not p.name.startswith("."))
    if not found:
        raise SystemExit(f"error: no real windows in {folder}; give --zoo the root of a zoo build (benchmarks/zoo/build.py)")
    return found


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, required=True, help="zoo build whose train/val real windows are the content")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--decoders", nargs="+", default=["taesd-sd1", "taesd-sdxl", "taesd-flux1"],
                    choices=sorted(zoo_taesd.PAIRS), help="decoders to perturb (default: the three the latent-decoder leave-out trains on)")
    ap.add_argument("--variants", type=int, default=8, help="classes per decoder")
    ap.add_argument("--sigma", type=float, nargs="+", default=[0.05, 0.1], help="perturbation scales, used in turn by the variants")
    ap.add_argument("--per-class", type=int, nargs=2, default=[80, 16], metavar=("TRAIN", "VAL"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--taesd-dir", type=Path, default=zg.DEFAULT_TAESD_DIR)
    ap.add_argument("--link-zoo", action="store_true", help="also link the zoo's train/val class folders into OUT")
    args = ap.parse_args(argv)
    if args.variants < 1 or min(args.per_class) < 1 or any(not 0 < s < 1 for s in args.sigma):
        ap.error("--variants and --per-class must be >= 1 and every --sigma in (0, 1)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(1)
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out", "link_zoo", "taesd_dir")}
    args.out.mkdir(parents=True, exist_ok=True)
    params_path = args.out / PARAMS_FILE
    if params_path.exists():
        old = json.loads(params_path.read_text())
        if old.get("params") != params:
            raise SystemExit(f"error: {args.out} was started with other arguments ({params_path}); use another --out or the same arguments")
    sources = {split: windows(args.zoo, split) for split in SPLITS}
    sums = zoo_taesd.read_sums(args.taesd_dir)
    classes = {}
    for decoder in args.decoders:
        for variant in range(args.variants):
            classes[class_name(decoder, variant)] = {"decoder": decoder, "variant": variant,
                                                     "sigma": args.sigma[variant % len(args.sigma)],
                                                     "weight_seed": class_seed(args.seed, decoder, variant)}
    tmp = params_path.with_name(f".{PARAMS_FILE}.tmp")
    tmp.write_text(json.dumps({"params": params, "classes": classes}, indent=1))
    os.replace(tmp, params_path)

    start, done, skipped = time.time(), 0, 0
    total = len(classes) * sum(args.per_class)
    for decoder in args.decoders:
        pair = zoo_taesd.TinyAutoencoder(args.taesd_dir.resolve(), decoder, sums)
        for name, spec in ((n, s) for n, s in classes.items() if s["decoder"] == decoder):
            net = perturbed_decoder(pair.decoder, spec["sigma"], spec["weight_seed"])
            rng = np.random.default_rng(spec["weight_seed"])
            for split, count in zip(SPLITS, args.per_class):
                pool = sources[split]
                chosen = [pool[i] for i in np.sort(rng.choice(len(pool), min(count, len(pool)), replace=False))]
                folder = args.out / split / name
                folder.mkdir(parents=True, exist_ok=True)
                for source in chosen:
                    target = folder / source.name
                    if target.exists():
                        skipped += 1
                        continue
                    rgb = zg.load_rgb(source)
                    x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
                    with torch.inference_mode():
                        y = net(pair.encoder(x.contiguous(memory_format=torch.channels_last)))[0].permute(1, 2, 0).numpy()
                    if not np.isfinite(y).all():
                        raise SystemExit(f"error: {name} gave non-finite pixels on {source}; use a smaller --sigma")
                    zg.write_png(target, np.rint(np.clip(y, 0.0, 1.0) * 255.0).astype(np.uint8))
                    done += 1
            elapsed = time.time() - start
            print(f"{name} (sigma {spec['sigma']}): {done + skipped}/{total} files, {elapsed / 60:.1f} min", flush=True)
    if args.link_zoo:
        for split in SPLITS:
            for folder in sorted((args.zoo / split).iterdir()):
                link = args.out / split / folder.name
                if folder.is_dir() and not link.exists():
                    link.symlink_to(folder.resolve(), target_is_directory=True)
    print(f"wrote {done} files ({skipped} already there) in {(time.time() - start) / 60:.1f} min to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
