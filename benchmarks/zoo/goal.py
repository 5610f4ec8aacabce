"""Where the encoder issue's goal stands: every cell it names, against the spectrum, in one table.

    python benchmarks/zoo/goal.py --spectrum runs/zoo2/spectrum --seen runs/zoo2-s23/default \
        --upsampler runs/zoo2/welch-mlp-softmax-leaveout-hidden [more seeds of it...] \
        --latent runs/zoo2/welch-mlp-softmax-latentout-hidden [more seeds...] [--mark 15]

The goal (issue #17): the learned encoder alone beats the spectrum yardstick on the zoo's test
split by ``--mark`` points of attribution accuracy and of detection AUC, for seen and zero-shot
generators (both leave-outs), clean, at JPEG 75 and under `wild`, with galleries of all and of 50
per class. A cell here is one setting × gallery × condition × measure:

* ``seen``: the all-class model; accuracy over all 15 classes and detection AUC of real against
  every generator (``overall_auc``), the figures of table.py's main table;
* ``upsampler`` / ``latent``: a leave-out model; mean recall over the classes it left out of
  training and the mean of real-against-each AUC over them, beside the spectrum's figures on the
  same classes (table.py's zero-shot tables).

Several run folders for one setting (seeds of one recipe) are shown each, and the cell is judged
on their mean: "met" when the mean margin, to one decimal as printed, reaches the mark, with how
many runs reach it. Every
number comes from RUN/eval-g<0|50>/metrics.json as `aidetect evaluate` wrote it; read-only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table import auc_on, recall_on  # noqa: E402

CONDITIONS = (("clean", "clean"), ("jpeg:75", "JPEG 75"), ("wild:0", "wild"))
GALLERIES = ((0, "all"), (50, "50"))


class GoalError(Exception):
    """A run folder that cannot be read as the goal asks: the message says which and what to do."""


def load(run: Path, gallery: int) -> dict:
    path = run / f"eval-g{gallery}" / "metrics.json"
    if not path.is_file():
        raise GoalError(f"{path} is missing: evaluate {run} with a gallery of {gallery or 'all'} per class first "
                        "(benchmarks/zoo/yardsticks.sh)")
    try:
        metrics = json.loads(path.read_text())
    except ValueError as error:
        raise GoalError(f"{path} is not JSON ({error}); evaluate {run} again") from None
    if not (isinstance(metrics, dict) and isinstance(metrics.get("results"), dict)
            and isinstance(metrics.get("zero_shot_classes"), list) and "gallery_per_class" in metrics):
        raise GoalError(f"{path} is not an `aidetect evaluate` metrics.json (results, zero_shot_classes, "
                        f"gallery_per_class); evaluate {run} again")
    per_class = metrics["gallery_per_class"]
    if (per_class or 0) != gallery:
        raise GoalError(f"{path} holds an evaluation with a gallery of {per_class or 'all'} per class, not "
                        f"{gallery or 'all'}; evaluate {run} with --gallery-per-class {gallery}")
    metrics["_path"] = path
    return metrics


def figures(metrics: dict, condition: str, classes: list[str] | None) -> tuple[float | None, float | None]:
    """(accuracy, AUC) in percent: overall with ``classes`` None, else over those classes; None for a
    measure the evaluation lacks (no detection: the scores were not finite)."""
    result = metrics["results"].get(condition)
    if result is None:
        raise GoalError(f"{metrics['_path']} has no {condition} results; evaluate with evaluate's default conditions "
                        "(clean, jpeg:75, wild)")
    detection = result.get("detection") or {}
    if classes is None:
        accuracy, auc = result["attribution"]["accuracy"], detection.get("overall_auc")
    else:
        accuracy, auc = recall_on(result["attribution"], classes), auc_on(detection, classes)
    return (None if accuracy is None else 100 * accuracy), (None if auc is None else 100 * auc)


def cells(setting: str, runs: list[Path], spectrum: Path, mark: float):
    """Rows of the table for one setting: (setting, gallery, condition, measure, spectrum, runs' figures,
    their margins, the mean margin, verdict)."""
    for gallery, gallery_name in GALLERIES:
        spectrum_metrics = load(spectrum, gallery)
        run_metrics = [load(run, gallery) for run in runs]
        if len({str(m.get("data")) for m in [spectrum_metrics, *run_metrics]}) > 1:
            raise GoalError("the runs were evaluated on other data than the spectrum: " +
                            ", ".join(f"{m['_path']} on {m.get('data')}" for m in [spectrum_metrics, *run_metrics]))
        classes = None
        if setting != "seen":
            left_out = {tuple(sorted(m["zero_shot_classes"])) for m in run_metrics}
            if len(left_out) != 1 or not next(iter(left_out)):
                raise GoalError(f"the --{setting} runs must leave out the same classes, and some: " +
                                ", ".join(f"{run} leaves out {sorted(m['zero_shot_classes'])}" for run, m in zip(runs, run_metrics)))
            classes = list(next(iter(left_out)))
            known = set(spectrum_metrics["results"]["clean"]["attribution"]["per_class"]) if "clean" in spectrum_metrics["results"] else set()
            if not set(classes) <= known:
                raise GoalError(f"{spectrum_metrics['_path']} has no figures for {sorted(set(classes) - known)}; "
                                "evaluate the spectrum on the data the leave-out runs were evaluated on")
        else:
            for run, m in zip(runs, run_metrics):
                if m["zero_shot_classes"]:
                    raise GoalError(f"--seen takes all-class runs and {run} leaves out {sorted(m['zero_shot_classes'])}; "
                                    "give it to --upsampler or --latent")
        for condition, condition_name in CONDITIONS:
            base = figures(spectrum_metrics, condition, classes)
            own = [figures(m, condition, classes) for m in run_metrics]
            for index, measure in enumerate(("accuracy", "AUC")):
                values = [o[index] for o in own]
                if base[index] is None or any(v is None for v in values):
                    margins = [None if v is None or base[index] is None else round(v - base[index], 1) for v in values]
                    verdict, mean = "not measured", None
                else:
                    # each run's margin shown to one decimal; the cell judged on the mean of the unrounded
                    # margins, rounded once, so a mean printed as +15.0 meets a mark of 15
                    margins = [round(v - base[index], 1) for v in values]
                    mean = round(sum(v - base[index] for v in values) / len(values), 1)
                    reached = sum(m >= mark for m in margins)
                    verdict = ("met" if mean >= mark else "short") + f" ({mean:+.1f}" + \
                        (f"; {reached} of {len(margins)} runs)" if len(margins) > 1 else ")")
                yield setting, gallery_name, condition_name, measure, base[index], values, margins, mean, verdict


def joined(values, sign: str = "") -> str:
    """The runs' figures in run order, "–" for one not measured."""
    return " / ".join("–" if v is None else f"{v:{sign}.1f}" for v in values) or "–"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spectrum", type=Path, required=True, help="the spectrum yardstick's run folder")
    parser.add_argument("--seen", type=Path, nargs="+", required=True, help="all-class run folders (seeds of one recipe)")
    parser.add_argument("--upsampler", type=Path, nargs="*", default=[], help="up-sampler leave-out run folders")
    parser.add_argument("--latent", type=Path, nargs="*", default=[], help="latent-decoder leave-out run folders")
    parser.add_argument("--mark", type=float, default=15.0, help="points above the spectrum a cell needs (the goal's 15)")
    args = parser.parse_args(argv)

    try:
        rows = [row for setting, runs in (("seen", args.seen), ("upsampler", args.upsampler), ("latent", args.latent))
                if runs for row in cells(setting, runs, args.spectrum, args.mark)]
    except GoalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"| setting | gallery | condition | measure | spectrum | encoder, each run | margin, each run | against +{args.mark:g} |")
    print("|---|---|---|---|---|---|---|---|")
    tally: dict[str, list] = {}
    for setting, gallery, condition, measure, base, values, margins, mean, verdict in rows:
        print(f"| {setting} | {gallery} | {condition} | {measure} | {'–' if base is None else f'{base:.1f}'} "
              f"| {joined(values)} | {joined(margins, '+')} | {verdict} |")
        group = tally.setdefault(f"{setting} {measure}", [0, 0, []])
        group[0] += verdict.startswith("met")
        group[1] += 1
        if mean is not None:
            group[2].append(mean)
    print()
    print("Cells met (mean margin over the runs at or above the mark), and the margin averaged over the group's cells: " +
          "; ".join(f"{name} {met} of {total} ({sum(means) / len(means):+.1f})" if means else f"{name} {met} of {total}"
                    for name, (met, total, means) in tally.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
