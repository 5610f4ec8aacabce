"""Wall time of `aidetect --help` and of `aidetect attribute one.jpg`, broken down by stage.

    python benchmarks/startup.py --model DIR [--image photo.jpg]

Each measurement runs in a fresh Python process (imports are not cached
between them). Stages of attribute: importing the library (torch included),
loading and checking the model, loading and checking the gallery, reading +
embedding + classifying the image.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
from aidetect.inference import classify_paths
t1 = time.perf_counter()
from aidetect.devices import resolve_device
from aidetect.home import resolve_gallery_path
from aidetect.session import Session, load_gallery, open_model
device = resolve_device("auto")
model, choice = open_model(sys.argv[1], device)
t2 = time.perf_counter()
path = resolve_gallery_path(choice, model.config.fingerprint, None)
gallery = load_gallery(path, model.config)
t3 = time.perf_counter()
session = Session(model, choice, path, gallery, device)
records = classify_paths(session, [sys.argv[2]], task="attribute", progress=None)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "model": t2 - t1, "gallery": t3 - t2, "inference": t4 - t3, "label": records[0].get("label")}))
"""


def timed(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "aidetect" / "bundled" / "default"))
    parser.add_argument("--image", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "cbsd68_101085.jpg"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    aidetect = [sys.executable, "-m", "aidetect"]
    help_times = [timed(aidetect + ["--help"]) for _ in range(args.repeat)]
    total_times = [timed(aidetect + ["attribute", "--model", args.model, args.image]) for _ in range(args.repeat)]
    stages = [json.loads(subprocess.run([sys.executable, "-c", STAGES, args.model, args.image], check=True,
                                        capture_output=True, text=True).stdout) for _ in range(args.repeat)]
    best = {k: min(s[k] for s in stages) for k in ("import", "model", "gallery", "inference")}
    print(f"aidetect --help: {min(help_times):.2f} s (best of {args.repeat}; goal < 0.5 s)")
    print(f"aidetect attribute one image: {min(total_times):.2f} s wall (best of {args.repeat})")
    print("  stages (best of {}): ".format(args.repeat) + ", ".join(f"{k} {v:.2f} s" for k, v in best.items()))


if __name__ == "__main__":
    main()
