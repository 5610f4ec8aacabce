"""Re-run a model's calibration on a data set's validation split, weights and gallery unchanged.

    python benchmarks/zoo/recalibrate.py MODEL_DIR --data /work/zoo [--vote centroid] [--unknown-on row|vote] [--dry-run]

For a model trained before P(AI) was calibrated, or before the similarity gap existed (the
bundled one, both times): the vote, the detection score, the isotonic P(AI) curve, the
threshold on P(AI), the unknown rule's shift and the false-unknown rate are chosen again exactly as `aidetect train`
chooses them (aidetect.calibration.calibrate; the vote as ``--vote`` names it), on up to 200 validation
images of each class the model's gallery holds, and written into config.json (atomically).
The weights and the gallery are not touched, so the fingerprints stay the same. Validation
embeddings go through evaluate's embedding cache (by model fingerprint and file SHA-256), so a
second calibration of the same model, or one after `evaluate` saw the same files, embeds nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="model directory (config.json, model.safetensors, gallery.npz)")
    parser.add_argument("--data", type=Path, required=True, help="data root with a validation split (folders layout)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dry-run", action="store_true", help="print the new rules, write nothing")
    parser.add_argument("--vote", choices=("auto", "majority", "weighted", "centroid"),
                        help="the vote, named (centroid: where its class means recognise enrolled generators better, "
                             "measured with benchmarks/enroll_votes.py), or auto: chosen on validation as `train` does; "
                             "default: the vote the model's builder named before, else auto")
    parser.add_argument("--unknown-on", choices=("row", "vote"), default="row",
                        help="what the unknown rule measures: the winning class's nearest gallery row (row, as `train` "
                             "calibrates), or what the vote read (vote: the class mean for the centroid vote)")
    args = parser.parse_args(argv)
    if not (args.model / "config.json").is_file():
        parser.error(f"{args.model} is not a model directory (no config.json)")
    torch.set_num_threads(1)

    from aidetect.calibration import VALIDATION_PER_CLASS, calibrate
    from aidetect.config import ModelConfig
    from aidetect.data.discovery import discover
    from aidetect.data.sampling import sample_per_class
    from aidetect.evaluation.cache import EmbeddingCache, default_cache_dir
    from aidetect.fileio import atomic_write_json
    from aidetect.session import open_session

    session = open_session(args.model, args.model / "gallery.npz", device="cpu")
    classes = set(session.gallery.classes())
    splits = discover(str(args.data), "auto", seed=args.seed)
    validation = sample_per_class([s for s in splits.val if s.label in classes], VALIDATION_PER_CLASS, args.seed, "validation")
    if not validation:
        parser.error(f"{args.data} has no validation images of the gallery's classes ({', '.join(sorted(classes))})")
    cache = EmbeddingCache(default_cache_dir(), session.model.config.fingerprint)
    embedded, _ = cache.embed(session.model.encoder, session.model.config.preprocess, [s.path for s in validation],
                              progress="calibrating")
    label_of = {s.path: s.label for s in validation}
    labels = [label_of[p] for p in embedded.paths]
    vote = args.vote
    stored = session.model.config.classifier
    if vote is None and stored.vote_named:
        vote = stored.vote  # a vote named on outside measurements is not the validation split's to undo
        print(f"keeping the vote named before: {vote} (--vote auto chooses on validation)", file=sys.stderr)
    rules = calibrate(session.gallery, embedded.embeddings, labels, vote=None if vote == "auto" else vote,
                      unknown_on=args.unknown_on)
    print(json.dumps(asdict(rules), indent=1))
    if args.dry_run:
        return 0
    config = ModelConfig.load(args.model)
    config.classifier = rules
    config.training["recalibrated_on"] = f"validation split of {args.data} ({len(labels)} images), benchmarks/zoo/recalibrate.py"
    atomic_write_json(args.model / "config.json", config.to_dict())
    print(f"wrote {args.model / 'config.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
