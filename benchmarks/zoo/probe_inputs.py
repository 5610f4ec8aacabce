"""What the zoo's no-training probes of the latent-decoder classes share (reconstruction_probe.py,
latent_grid.py): their command line (a zoo, images per class, a test condition, a JSON file) and
the test windows they read."""

from __future__ import annotations

import argparse
from pathlib import Path

from aidetect.data.perturb import parse_perturbation
from aidetect.errors import AidetectError


def probe_parser(doc: str, per_class: int) -> argparse.ArgumentParser:
    """The probes' shared options; a probe adds its own before :func:`parse_probe_args`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("zoo", type=Path, help="a zoo build (benchmarks/zoo/build.py) with real and taesd-* test classes")
    parser.add_argument("--per-class", type=int, default=per_class, help="test images per class (the first in name order)")
    parser.add_argument("--condition", default="clean", help="clean, jpeg:75, wild, ... (aidetect --perturb syntax)")
    parser.add_argument("--json", type=Path, help="also write the per-image values and the AUC table here")
    return parser


def parse_probe_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.per_class < 2:
        parser.error("--per-class must be at least 2")
    return args


def probe_inputs(args: argparse.Namespace, classes) -> tuple:
    """(the condition's perturbation, {class: the first --per-class test files in name order}); an
    AidetectError, one line, for a condition it cannot parse or a class with fewer than 2 files."""
    perturb = parse_perturbation(args.condition)
    files = {c: sorted((args.zoo / "test" / c).glob("*.png"))[: args.per_class] for c in classes}
    short = [c for c, found in files.items() if len(found) < 2]
    if short:
        raise AidetectError(f"{args.zoo}/test lacks images of {', '.join(short)}; build the zoo with its taesd-* classes "
                            "first (docs/zoo-data.md)")
    return perturb, files
