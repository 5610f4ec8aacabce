"""Ship a zoo model as the package's default: half-precision weights, re-embedded gallery.

    python benchmarks/zoo/ship_default.py runs/zoo/<model>

Writes aidetect/bundled/default/ (models/default links to it). The model card
(MODEL_CARD.md) is written by hand from docs/zoo-benchmark.md; this script
only moves the model.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from aidetect.models.model_dir import export_model

TARGET = Path(__file__).resolve().parents[2] / "aidetect" / "bundled" / "default"


def main() -> None:
    source = Path(sys.argv[1])
    card = TARGET / "MODEL_CARD.md"
    kept_card = card.read_text() if card.exists() else None
    if TARGET.exists():
        shutil.rmtree(TARGET)
    fingerprint = export_model(source, TARGET, half=True)
    if kept_card is not None:
        card.write_text(kept_card)
    size = sum(p.stat().st_size for p in TARGET.iterdir()) / 2**20
    print(f"shipped {source} as {TARGET} (fingerprint {fingerprint}, {size:.1f} MB)")


if __name__ == "__main__":
    main()
