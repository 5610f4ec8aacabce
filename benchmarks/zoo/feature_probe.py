"""Where in the encoder the attribution is: k-NN accuracy from every stage's pooled features.

    python benchmarks/zoo/feature_probe.py MODEL_DIR ZOO_ROOT [--gallery-per-class 100]
        [--conditions clean jpeg:75] [--k 11] [--seed 0] [--json OUT.json]

A trained encoder is read at several depths in one forward pass per image: the output of
each stage of its trunk, pooled over space by mean and by standard deviation, the trunk's
final pooled features (what the projection head reads) and the head's output (the product's
embedding). Stages are the trunk's layers in order: for EfficientNet-B0, stage 0 is the stem,
1-7 the MBConv stages, 8 the final 1x1 convolution (whose mean is the head's input). Each is used as the embedding of the same k-NN attribution (the product's
weighted vote, cosine similarity), with a gallery drawn from the zoo's train split
(GALLERY_PER_CLASS images per class, seeded) and every test image as a query. Pooled features
are standardised with the gallery's per-feature mean and spread, then L2-normalised (the
head's output is used as it is); "stages 3-8" joins stages 3 to 8 of an EfficientNet-B0
(each normalised, so each weighs the same). Zero-shot classes are the model's
(config.json: classes its encoder did not train on; for a model trained on other data, every
zoo class); accuracy is split by them. Detection AUC (real against every generator, and against
the zero-shot ones) is on the product's similarity gap for every read (docs/inference.md), whichever
score a model's calibration chose.

What it answers: whether the projection head, or the trunk's last stages, throw away
generator traces the earlier stages hold (if a shallower read attributes better, the head or
the depth is the wall; if every read plateaus at the same accuracy, the information is not in
the encoder's view of the image at all). What it found became a product option: `aidetect train
--readout stages` (aidetect.models.readout) reads stages 3-8 with training-split statistics
(here they are the gallery's, and the stages are not projected or whitened).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from torch import nn  # noqa: E402

from aidetect.data.images import IMAGE_EXTENSIONS  # noqa: E402
from aidetect.data.perturb import parse_perturbation  # noqa: E402
from aidetect.embedding import embed_files  # noqa: E402
from aidetect.gallery.knn import class_votes  # noqa: E402
from aidetect.gallery.search import knn_search  # noqa: E402
from aidetect.models.model_dir import load_model  # noqa: E402
from aidetect.models.readout import pool_stage, stage_layers  # noqa: E402
from aidetect.settings import REAL  # noqa: E402


class StageReader(nn.Module):
    """The encoder's forward pass, returning [head output | trunk | per stage: mean-pooled, std-pooled]
    (every stage, pooled as the product's stage readout pools its own: aidetect.models.readout)."""

    def __init__(self, encoder) -> None:
        super().__init__()
        self.encoder = encoder
        # A fixed-feature trunk (the spectrum) has no stages: only its output is read.
        self.layers = stage_layers(encoder.trunk)
        self._pooled: list[torch.Tensor] = []
        for layer in self.layers.children():
            layer.register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        if output.ndim == 4 and output.shape[2] * output.shape[3] > 1:  # not a global pool's 1x1 output
            means, spreads = pool_stage(output).chunk(2, dim=1)
            self._pooled += [means, spreads]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self._pooled = []
        features = self.encoder.features(self.encoder._learned_window(images))
        head = torch.nn.functional.normalize(self.encoder.head(features).float(), dim=1)
        return torch.cat([head, features.float()] + self._pooled, dim=1)

    def blocks(self, images: torch.Tensor) -> dict[str, slice]:
        """Named column ranges of forward's output, read off forward run on one probe batch."""
        with torch.inference_mode():
            total = self(images).shape[1]
        widths = [("head output", self.encoder.arch.embedding_dim), ("trunk (head's input)", self.encoder.trunk_dim)]
        for stage, i in enumerate(range(0, len(self._pooled), 2)):  # stage 0: EfficientNet's stem
            widths += [(f"stage {stage} mean", self._pooled[i].shape[1]), (f"stage {stage} std", self._pooled[i + 1].shape[1])]
        out, at = {}, 0
        for name, width in widths:
            out[name] = slice(at, at + width)
            at += width
        assert at == total, f"column layout {at} != forward's {total}"
        return out


def split_files(root: Path, split: str, classes: list[str], per_class: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = random.Random(seed)
    paths, labels = [], []
    for code, name in enumerate(classes):
        folder = root / split / name
        files = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS) if folder.is_dir() else []
        if per_class and len(files) > per_class:
            files = rng.sample(files, per_class)
        paths += files
        labels += [code] * len(files)
    return paths, np.asarray(labels, dtype=np.int64)


def prepare(x: np.ndarray, parts: list[slice], mean: np.ndarray, spread: np.ndarray, raw: set[int]) -> np.ndarray:
    """Each part standardised (unless raw) and unit-normalised, joined, unit-normalised again."""
    pieces = []
    for part in parts:
        z = x[:, part] if part.start in raw else (x[:, part] - mean[part]) / spread[part]
        pieces.append(z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12))
    joined = np.concatenate(pieces, axis=1)
    return (joined / np.maximum(np.linalg.norm(joined, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def knn_accuracy(gallery: np.ndarray, gallery_labels: np.ndarray, queries: np.ndarray, query_labels: np.ndarray,
                 n_classes: int, k: int) -> np.ndarray:
    """Per query: whether the weighted k-NN vote names its class."""
    sims, idx = knn_search(queries, gallery.astype(np.float16), k)
    votes = class_votes(sims, gallery_labels[idx], n_classes, "weighted")
    return votes.argmax(axis=1) == query_labels


def similarity_gap(gallery: np.ndarray, is_real: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The product's detection score (docs/inference.md): mean similarity to the k nearest AI-generated
    gallery rows minus that to the k nearest real ones; higher = more likely AI."""
    ai, _ = knn_search(queries, gallery[~is_real].astype(np.float16), k)
    real, _ = knn_search(queries, gallery[is_real].astype(np.float16), k)
    return ai.mean(axis=1) - real.mean(axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a model directory made by `aidetect train`")
    parser.add_argument("zoo", type=Path, help="data root with train/ and test/ class folders (the zoo)")
    parser.add_argument("--gallery-per-class", type=int, default=100, help="gallery images per class from train/ (0: all)")
    parser.add_argument("--conditions", nargs="+", default=["clean", "jpeg:75"], help="test conditions (evaluate's specs)")
    parser.add_argument("--k", type=int, default=11)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--zero-shot", nargs="+", default=None, metavar="CLASS",
                        help="split accuracy by these classes instead of the model's own zero-shot classes "
                             "(to read a model trained on every class, e.g. the spectrum, on a leave-out's split)")
    parser.add_argument("--json", type=Path, help="also write the accuracies here")
    args = parser.parse_args(argv)
    for split in ("train", "test"):
        if not (args.zoo / split).is_dir():
            parser.error(f"{args.zoo / split} is missing: ZOO_ROOT needs train/ and test/ class folders")
    conditions = {c: (None if c == "clean" else parse_perturbation(c)) for c in args.conditions}

    torch.set_num_threads(1)  # one core per process on this shared machine (docs/performance.md)
    model = load_model(args.model)
    classes = sorted(p.name for p in (args.zoo / "train").iterdir() if p.is_dir())
    # a class the encoder did not train on is zero-shot: the model's own zero-shot classes, and every
    # class of the zoo when the model was trained elsewhere (the procedural pre-training)
    trained = set(model.config.trained_classes or model.config.classes) - set(model.config.zero_shot_classes)
    zero_shot = np.asarray([c in args.zero_shot if args.zero_shot is not None else c not in trained for c in classes])
    if args.zero_shot is not None and not set(args.zero_shot) <= set(classes):
        parser.error(f"--zero-shot: {sorted(set(args.zero_shot) - set(classes))} are not classes of {args.zoo / 'train'}")
    reader = StageReader(model.encoder).eval()
    size = model.config.preprocess.image_size
    blocks = reader.blocks(torch.zeros(1, 3, size, size))
    reads = {name: [part] for name, part in blocks.items()}
    stages = [name for name in blocks if name.startswith("stage ")]
    if len(stages) == 18:  # EfficientNet-B0: stem (stage 0), seven MBConv stages, the final conv (stage 8)
        reads["stages 3-8 (mean + std)"] = [blocks[n] for n in stages[6:18]]

    gallery_paths, gallery_labels = split_files(args.zoo, "train", classes, args.gallery_per_class, args.seed)
    test_paths, test_labels = split_files(args.zoo, "test", classes, 0, args.seed)

    def embed(paths, perturb):
        with torch.inference_mode():
            done = embed_files(reader, model.config.preprocess, paths, hash_files=False, progress=None, perturb=perturb)
        if done.errors:
            raise SystemExit(f"error: {done.errors[0][0]}: {done.errors[0][1]}")
        return done.embeddings

    gallery = embed(gallery_paths, None)
    mean, spread = gallery.mean(axis=0), gallery.std(axis=0) + 1e-6
    raw = {blocks["head output"].start}
    # each read of the gallery is the same under every condition: prepared once
    gallery_reads = {name: prepare(gallery, parts, mean, spread, raw) for name, parts in reads.items()}
    results: dict[str, dict] = {}
    real_code = classes.index(REAL) if REAL in classes else None  # detection AUC needs a real class
    print(f"| read (gallery {args.gallery_per_class or 'all'} per class, k {args.k}) | condition | accuracy | seen | zero-shot"
          " | AUC (gap) | zero-shot AUC |")
    print("|---|---|---|---|---|---|---|")
    for condition, perturb in conditions.items():
        queries = embed(test_paths, perturb)
        for name, parts in reads.items():
            g, q = gallery_reads[name], prepare(queries, parts, mean, spread, raw)
            right = knn_accuracy(g, gallery_labels, q, test_labels, len(classes), args.k)
            unseen = zero_shot[test_labels]
            cell = {"accuracy": 100 * right.mean(),
                    "seen": 100 * right[~unseen].mean() if (~unseen).any() else None,
                    "zero_shot": 100 * right[unseen].mean() if unseen.any() else None,
                    "auc": None, "zero_shot_auc": None}
            if real_code is not None:
                gap = similarity_gap(g, gallery_labels == real_code, q, args.k)
                is_ai = test_labels != real_code
                cell["auc"] = 100 * roc_auc_score(is_ai, gap)
                if unseen.any():  # real against the zero-shot generators only
                    mine = unseen | ~is_ai
                    cell["zero_shot_auc"] = 100 * roc_auc_score(is_ai[mine], gap[mine])
            results.setdefault(name, {})[condition] = cell
            print(f"| {name} | {condition} | " + " | ".join("–" if v is None else f"{v:.1f}" for v in cell.values()) + " |",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "gallery_per_class": args.gallery_per_class,
                                         "k": args.k, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
