"""Does a generator's image pass as a photograph once it is saved the way photographs are?

    aidetect evaluate --data ZOO --model MODEL --gallery-per-class 0 --perturb jpeg:95 --out EVAL
    python benchmarks/zoo/format_shortcut.py EVAL [--condition jpeg:95]

Every real photograph in the zoo is a JPEG (quality about 95, 4:2:0 chroma) and no generator's file
is, so an encoder could learn "carries a camera JPEG's traces" as the mark of `real`. Then an AI
image re-saved as a high-quality JPEG would be called real. This reads one evaluation's
predictions.csv and sets, per generator, the clean photographs against that generator's images
clean and under the condition:

* **AUC clean / clean** and **AUC real clean / generator C**: the detection AUC (score_ai) of the
  clean real test images against the generator's clean images, then against its images under C;
  a shortcut shows as the second far below the first;
* **AUC C / C**: both under C (what ``evaluate`` itself reports for that condition);
* **called real, clean → C**: the share of the generator's images attributed to `real`.

No model runs here; the numbers come from the evaluation's own rows. Their ``score_ai`` is the raw
detection value (the similarity gap or the AI vote share, before calibration); ``evaluate`` reports
its AUCs on the calibrated P(AI), whose ties (an isotonic calibration's steps) can cost a point or
two, so the clean / clean column can sit a little above metrics.json's.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from aidetect.settings import REAL  # noqa: E402

CLEAN = "clean"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("evaluation", type=Path, help="an `aidetect evaluate --out` folder (its predictions.csv)")
    parser.add_argument("--condition", default="jpeg:95", help="the perturbation to read against clean (as evaluate wrote it)")
    return parser.parse_args(argv)


def read_rows(path: Path) -> dict[tuple[str, str], list[tuple[float, str]]]:
    """(true class, condition) -> [(score_ai, predicted class)] from a predictions.csv."""
    rows: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows[(row["true_class"], row["perturbation"])].append((float(row["score_ai"]), row["predicted_class"]))
    return rows


def detection_auc(real: list[tuple[float, str]], fake: list[tuple[float, str]]) -> float:
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    return float(roc_auc_score(labels, [s for s, _ in real] + [s for s, _ in fake]))


def called_real(rows: list[tuple[float, str]]) -> float:
    return sum(predicted == REAL for _, predicted in rows) / len(rows)


def shortcut_table(rows, condition: str) -> dict[str, dict[str, float]]:
    """Per generator: auc_clean, auc_real_clean_vs_condition, auc_condition, called_real_clean, called_real_condition."""
    generators = sorted({c for c, _ in rows if c != REAL})
    real_clean, real_condition = rows[(REAL, CLEAN)], rows[(REAL, condition)]
    table = {}
    for generator in generators:
        clean, perturbed = rows[(generator, CLEAN)], rows[(generator, condition)]
        table[generator] = {
            "auc_clean": detection_auc(real_clean, clean),
            "auc_real_clean_vs_condition": detection_auc(real_clean, perturbed),
            "auc_condition": detection_auc(real_condition, perturbed),
            "called_real_clean": called_real(clean),
            "called_real_condition": called_real(perturbed),
        }
    return table


def main(argv=None) -> int:
    args = parse_args(argv)
    predictions = args.evaluation / "predictions.csv"
    if not predictions.is_file():
        print(f"error: {predictions} not found; run `aidetect evaluate ... --perturb {args.condition} --out {args.evaluation}` "
              "first", file=sys.stderr)
        return 2
    rows = read_rows(predictions)
    conditions = sorted({c for _, c in rows})
    # every class, real included, needs rows under both, or its AUC and share have nothing to stand on
    classes = sorted({c for c, _ in rows} | {REAL})
    missing = [f"{c} {condition}" for c in classes for condition in (CLEAN, args.condition) if not rows.get((c, condition))]
    if missing or len(classes) < 2:
        print(f"error: {predictions} has no rows of {', '.join(missing) or 'a generator'} (its conditions: "
              f"{', '.join(conditions)}); evaluate with --perturb {args.condition} on data with a real class",
              file=sys.stderr)
        return 2
    table = shortcut_table(rows, args.condition)
    c = args.condition
    print(f"{args.evaluation}: clean photographs against each generator's images clean and under {c}\n")
    print(f"| generator | AUC clean / clean | AUC real clean / generator {c} | AUC {c} / {c} | called real: clean → {c} |")
    print("|---|---|---|---|---|")
    for generator, row in table.items():
        print(f"| {generator} | {100 * row['auc_clean']:.1f} | {100 * row['auc_real_clean_vs_condition']:.1f} | "
              f"{100 * row['auc_condition']:.1f} | {100 * row['called_real_clean']:.1f} % → {100 * row['called_real_condition']:.1f} % |")
    print(f"\nreal called real: clean {100 * called_real(rows[(REAL, CLEAN)]):.1f} %, {c} "
          f"{100 * called_real(rows[(REAL, c)]):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
