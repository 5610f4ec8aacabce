"""How much of a model's 50-per-class result is the draw of the 50: its evaluations with three draws.

    python benchmarks/zoo/gallery_draws.py RUNS NAME [NAME ...]

Reads ``RUNS/NAME/eval-g50`` (draw 0, the yardsticks' own) and ``eval-g50-draw1``, ``-draw2``
(written by the yardsticks row ``NAME-draws``: the same evaluation with ``--seed 1`` and ``2``,
which draw other gallery images and leave the test images and their conditions as they are), and
prints per model the accuracy and detection AUC of each draw, clean / JPEG 75 / wild, their mean
and their range (largest minus smallest). A difference between two models smaller than these
ranges is not a difference the 50-per-class columns can show.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CONDITIONS = ("clean", "jpeg:75", "wild:0")
DRAWS = ("eval-g50", "eval-g50-draw1", "eval-g50-draw2")


def figures(metrics: dict) -> tuple[list[float], list[float]]:
    """(accuracy, detection AUC) per condition, in percent."""
    results = metrics["results"]
    accuracy = [100 * results[c]["attribution"]["accuracy"] for c in CONDITIONS]
    auc = [100 * results[c]["detection"]["overall_auc"] for c in CONDITIONS]
    return accuracy, auc


def row(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: gallery_draws.py RUNS NAME [NAME ...]", file=sys.stderr)
        return 2
    runs, names = Path(argv[0]), argv[1:]
    print("| model | draw | accuracy clean / JPEG 75 / wild | AUC clean / JPEG 75 / wild |")
    print("|---|---|---|---|")
    for name in names:
        found = {}
        for draw in DRAWS:
            path = runs / name / draw / "metrics.json"
            if not path.is_file():
                print(f"error: {path} not found; run: bash benchmarks/zoo/yardsticks.sh ZOO {runs} {name}-draws",
                      file=sys.stderr)
                return 2
            metrics = json.loads(path.read_text())
            if metrics.get("gallery_per_class") != 50:
                print(f"error: {path} is a gallery of {metrics.get('gallery_per_class')} per class, not 50", file=sys.stderr)
                return 2
            found[draw] = figures(metrics)
        for index, (accuracy, auc) in enumerate(found.values()):
            print(f"| {name} | {index} | {row(accuracy)} | {row(auc)} |")
        columns = list(zip(*(accuracy + auc for accuracy, auc in found.values())))
        means = [sum(c) / len(c) for c in columns]
        ranges = [max(c) - min(c) for c in columns]
        print(f"| {name} | mean | {row(means[:3])} | {row(means[3:])} |")
        print(f"| {name} | range | {row(ranges[:3])} | {row(ranges[3:])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
