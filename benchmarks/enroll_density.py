"""Why a generator enrolled from 50 images is or is not recognised: separability or the vote's density.

    python benchmarks/enroll_density.py --model DIR --enroll DIR --heldout DIR [--max 50]
        [--zoo-test DIR --per-class 40]

benchmarks/enroll_votes.py counts what the product's k-NN votes make of an enrolled generator.
This script asks why, with the model's own gallery (about 660 rows a zoo class) and nothing
written: it embeds the first ``--max`` images of ``--enroll`` (the enrolled class) and every
image of ``--heldout``, and prints for each held-out image

* the similarity of its k-th nearest enrolled row against its k-th nearest row of the closest
  gallery class, k = 1, 3, 11 (how often its own class is nearer): a k-NN vote over the whole
  gallery needs the enrolled rows among the 11 nearest, which a class of 660 rows crowds out
  even where the classes are apart;
* the same at k = 1 with 50 rows drawn from each gallery class (the density taken away);
* the nearest class mean (the enrolled class's mean against each gallery class's, all unit
  length; how a speaker is enrolled in speaker verification): whether the class is separable
  when every class is one point.

The mean pairwise similarity of the enrolled rows says how spread the new class is in the space.
With ``--zoo-test`` (a labelled test split, class folders named as the gallery's), the nearest
class mean is also asked what it costs the classes already there: the first ``--per-class``
images of each folder, given their class or taken for the enrolled one.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from enroll_votes import images_in  # noqa: E402  (the same folders, listed the same way)


def kth_nearest(similarities: np.ndarray, k: int) -> np.ndarray:
    """[Q, N] → [Q]: each row's k-th largest value."""
    return -np.partition(-similarities, k - 1, axis=1)[:, k - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a model directory with its gallery.npz")
    parser.add_argument("--enroll", type=Path, required=True, help="images of the new generator; the first --max are enrolled")
    parser.add_argument("--heldout", type=Path, required=True, help="more images of it, never enrolled")
    parser.add_argument("--max", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="the draw of 50 rows a gallery class")
    parser.add_argument("--zoo-test", type=Path, help="a labelled test split: what the class means make of its images")
    parser.add_argument("--per-class", type=int, default=40, help="images of each --zoo-test class folder")
    args = parser.parse_args(argv)
    for option, folder in (("--enroll", args.enroll), ("--heldout", args.heldout)):
        if not folder.is_dir():
            parser.error(f"{option} {folder}: not a folder of images")
    if not (args.model / "gallery.npz").is_file():
        parser.error(f"--model {args.model}: no gallery.npz there; give a trained model directory")
    if args.zoo_test is not None and not args.zoo_test.is_dir():
        parser.error(f"--zoo-test {args.zoo_test}: not a folder of class folders")
    if args.per_class < 1:
        parser.error(f"--per-class {args.per_class}: give 1 or more")
    if args.max < 11:
        parser.error(f"--max {args.max}: enroll at least 11 images (the vote reads 11 neighbours)")
    to_enroll = [str(p) for p in images_in(args.enroll)[: args.max]]
    to_hold = [str(p) for p in images_in(args.heldout)]
    if len(to_enroll) < 11 or not to_hold:
        parser.error(f"need at least 11 images in --enroll and 1 in --heldout; found {len(to_enroll)} and {len(to_hold)}")

    import torch

    from aidetect.embedding import embed_files
    from aidetect.errors import AidetectError
    from aidetect.session import load_gallery, open_model

    torch.set_num_threads(1)
    try:
        loaded, _ = open_model(args.model, device="cpu")
        gallery = load_gallery(args.model / "gallery.npz", loaded.config)
    except AidetectError as error:
        parser.error(f"--model {args.model}: {error}")
    rows, labels = np.asarray(gallery.embeddings, dtype=np.float32), gallery.labels()
    if len(rows) == 0:
        parser.error(f"--model {args.model}: its gallery is empty")
    classes = sorted(set(labels.tolist()))
    encoder, preprocess = loaded.encoder.eval(), loaded.config.preprocess
    enrolled_files = embed_files(encoder, preprocess, to_enroll, progress=None)
    heldout_files = embed_files(encoder, preprocess, to_hold, progress=None)
    enrolled = enrolled_files.embeddings
    # a held-out file that was also enrolled (the same bytes) would find itself at similarity 1
    again = np.isin(heldout_files.sha256, enrolled_files.sha256)
    heldout = heldout_files.embeddings[~again]
    if len(enrolled) < 11 or len(heldout) == 0:
        parser.error(f"need at least 11 readable enrolled images and 1 readable held-out image not enrolled; "
                     f"got {len(enrolled)} and {len(heldout)}")

    own = heldout @ enrolled.T
    to_gallery = heldout @ rows.T
    n = len(heldout)
    print(f"{args.model}: {len(enrolled)} enrolled from {args.enroll}, {n} held out; gallery {len(rows)} rows of {len(classes)} classes")
    if again.any():
        print(f"({int(again.sum())} files of --heldout were enrolled too and are left out)")
    small = [c for c in classes if (labels == c).sum() < 11]
    if small:
        print(f"(classes with fewer than 11 rows are read at their last row for larger k: {', '.join(small)})")
    print(f"mean similarity between enrolled rows: {(enrolled @ enrolled.T)[np.triu_indices(len(enrolled), 1)].mean():.4f}")
    print("\n| k | k-th nearest enrolled row (mean) | k-th nearest row of the closest gallery class (mean) | held-out images whose own class is nearer |")
    print("|---|---|---|---|")
    for k in (1, 3, 11):
        mine = kth_nearest(own, k)
        theirs = np.max(np.stack([kth_nearest(to_gallery[:, labels == c], min(k, int((labels == c).sum()))) for c in classes]), axis=0)
        print(f"| {k} | {mine.mean():.3f} | {theirs.mean():.3f} | {int((mine > theirs).sum())} of {n} |")
    rng = np.random.default_rng(args.seed)
    fifty = np.concatenate([rng.choice(np.flatnonzero(labels == c), min(50, int((labels == c).sum())), replace=False) for c in classes])
    nearer = int((own.max(1) > to_gallery[:, fifty].max(1)).sum())
    print(f"\nnearest row, 50 rows of each gallery class beside the enrolled: own class for {nearer} of {n}")
    means = np.stack([rows[labels == c].mean(0) for c in classes] + [enrolled.mean(0)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    chosen = (heldout @ means.T).argmax(1)
    others = {classes[i]: int((chosen == i).sum()) for i in np.unique(chosen) if i < len(classes)}
    print(f"nearest class mean: own class for {int((chosen == len(classes)).sum())} of {n}; the others to {others or 'none'}")
    if args.zoo_test is not None:
        folders = [f for f in sorted(args.zoo_test.iterdir()) if f.is_dir() and f.name in classes]
        class_of = {str(p): f.name for f in folders for p in images_in(f)[: args.per_class]}
        test = embed_files(encoder, preprocess, list(class_of), progress=None)
        truth = [class_of[p] for p in test.paths]  # the readable ones, in order
        picked = (test.embeddings @ means.T).argmax(1)
        right = sum(classes[i] == t for i, t in zip(picked, truth) if i < len(classes))
        taken = collections.Counter(t for i, t in zip(picked, truth) if i == len(classes))
        print(f"nearest class mean on {args.zoo_test}: {right} of {len(truth)} test images given their class, "
              f"{sum(taken.values())} taken for the enrolled one ({dict(taken) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
