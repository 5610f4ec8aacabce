"""A family of latent decoders for training (issue #17): perturbed copies of the seen TAESD decoders.

    python benchmarks/zoo/decoder_family.py --zoo /work/zoo --out /work/zoo-decoders --link-zoo
        [--decoders taesd-sd1 taesd-sdxl taesd-flux1] [--variants 4] [--sigma 0.05 0.1]
        [--per-class 120 20] [--seed 0] [--taesd-dir ../shared/data/taesd]
    python benchmarks/zoo/decoder_family.py --check --zoo /work/zoo --out /work/zoo-decoders
        [--left-out taesd-sd3 taesd-flux2]

**Why.** Every latent-diffusion image passes through a VAE decoder, and the zoo's five
``taesd-*`` classes are the only decoders an encoder here trains on: five points, three of
them seen in the latent-decoder leave-out. Detection of the two left out is at chance under
compression for every encoder (docs/zoo-benchmark.md). As the procedural generators give the
encoder thousands of up-sampling networks instead of a dozen, this gives it many decoders of
the family instead of the three it sees: decoder ``d``'s weights, each conv's multiplied
elementwise by ``1 + sigma * N(0, 1)`` (one seeded draw per class), decode ``d``'s own
encoder's latent of a real window. Unperturbed weights are never written, so no class
duplicates a zoo class. On six zoo windows (loaded machine) sigma 0.05 kept the
reconstruction's PSNR against the real window within 0.5 dB of the unperturbed decoder's
(22.4 / 25.0 dB for SD1 / FLUX.1), at a PSNR of 31 dB against the unperturbed decoder's output;
sigma 0.1: 26 dB, 0.5-1.7 dB further from the window. Different seeds of one architecture leave
different fingerprints (Yu et al., ICCV 2019), so each variant is a class. Seen side by side, a
perturbed decoder also casts the window's colours slightly (warmer, brighter): a class could be
told by its cast, which says nothing about decoders; the fingerprint recipe's input, the
neighbouring-pixel residual, sees pixel differences rather than colour levels, which is why the
family is meant for that recipe.

**What a file is.** ``OUT/{train,val}/dec-<decoder>-v<k>/<window>.png``: a real window of the
zoo's *own* split of the same name (``ZOO/train/real`` for train, ``ZOO/val/real`` for val:
nothing of the zoo's test split is read), encoded and decoded as the zoo builds its
``taesd-*`` classes (zoo_taesd.TinyAutoencoder.reconstruct with the perturbed decoder: float32,
clipped, rounded), written as a plain PNG under the window's own file name (so ``aidetect train
--aligned`` batches it with the window's other versions). Each class takes its own seeded
sample of ``--per-class`` windows.

**Training on it with the zoo.** ``--link-zoo`` links the zoo's train and val class folders
into OUT once every file is written (symlinks; discovery follows them), so ``aidetect train
--data OUT`` trains on the zoo and the family together; evaluate with ``--data ZOO`` so
galleries and test images are the zoo's alone. Leave the unseen decoders out of both
(``--exclude taesd-sd3 --exclude taesd-flux2``) for the latent-decoder leave-out. ``--check``
says whether OUT is a complete, linked family built from that zoo (the same folder and the same
windows) whose decoders are none of ``--left-out``; benchmarks/zoo/yardsticks.sh runs it
before it trains on a family.

Deterministic for one machine and torch version, resumable (files already there are skipped;
the same command after a kill finishes the set), refuses a folder started with other
arguments, another zoo or other TAESD weights; one torch thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import zoo_generators as zg  # noqa: E402
import zoo_taesd  # noqa: E402

from aidetect.fileio import atomic_write_json  # noqa: E402

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


def window_digest(sources: dict[str, list[Path]]) -> str:
    """Which windows the family was drawn from (their names per split): a rebuilt zoo changes it."""
    text = "\n".join(f"{split}/{p.name}" for split in SPLITS for p in sources[split])
    return hashlib.sha256(text.encode()).hexdigest()


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", type=Path, required=True, help="zoo build whose train/val real windows are the content")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--decoders", nargs="+", default=["taesd-sd1", "taesd-sdxl", "taesd-flux1"],
                    choices=sorted(zoo_taesd.PAIRS), help="decoders to perturb (default: the three the latent-decoder leave-out trains on)")
    ap.add_argument("--variants", type=int, default=4, help="classes per decoder")
    ap.add_argument("--sigma", type=float, nargs="+", default=[0.05, 0.1], help="perturbation scales, used in turn by the variants")
    ap.add_argument("--per-class", type=int, nargs=2, default=[120, 20], metavar=("TRAIN", "VAL"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--taesd-dir", type=Path, default=zg.DEFAULT_TAESD_DIR)
    ap.add_argument("--link-zoo", action="store_true", help="also link the zoo's train/val class folders into OUT")
    ap.add_argument("--check", action="store_true", help="build nothing: exit 0 if OUT is a complete linked family of --zoo, else 2 with why")
    ap.add_argument("--left-out", nargs="*", default=[], help="with --check: classes the family's decoders must not include")
    args = ap.parse_args(argv)
    if args.variants < 1 or min(args.per_class) < 1 or any(not 0 < s < 1 for s in args.sigma):
        ap.error("--variants and --per-class must be >= 1 and every --sigma in (0, 1)")
    args.decoders = list(dict.fromkeys(args.decoders))  # a decoder named twice is one decoder
    return args


def check(out: Path, zoo: Path, left_out: list[str]) -> str | None:
    """Why OUT cannot be trained on beside ZOO's leave-out (None: it can)."""
    path = out / PARAMS_FILE
    if not path.is_file():
        return f"no decoder family in {out} ({PARAMS_FILE} missing)"
    recorded = json.loads(path.read_text())
    if not recorded.get("complete"):
        return f"the decoder family in {out} is not complete (a build was stopped); run its command again"
    if recorded["params"]["zoo"] != str(zoo.resolve()) or recorded["windows"] != window_digest({s: windows(zoo, s) for s in SPLITS}):
        return f"the decoder family in {out} was built from {recorded['params']['zoo']}, not from this zoo's windows ({zoo})"
    leaked = sorted(set(recorded["params"]["decoders"]) & set(left_out))
    if leaked:
        return f"the decoder family in {out} perturbs {', '.join(leaked)}, which this setting leaves out"
    if not all((out / split / "real").is_symlink() for split in SPLITS):
        return f"the zoo is not linked into {out}; run the build again with --link-zoo"
    return None


def link_zoo(zoo: Path, out: Path) -> None:
    for split in SPLITS:
        for folder in sorted((zoo / split).iterdir()):
            link = out / split / folder.name
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            if link.is_symlink() and not link.exists():
                link.unlink()  # dangling: a zoo that moved
            if not link.exists():
                link.symlink_to(folder.resolve(), target_is_directory=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.check:
        why = check(args.out, args.zoo, args.left_out)
        if why:
            print(f"error: {why}", file=sys.stderr)
            return 2
        return 0
    sources = {split: windows(args.zoo, split) for split in SPLITS}
    sums = zoo_taesd.read_sums(args.taesd_dir)
    params = {"zoo": str(args.zoo.resolve()), "decoders": args.decoders, "variants": args.variants, "sigma": args.sigma,
              "per_class": args.per_class, "seed": args.seed,
              "weights": {name: sums.get(name) for d in args.decoders for name in zoo_taesd.weight_files(d)}}
    args.out.mkdir(parents=True, exist_ok=True)
    params_path = args.out / PARAMS_FILE
    digest = window_digest(sources)
    if params_path.exists():
        old = json.loads(params_path.read_text())
        if old.get("params") != params or old.get("windows") != digest:
            raise SystemExit(f"error: {args.out} was started with other arguments, another zoo or other weights "
                             f"({params_path}); use another --out or the same arguments")
    classes = {}
    for decoder in args.decoders:
        for variant in range(args.variants):
            classes[class_name(decoder, variant)] = {"decoder": decoder, "variant": variant,
                                                     "sigma": args.sigma[variant % len(args.sigma)],
                                                     "weight_seed": class_seed(args.seed, decoder, variant)}
    record = {"params": params, "windows": digest, "classes": classes, "complete": False}
    atomic_write_json(params_path, record)  # first, so a second build with other arguments is refused

    start, done, skipped = time.time(), 0, 0
    total = len(classes) * sum(min(n, len(sources[split])) for split, n in zip(SPLITS, args.per_class))
    for decoder in args.decoders:
        pair = zoo_taesd.TinyAutoencoder(args.taesd_dir.resolve(), decoder, sums)
        plain = pair.decoder
        for name, spec in ((n, s) for n, s in classes.items() if s["decoder"] == decoder):
            pair.decoder = perturbed_decoder(plain, spec["sigma"], spec["weight_seed"])
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
                    # reconstruct checks the sides (multiples of 8) and that every pixel is finite
                    zg.write_png(target, pair.reconstruct(zg.load_rgb(source)))
                    done += 1
            print(f"{name} (sigma {spec['sigma']}): {done + skipped}/{total} files, {(time.time() - start) / 60:.1f} min", flush=True)
    if args.link_zoo:
        link_zoo(args.zoo, args.out)
    record["complete"] = True  # every file is there (check also wants the zoo linked)
    atomic_write_json(params_path, record)
    print(f"wrote {done} files ({skipped} already there) in {(time.time() - start) / 60:.1f} min to {args.out}")
    return 0


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    raise SystemExit(main())
