"""How often the `unknown` rule turns away a gallery class's own images, and how often it catches a generator the gallery lacks.

    python benchmarks/unknown_rates.py --data /work/zoo [--model DIR] [--conditions clean jpeg:75 wild]
        [--outside NAME=DIR ...] [--gap-fraction 0 0.5] [--vote weighted|majority|balanced|centroid] [--unknown-on row|vote]

The rule's two errors, through the product's classifier (aidetect.gallery.knn), on the model's
own gallery and vote: a test image of a class the gallery holds called `unknown` (an analyst loses
an attribution the vote had), and an image of a generator the gallery does not hold *not* called
`unknown` (it is attributed to a class it does not belong to). For the second, each generator
class is taken out of the gallery in turn and its test images attributed against the rest (a
generator the encoder trained on, so the easiest kind to catch), and each ``--outside`` folder holds
images of one such generator (benchmarks/zoo/new_generator.py's held-out folder, say). Every
test condition is applied to both, as `aidetect evaluate --perturb` applies it.

Two AUROCs of own images against taken-out ones rank them by how far each falls short of the
floor of the class it was given, whatever the threshold: the vote's own rule, and the row rule
(the voted class's nearest gallery row against its row floor) for any vote, so a class-mean vote
can be judged by either rule on the same images; then the row rule's catch rate with every row
floor shifted by one amount to turn away as many own images as the vote's rule, and the row
rule at its own floors (own images `unknown` and right, taken-out images `unknown`).

``--gap-fraction``: the floors the rule is run with, per value: the model's vote's floors
computed with that gap term (0: none; for the votes over neighbours the product's rule uses 0.5,
aidetect.gallery.knn.leave_one_out_statistics; for the centroid vote's rule on the class mean,
class_mean_floors), each moved by the model's calibrated shift (aidetect.calibration; none when
``--vote`` or ``--unknown-on`` runs another vote or rule than the model's). One embedding per
image and condition serves every rule. Prints a Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def shortfall(prediction, thresholds: dict[str, float]) -> float:
    """The winning class's floor minus the image's similarity to it (nearest row, or class mean
    under the centroid vote's class-mean rule): above 0 the rule says `unknown`. A class with no floor (under 5 rows)
    never turns an image away: -2, below any cosine difference."""
    floor = thresholds.get(prediction.vote_label)
    return -2.0 if floor is None else floor - prediction.nearest_in_class


def row_shortfalls(gallery, floors: dict[str, float], predictions, queries: np.ndarray) -> np.ndarray:
    """Per query, the voted class's row floor minus the query's similarity to that class's nearest
    gallery row (the row rule's shortfall, aidetect.gallery.knn.leave_one_out_statistics), whatever
    vote chose the class: -2 where the class has no floor."""
    labels = gallery.labels()
    embeddings = np.asarray(gallery.embeddings, dtype=np.float32)
    out = np.full(len(predictions), -2.0)
    for name in {p.vote_label for p in predictions}:
        picked = [i for i, p in enumerate(predictions) if p.vote_label == name]
        if name in floors:
            out[picked] = floors[name] - (queries[picked] @ embeddings[labels == name].T).max(axis=1)
    return out


def parse_outside(items: list[str], parser: argparse.ArgumentParser) -> list[tuple[str, Path]]:
    outside = []
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not Path(folder).is_dir():
            parser.error(f"--outside {item!r}: give NAME=DIR with DIR a folder of images")
        outside.append((name, Path(folder)))
    return outside


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="data root with a test/ split, one folder per gallery class")
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled one)")
    parser.add_argument("--conditions", nargs="+", default=["clean", "jpeg:75", "wild"], help="test conditions (--perturb syntax)")
    parser.add_argument("--outside", nargs="*", default=[], metavar="NAME=DIR", help="images of a generator the gallery lacks")
    parser.add_argument("--vote", choices=("weighted", "majority", "balanced", "centroid"),
                        help="run this vote and its rule instead of the model's")
    parser.add_argument("--unknown-on", choices=("row", "vote"),
                        help="run the unknown rule on the winning class's nearest row, or on what the vote read, instead of the model's rule")
    parser.add_argument("--gap-fraction", nargs="+", type=float, default=[0.0, 0.5], help="gap terms to compare")
    args = parser.parse_args(argv)
    if not (args.data / "test").is_dir():
        parser.error(f"{args.data / 'test'} is missing: --data needs a test/ split")
    outside = parse_outside(args.outside, parser)
    if not all(g >= 0 for g in args.gap_fraction):  # NaN fails too
        parser.error("--gap-fraction must be 0 or more")

    import torch
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(1)
    from aidetect.data.discovery import discover
    from aidetect.data.images import is_image_name
    from aidetect.data.perturb import parse_perturbation
    from aidetect.embedding import embed_files
    from aidetect.errors import AidetectError
    from aidetect.gallery.classifier import classifier_for
    from aidetect.gallery.knn import class_mean_floors, leave_one_out_statistics, shift_floors
    from aidetect.labels import REAL, UNKNOWN
    from aidetect.session import open_session

    try:  # everything the command line names, before any image is read
        conditions = {c: None if c == "clean" else parse_perturbation(c) for c in args.conditions}
        session = open_session(args.model, device="cpu")
        test_split = discover(str(args.data), "auto", seed=0).test
    except AidetectError as exc:
        parser.error(str(exc))
    gallery, rules = session.gallery, session.rules
    # another vote or rule than the model's runs unshifted: the shift was calibrated for the model's own
    if args.vote and args.vote != rules.vote:
        rules = dataclasses.replace(rules, vote=args.vote, unknown_shift=0.0)
    if args.unknown_on and args.unknown_on != rules.unknown_on:
        rules = dataclasses.replace(rules, unknown_on=args.unknown_on, unknown_shift=0.0)
    classes = set(gallery.classes())
    taken = sorted(name for name, _ in outside if name in classes)
    if taken:
        parser.error(f"--outside {taken[0]}=…: that is a gallery class; name the outside generator apart")
    test = [s for s in test_split if s.label in classes]
    if not test:
        parser.error(f"{args.data / 'test'} has no folder named after a gallery class ({', '.join(sorted(classes))})")
    paths = [s.path for s in test] + [str(p) for _, folder in outside for p in sorted(folder.iterdir()) if is_image_name(p.name)]
    truth = [s.label for s in test] + [name for name, folder in outside for p in sorted(folder.iterdir()) if is_image_name(p.name)]

    def mean_floors(held, gap_fraction: float) -> dict[str, float]:
        knn = classifier_for(held, rules)
        return class_mean_floors(held, knn.class_names, knn.codes, gap_fraction=gap_fraction)

    # each generator class taken out of the gallery in turn: its test images are then a generator the
    # gallery lacks (one the encoder was trained on, so the easiest kind to turn away)
    tested = {s.label for s in test}
    without = {c: gallery.subset(np.flatnonzero(gallery.labels() != c)) for c in sorted(tested - {REAL})}
    # the row rule's floors whatever the vote: its shortfall is scored beside the vote's own rule,
    # which for the votes over neighbours is the row rule itself
    row_floors = {g: leave_one_out_statistics(gallery, gap_fraction=g)[0] for g in args.gap_fraction}
    row_floors_without = {(c, g): leave_one_out_statistics(held, gap_fraction=g)[0]
                          for c, held in without.items() for g in args.gap_fraction}
    rule_floors, floors_without = row_floors, row_floors_without
    # the rule and the calibrated shift the product applies to this gallery (classifier_for)
    product = classifier_for(gallery, rules, unknown_thresholds={})
    reads_rows, shift = product.unknown_reads_rows, product.unknown_shift
    if not reads_rows:
        rule_floors = {g: mean_floors(gallery, g) for g in args.gap_fraction}
        floors_without = {(c, g): mean_floors(held, g) for c, held in without.items() for g in args.gap_fraction}
    rule_floors = {g: shift_floors(f, shift) for g, f in rule_floors.items()}
    floors_without = {key: shift_floors(f, shift) for key, f in floors_without.items()}
    names = [name for name, _ in outside]
    print(f"model {session.fingerprint}, vote {rules.vote}, unknown rule on the {'nearest row' if reads_rows else 'class mean'}"
          f"{f', floors shifted by {shift:+.4f}' if shift else ''}; {len(test)} test images of {len(classes)} gallery classes")
    lowest_gap, highest_gap = min(rule_floors), max(rule_floors)
    moved = [f"{c} {rule_floors[lowest_gap][c]:.3f} → {rule_floors[highest_gap][c]:.3f}" for c in sorted(rule_floors[lowest_gap])
             if rule_floors[highest_gap].get(c) != rule_floors[lowest_gap][c]]
    if highest_gap != lowest_gap:
        print(f"floors the gap term {highest_gap:g} moves from {lowest_gap:g}: {', '.join(moved) or 'none'}")
    print()
    print("| gap term | condition | own images `unknown` | own images attributed right | most turned away (class: %) | "
          "real test images `unknown` | each generator taken out of the gallery: its images `unknown`, mean (lowest) | "
          "AUROC, own images against taken-out ones, of the similarity short of the floor | "
          "the same AUROC for the nearest row of the voted class against the row floors | "
          "taken-out images the row rule catches when its floors are shifted to turn away as many own images | "
          "the row rule at its own floors, unshifted: own images `unknown` / right, taken-out images `unknown` |"
          + "".join(f" {n} `unknown` |" for n in names))
    print("|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(names))
    for condition, perturb in conditions.items():
        embedded = embed_files(session.model.encoder, session.model.config.preprocess, paths, labels=list(range(len(paths))),
                               progress=None, perturb=perturb)
        labels = np.array([truth[i] for i in embedded.labels])
        own = np.isin(labels, sorted(classes))
        for gap_fraction, thresholds in rule_floors.items():
            knn = classifier_for(gallery, rules, unknown_thresholds=thresholds)
            predictions = knn.predict(embedded.embeddings, top=0)
            called = np.array([p.label for p in predictions])
            unknown = called == UNKNOWN
            worst = max(sorted(classes), key=lambda c: unknown[labels == c].mean() if (labels == c).any() else -1)
            cells = [f"{100 * unknown[labels == n].mean():.1f}" if (labels == n).any() else "–" for n in names]
            caught = {}
            # how far short of its winning class's floor each image falls: the rule calls `unknown`
            # above 0; the AUROC says how well that one number tells the two kinds of image apart at
            # any threshold, so two rules are compared apart from where their floors sit
            short_own = [shortfall(p, thresholds) for p, mine in zip(predictions, own) if mine]
            row_all = row_shortfalls(gallery, row_floors[gap_fraction], predictions, embedded.embeddings)
            row_own = row_all[own]
            voted = np.array([p.vote_label for p in predictions])
            row_rule = (100 * float((row_own > 0).mean()), 100 * float(((voted == labels) & (row_all <= 0))[own].mean()))
            short_out: list[float] = []
            row_out: list[np.ndarray] = []
            for c, held in without.items():
                mine = labels == c
                held_thresholds = floors_without[(c, gap_fraction)]
                held_knn = classifier_for(held, rules, unknown_thresholds=held_thresholds)
                held_predictions = held_knn.predict(embedded.embeddings[mine], top=0)
                caught[c] = 100 * np.mean([p.label == UNKNOWN for p in held_predictions])
                short_out += [shortfall(p, held_thresholds) for p in held_predictions]
                row_out.append(row_shortfalls(held, row_floors_without[(c, gap_fraction)], held_predictions, embedded.embeddings[mine]))
            y = np.r_[np.zeros(len(short_own)), np.ones(len(short_out))]
            auroc, row_auroc = roc_auc_score(y, np.r_[short_own, short_out]), roc_auc_score(y, np.r_[row_own, np.concatenate(row_out)])
            # one shift of every row floor, so the row rule turns away the share of own images the
            # vote's rule does: the two rules compared at one cost
            matched = np.quantile(row_own, 1.0 - unknown[own].mean())
            row_caught = 100 * float(np.mean([(r > matched).mean() for r in row_out]))  # mean over classes, as beside it
            lowest = min(caught, key=caught.get)
            print(f"| {gap_fraction:g} | {condition} | {100 * unknown[own].mean():.1f} | {100 * (called[own] == labels[own]).mean():.1f} | "
                  f"{worst}: {100 * unknown[labels == worst].mean():.1f} | {100 * unknown[labels == REAL].mean():.1f} | "
                  f"{np.mean(list(caught.values())):.1f} ({lowest}: {caught[lowest]:.1f}) | {100 * auroc:.1f} | {100 * row_auroc:.1f} | {row_caught:.1f} | "
                  f"{row_rule[0]:.1f} / {row_rule[1]:.1f}, {100 * float(np.mean([(r > 0).mean() for r in row_out])):.1f} |"
                  + "".join(f" {cell} |" for cell in cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
