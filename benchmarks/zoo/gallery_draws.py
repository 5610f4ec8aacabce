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


def read_draw(path: Path, runs: Path, name: str) -> tuple[tuple | None, str | None]:
    """((model fingerprint, accuracy, AUC), None), or (None, a one-line error that says what writes the file)."""
    writer = name if path.parent.name == DRAWS[0] else f"{name}-draws"  # the yardsticks row that writes it
    if not path.is_file():
        return None, f"{path} not found; run: bash benchmarks/zoo/yardsticks.sh ZOO {runs} {writer}"
    try:
        metrics = json.loads(path.read_text())
        accuracy, auc = figures(metrics)
    except (ValueError, KeyError, TypeError) as error:
        return None, f"{path} is not a complete evaluation ({type(error).__name__}: {error}); write it again: " \
                     f"move it aside and run bash benchmarks/zoo/yardsticks.sh ZOO {runs} {writer}"
    if metrics.get("gallery_per_class") != 50:
        return None, f"{path} is a gallery of {metrics.get('gallery_per_class')} per class, not 50"
    return (metrics.get("model_fingerprint"), accuracy, auc), None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: gallery_draws.py RUNS NAME [NAME ...]", file=sys.stderr)
        return 2
    runs, names = Path(argv[0]), argv[1:]
    print("| model | draw | accuracy clean / JPEG 75 / wild | AUC clean / JPEG 75 / wild |")
    print("|---|---|---|---|")
    for name in names:
        draws = []
        for draw in DRAWS:
            found, error = read_draw(runs / name / draw / "metrics.json", runs, name)
            if error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            draws.append(found)
        # the three draws must be evaluations of one model (a retrained run leaves stale draws behind)
        if len({fingerprint for fingerprint, _, _ in draws}) > 1:
            print(f"error: {runs / name}: its three 50-per-class evaluations are of different models; move the stale "
                  f"eval-g50* folders aside and run bash benchmarks/zoo/yardsticks.sh ZOO {runs} {name} {name}-draws",
                  file=sys.stderr)
            return 2
        for index, (_, accuracy, auc) in enumerate(draws):
            print(f"| {name} | {index} | {row(accuracy)} | {row(auc)} |")
        columns = list(zip(*(accuracy + auc for _, accuracy, auc in draws)))
        means = [sum(c) / len(c) for c in columns]
        ranges = [max(c) - min(c) for c in columns]
        print(f"| {name} | mean | {row(means[:3])} | {row(means[3:])} |")
        print(f"| {name} | range | {row(ranges[:3])} | {row(ranges[3:])} |")
    return 0

if __name__ == "__main__":
    sys.exit(main())
