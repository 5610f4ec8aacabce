"""Render an aidetect HTML evidence report in headless Chromium and check that the page is not blank.

    python benchmarks/render_report.py                          # a demo report (synthetic images, no model needed)
    python benchmarks/render_report.py --html runs/report/report.html --out shot.png
    python benchmarks/render_report.py --model runs/model --task attribute --explain --out shot.png IMAGES...

Without ``--html`` a report is written first: with ``--model``, from the real
``detect``/``attribute`` records of IMAGES (``--explain`` adds LIME maps, 200
samples each); without it, from made-up records of the documented schema over
synthetic images (one neighbour path deliberately missing, one unreadable input),
which exercises every part of the page without a model.

The page is screenshot by Debian's Chromium (``apt-get install -y chromium``) with
no network, a throwaway profile and the window given by ``--size`` (default
1200x1600); the screenshot's pixel statistics are printed and the exit status is
0 when it shows content, 1 when it is blank (one colour, or under 2 % of the
pixels differ from the background), 2 when Chromium is missing or failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _demo_records(folder: Path) -> tuple[list[dict], str, str]:
    """Made-up attribute records over synthetic images (the tests' generators)."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from synthetic import synthetic_image  # noqa: E402

    model_fp, gallery_fp = "0123456789abcdef", "fedcba9876543210"
    rng = np.random.default_rng(0)
    gallery = {}
    for label in ("real", "gen_a", "gen_b", "gen_c"):
        for i in range(4):
            path = folder / "gallery" / label / f"{label}_{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            synthetic_image(label, 1000 + i, 96).save(path)
            gallery.setdefault(label, []).append(str(path))
    records = []
    for n, (label, truth) in enumerate((("gen_a", "gen_a"), ("real", "real"), ("unknown", "gen_b"))):
        path = folder / "queries" / f"query_{n}_{truth}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_image(truth, 5000 + n, 192).save(path)
        near = truth if label != "unknown" else "gen_c"
        neighbours = [
            {"label": near if i < 4 else "real", "similarity": round(float(0.99 - 0.01 * i - rng.random() * 0.003), 6), "path": gallery[near if i < 4 else "real"][i % 4]}
            for i in range(6)
        ]
        if n == 0:
            neighbours[2]["path"] = "/archive/gallery/gen_a/not-on-this-machine.png"
        vote = 1.0 if label != "unknown" else 0.64
        records.append({
            "path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "model_fingerprint": model_fp, "gallery_fingerprint": gallery_fp, "k": 6, "vote": "weighted",
            "label": label, "confidence": vote, "nearest_label": near,
            "nearest_in_class_similarity": neighbours[0]["similarity"], "unknown_threshold": 0.995 if label == "unknown" else 0.97,
            "runner_up": None if vote == 1.0 else "real", "runner_up_confidence": round(1 - vote, 6),
            "score_ai": 0.0 if label == "real" else 1.0, "neighbors": neighbours, "error": None,
        })
    records.append({
        "path": str(folder / "queries" / "cut-short.jpg"), "sha256": None, "model_fingerprint": model_fp, "gallery_fingerprint": gallery_fp,
        "error": f"{folder / 'queries' / 'cut-short.jpg'}: the image data is truncated or corrupt; re-download the file",
    })
    return records, model_fp, gallery_fp


def _model_records(model: str, task: str, images: list[str], explain: bool, folder: Path):
    from aidetect.inference import classify_paths, open_session

    session = open_session(model, None, "auto")
    records = classify_paths(session, images, task=task, top=8)
    explainer = None
    if explain:
        from aidetect.explain import make_explainer

        explainer = make_explainer(session.model, folder / "lime", samples=200, segments=30)
    return records, session.fingerprint, session.gallery.fingerprint, explainer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", help="with --model: images to report on")
    parser.add_argument("--html", help="an existing report.html to render (nothing is written)")
    parser.add_argument("--model", help="a model directory: report on IMAGES with it")
    parser.add_argument("--task", default="attribute", choices=("attribute", "detect"))
    parser.add_argument("--explain", action="store_true", help="with --model: add LIME maps (200 samples each)")
    parser.add_argument("--report-dir", help="where to write the report (default: a temporary folder)")
    parser.add_argument("--out", default="report-screenshot.png", help="the screenshot PNG")
    parser.add_argument("--size", default="1200x1600", help="browser window WIDTHxHEIGHT")
    args = parser.parse_args(argv)

    from aidetect.report_html import write_html_report
    from browser import chromium_path, looks_blank, screenshot_html, screenshot_stats  # benchmarks/browser.py, beside this script

    if chromium_path() is None:
        print("Chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 2
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="aidetect-report-") as scratch:
        folder = Path(args.report_dir or scratch)
        if args.html:
            html = Path(args.html)
        elif args.model:
            if not args.images:
                parser.error("--model needs IMAGES to report on")
            records, model_fp, gallery_fp, explainer = _model_records(args.model, args.task, args.images, args.explain, folder)
            html = write_html_report(records, folder, task=args.task, model_fingerprint=model_fp, gallery_fingerprint=gallery_fp, explain=explainer)
        else:
            records, model_fp, gallery_fp = _demo_records(folder)
            html = write_html_report(records, folder, task="attribute", model_fingerprint=model_fp, gallery_fingerprint=gallery_fp)
        try:
            png = screenshot_html(html, args.out, size=(width, height))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"rendering failed: {exc}", file=sys.stderr)
            return 2
        stats = screenshot_stats(png)
    blank = looks_blank(stats)
    print(json.dumps({"report": str(html), "screenshot": str(png), "blank": blank, **stats}, indent=2))
    return 1 if blank else 0


if __name__ == "__main__":
    sys.exit(main())
