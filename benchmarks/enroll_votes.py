"""What each k-NN vote makes of a generator enrolled from ~50 images, through the product's CLI.

    python benchmarks/enroll_votes.py --enroll /work/newgen/enroll --heldout /work/newgen/heldout \
        [--model DIR] [--zoo-test /work/zoo/test --per-class 20] [--max 50]

A copy of the model (the bundled default unless ``--model``) in a throwaway aidetect home gets
``aidetect enroll --generator NAME --max 50 ENROLL`` (the README's demo), so nothing of the
user's is written. Then, for each vote (``--vote majority``, ``weighted``, ``balanced``, ``centroid``), one
``aidetect attribute --json`` call over the held-out images of the new generator and, with
``--zoo-test``, the first ``--per-class`` images of each class folder of a labelled test split
(what the enrolled class costs the classes already there). Prints a Markdown table: the held-out
images labelled as the new generator, and what else they were called; the test images given
their own class, and those taken for the new generator; their detection verdicts (real images
called AI, AI images called real).
Make the new generator's images with benchmarks/zoo/new_generator.py.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from aidetect.config import VOTES
from aidetect.data.images import is_image_name

REPO = Path(__file__).resolve().parents[1]


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_name(p.name))


def aidetect(*args: str, env: dict) -> str:
    """Run the CLI; its stdout, or exit with its error."""
    command = [sys.executable, "-m", "aidetect", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[2:5])} … failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enroll", type=Path, required=True, help="images of the new generator to enroll")
    parser.add_argument("--heldout", type=Path, required=True, help="other images of it, to attribute")
    parser.add_argument("--model", type=Path, default=REPO / "aidetect" / "bundled" / "default")
    parser.add_argument("--zoo-test", type=Path, help="a labelled split (one folder per class) to attribute too")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--max", type=int, default=50, help="images enrolled (enroll --max)")
    parser.add_argument("--generator", default="my-upscaler", help="the name it is enrolled under")
    args = parser.parse_args()
    for folder in (args.enroll, args.heldout, args.model) + ((args.zoo_test,) if args.zoo_test else ()):
        if not folder.is_dir():
            parser.error(f"{folder} is not a folder")
    if args.per_class < 1 or args.max < 1:
        parser.error("--per-class and --max must be at least 1")
    heldout = images_in(args.heldout)
    truth = {str(p): args.generator for p in heldout}
    if args.zoo_test:
        for class_dir in sorted(d for d in args.zoo_test.iterdir() if d.is_dir()):
            truth.update({str(p): class_dir.name for p in images_in(class_dir)[: args.per_class]})
    with tempfile.TemporaryDirectory() as scratch:
        model = Path(scratch) / "model"
        shutil.copytree(args.model, model)  # enroll writes to the model's gallery: a copy's, never the user's
        env = {**os.environ, "AIDETECT_HOME": str(Path(scratch) / "home"), "COLUMNS": "200"}
        aidetect("enroll", "--model", str(model), "--generator", args.generator, "--max", str(args.max), str(args.enroll), env=env)
        print(f"`aidetect enroll --generator {args.generator} --max {args.max} {args.enroll}` into a copy of {args.model}; "
              f"{len(heldout)} held out" + (f"; {args.per_class} per class of {args.zoo_test}" if args.zoo_test else ""))
        print()
        print("| vote | held-out as the new generator | what else | test images as their class | test images taken for the new generator | real called AI | AI called real |")
        print("|---|---|---|---|---|---|---|")
        for vote in VOTES:
            records = json.loads(aidetect("attribute", "--model", str(model), "--vote", vote, "--json", *truth, env=env))
            new = [r for r in records if truth[r["path"]] == args.generator]
            test = [r for r in records if truth[r["path"]] != args.generator]
            hits = sum(r["label"] == args.generator for r in new)
            others = collections.Counter(r["label"] for r in new if r["label"] != args.generator).most_common()
            own = sum(r["label"] == truth[r["path"]] for r in test)
            taken_from = collections.Counter(truth[r["path"]] for r in test if r["label"] == args.generator)
            taken = f"{sum(taken_from.values())}" + (f" ({', '.join(f'{n} {c}' for n, c in taken_from.most_common())})" if taken_from else "")
            real = [r for r in test if truth[r["path"]] == "real"]
            fake = [r for r in test if truth[r["path"]] != "real"]
            print(f"| {vote} | {hits} of {len(new)} | {', '.join(f'{n} {c}' for n, c in others) or '–'} | "
                  + (f"{own} of {len(test)} ({100 * own / len(test):.1f} %) | {taken}" if test else "– | –") + " | "
                  + (f"{sum(r['verdict'] == 'ai' for r in real)} of {len(real)}" if real else "–") + " | "
                  + (f"{sum(r['verdict'] == 'real' for r in fake)} of {len(fake)}" if fake else "–") + " |")


if __name__ == "__main__":
    main()
