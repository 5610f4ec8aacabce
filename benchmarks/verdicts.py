"""Verdicts an analyst can defend, measured: one command prints the issue's four figures.

    python benchmarks/verdicts.py [--model DIR] [--data /work/zoo] [--photos ../shared/data/photos]

On the bundled examples and their JPEG re-encodings (quality 90 and 75), on 30 real
photographs that the model's gallery was not built from, and on a synthetic image whose
AI-made part lies away from the centre, it runs `detect` and `attribute` (the library calls
behind them) and prints:

* contradictions between detect and attribute (files whose label or verdict differ);
* the expected calibration error of P(AI) on the zoo's test split (with --data; the
  gallery classes' test images, through the product's classifier);
* the fraction of real photos called AI, attributed to a generator, inconclusive, real;
* the analysed-area fraction (mean over the real photos, and for the off-centre image).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled one)")
    parser.add_argument("--data", type=Path, default=None, help="zoo root, for the ECE on its test split")
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    parser.add_argument("--n-photos", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from aidetect.calibration import expected_calibration_error
    from aidetect.data.discovery import discover
    from aidetect.embedding import embed_files
    from aidetect.gallery.classifier import classifier_for, detection_score, detection_value
    from aidetect.inference import classify_paths
    from aidetect.labels import REAL, UNKNOWN
    from aidetect.session import open_session

    session = open_session(args.model, device="cpu")
    examples = sorted((ROOT / "aidetect" / "bundled" / "examples").glob("*.png"))
    work = Path(tempfile.mkdtemp(prefix="aidetect-verdicts-"))
    inputs = list(examples)
    for quality in (90, 75):
        for path in examples:
            target = work / f"{path.stem}-q{quality}.jpg"
            Image.open(path).convert("RGB").save(target, quality=quality)
            inputs.append(target)

    # Real photos the gallery was not built from: its rows are windows named <photo>_w<k>.png.
    in_gallery = {Path(p).stem.rsplit("_w", 1)[0] for p in session.gallery.paths}
    candidates = sorted(p for p in args.photos.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stem not in in_gallery)
    rng = np.random.default_rng(args.seed)
    photos = [candidates[i] for i in np.sort(rng.choice(len(candidates), min(args.n_photos, len(candidates)), replace=False))]

    # Off-centre: the Real-ESRGAN example pasted into the top-left corner of a 512x512 window of a
    # real photo at native resolution (no resampling: a resized photo looks like the bicubic class).
    large = next(p for p in photos + candidates if min(Image.open(p).size) >= 512)
    base = Image.open(large).convert("RGB").crop((0, 0, 512, 512))
    base.paste(Image.open(ROOT / "aidetect" / "bundled" / "examples" / "realesrgan-x4.png").convert("RGB"), (0, 0))
    off_centre = work / "off-centre-realesrgan.png"
    base.save(off_centre)

    everything = [str(p) for p in inputs + photos + [off_centre]]
    records = {task: classify_paths(session, everything, task=task, progress=None, metadata=False) for task in ("detect", "attribute")}
    contradictions = [d["path"] for d, a in zip(records["detect"], records["attribute"])
                      if (d.get("label"), d.get("verdict")) != (a.get("label"), a.get("verdict"))]
    by_path = {r["path"]: r for r in records["attribute"]}
    real = [by_path[str(p)] for p in photos if not by_path[str(p)].get("error")]
    share = lambda cond: float(np.mean([cond(r) for r in real])) if real else float("nan")  # noqa: E731

    print(f"model {session.fingerprint} (gallery {session.gallery.fingerprint}); calibrated P(AI): {session.rules.calibrated}")
    print("| measure | value |")
    print("|---|---|")
    print(f"| contradictions between detect and attribute ({len(everything)} files) | {len(contradictions)} |")
    if args.data:
        classes = set(session.gallery.classes())
        test = [s for s in discover(str(args.data), "auto", seed=args.seed).test if s.label in classes]
        embedded = embed_files(session.model.encoder, session.model.config.preprocess, [s.path for s in test],
                               labels=list(range(len(test))), progress=None)
        truth = np.array([test[i].label for i in embedded.labels])
        knn = classifier_for(session.gallery, session.rules, unknown_thresholds={})
        scores = np.array([detection_score(detection_value(p, session.rules), session.rules)
                           for p in knn.predict(embedded.embeddings, top=0)])
        name = "P(AI)" if session.rules.calibrated else "AI vote share (uncalibrated)"
        print(f"| expected calibration error of {name}, zoo test split ({len(truth)} images, 10 bins) | "
              f"{expected_calibration_error(scores, truth != REAL):.3f} |")
    print(f"| real photos called AI ({len(real)} photos outside the gallery) | {share(lambda r: r['verdict'] == 'ai'):.3f} |")
    print(f"| real photos attributed to a generator | {share(lambda r: r['label'] not in (REAL, UNKNOWN)):.3f} |")
    print(f"| real photos inconclusive | {share(lambda r: r['verdict'] == 'inconclusive'):.3f} |")
    print(f"| real photos called real | {share(lambda r: r['verdict'] == REAL):.3f} |")
    print(f"| mean analysed-area fraction, real photos | {share(lambda r: r['analysed']['area_fraction']):.3f} |")
    oc = by_path[str(off_centre)]
    centre = classify_paths(session, [str(off_centre)], task="detect", max_tiles=1, progress=None, metadata=False)[0]
    print(f"| off-centre image: verdict with tiles / centre window only | {oc['verdict']} ({oc['analysed']['tiles']} tiles, "
          f"{oc['analysed'].get('tiles_ai', 0)} look AI, area {oc['analysed']['area_fraction']:.2f}) / {centre['verdict']} |")
    jpeg = [by_path[str(p)] for p in inputs if p.suffix == ".jpg"]
    noted = sum(bool(r["conditions"]["notes"]) for r in jpeg)
    print(f"| JPEG re-encodings of the examples whose record carries a reliability note | {noted} of {len(jpeg)} |")
    print()
    print("| file | label | verdict | P(AI) | reason |")
    print("|---|---|---|---|---|")
    # The real photos too: which ones a model calls AI is what an analyst needs to see, not just how many.
    for path in inputs + [off_centre] + photos:
        r = by_path[str(path)]
        if r.get("error"):
            print(f"| {Path(r['path']).name} | – | error | – | {r['error']} |")
            continue
        p_ai = r["p_ai"] if r["p_ai"] is not None else r["ai_vote_share"]
        print(f"| {Path(r['path']).name} | {r['label']} | {r['verdict']} | {p_ai:.3f}{'' if r['p_ai'] is not None else '*'} | {r['reason'] or ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
