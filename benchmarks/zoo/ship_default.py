"""Ship a zoo model as the package's default: half-precision weights, re-embedded gallery.

    python benchmarks/zoo/ship_default.py runs/zoo/<model>

Writes aidetect/bundled/default/ (models/default links to it). The model card
(MODEL_CARD.md) is written by hand from docs/zoo-benchmark.md and kept; this script
only moves the model. The new model is exported beside the old one first and swapped
in only once complete, so a failed export (or ``--help``) leaves the shipped model as it was.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import export_model  # noqa: E402  (benchmarks/zoo is not a package)

TARGET = Path(__file__).resolve().parents[2] / "aidetect" / "bundled" / "default"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="model directory made by `aidetect train`")
    args = parser.parse_args(argv)
    if not (args.source / "config.json").is_file():
        parser.error(f"{args.source} is not a model directory (no config.json); give the folder `aidetect train --out` wrote")
    staging = TARGET.with_name(TARGET.name + ".new")
    if staging.exists():
        shutil.rmtree(staging)
    fingerprint = export_model(args.source, staging, half=True)
    card = TARGET / "MODEL_CARD.md"
    if card.exists():
        shutil.copyfile(card, staging / "MODEL_CARD.md")
    old = TARGET.with_name(TARGET.name + ".old")
    if TARGET.exists():
        TARGET.rename(old)
    staging.rename(TARGET)
    if old.exists():
        shutil.rmtree(old)
    size = sum(p.stat().st_size for p in TARGET.iterdir()) / 2**20
    print(f"shipped {args.source} as {TARGET} (fingerprint {fingerprint}, {size:.1f} MB)")


if __name__ == "__main__":
    main()
