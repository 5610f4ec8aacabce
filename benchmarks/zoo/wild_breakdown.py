"""Attribution accuracy under the `wild` conditions, split by what each test image went through.

    python benchmarks/zoo/wild_breakdown.py RUNS_DIR MODEL... [--gallery-per-class 0]

`evaluate` draws one chain per test image (aidetect.data.perturb.WildConditions: a crop, a
downscale, JPEG or WebP, a second JPEG, each with its probability) and reports one accuracy for
all of them. This script draws the same chains again (they are seeded by each image's pixels and
the seed in the perturbation's key, so they are the ones `evaluate` applied) and splits each run's
`wild` predictions (RUNS_DIR/MODEL/eval-gN/predictions.csv) by them: kept at native resolution or
downscaled, and the lossy format: WebP when the chain saved it as WebP (a second JPEG may follow,
as in about a third of those chains), else JPEG, else none. It reads the test images themselves,
as `evaluate` does (aidetect.data.images.load_image), to draw the chains; nothing is embedded.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aidetect.data.images import load_image  # noqa: E402
from aidetect.data.perturb import WildConditions  # noqa: E402
from aidetect.errors import ImageReadError  # noqa: E402

GROUPS = ("all", "native resolution", "downscaled", "JPEG", "WebP", "no lossy format")


def groups_of(chain_steps) -> tuple[str, ...]:
    """The groups an image's chain puts it in (besides ``all``)."""
    kinds = [kind for kind, _ in chain_steps]
    size = "downscaled" if "resize" in kinds else "native resolution"
    # the format is WebP when WebP was drawn (a second JPEG may follow it), else JPEG, else none
    form = "WebP" if "webp" in kinds else ("JPEG" if "jpeg" in kinds else "no lossy format")
    return ("all", size, form)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="runs directory (benchmarks/zoo/yardsticks.sh's RUNS_DIR)")
    parser.add_argument("models", nargs="+", help="run names under RUNS_DIR, e.g. procedural8000-ft spectrum")
    parser.add_argument("--gallery-per-class", type=int, default=0, help="which evaluation: eval-g0 (all, default) or eval-g50")
    args = parser.parse_args(argv)
    tables = {}
    for model in args.models:
        path = args.runs / model / f"eval-g{args.gallery_per_class}" / "predictions.csv"
        if not path.is_file():
            parser.error(f"{path} is missing: evaluate {model} first (benchmarks/zoo/yardsticks.sh)")
        with path.open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row["perturbation"].startswith("wild")]
        if not rows:
            parser.error(f"{path} has no wild predictions: evaluate with the default conditions")
        tables[model] = rows

    chains: dict[tuple[str, str], tuple[str, ...]] = {}
    print(f"| run (gallery {'all' if args.gallery_per_class == 0 else args.gallery_per_class}) | "
          + " | ".join(GROUPS) + " |")
    print("|---" * (len(GROUPS) + 1) + "|")
    counts: dict[str, int] = {}
    for model, rows in tables.items():
        right, seen = defaultdict(int), defaultdict(int)
        for row in rows:
            key = (row["path"], row["perturbation"])
            if key not in chains:
                _, _, seed = row["perturbation"].partition(":")
                wild = WildConditions(int(seed) if seed else 0)
                try:
                    # the pixels evaluate perturbed (EXIF orientation, alpha and bit depth handled),
                    # so the seed drawn from them is the one evaluate drew
                    image = load_image(row["path"])
                except ImageReadError as error:
                    parser.error(f"{error} (the test image {model}'s predictions name; was the zoo moved or rebuilt elsewhere?)")
                chains[key] = groups_of(wild.chain(image).steps)
            for group in chains[key]:
                seen[group] += 1
                right[group] += row["true_class"] == row["predicted_class"]
        counts = {group: seen[group] for group in GROUPS}
        print(f"| {model} | " + " | ".join(f"{100 * right[g] / seen[g]:.1f}" if seen[g] else "–" for g in GROUPS) + " |")
    print("\nimages per group: " + ", ".join(f"{group} {counts[group]}" for group in GROUPS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
