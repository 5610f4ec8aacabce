"""Does *learning* on the Welch spectrum beat the fitted linear map? A SupCon-trained MLP against PCA+WCCN.

    python benchmarks/zoo/welch_learned_probe.py ZOO_ROOT [--image-size 256] [--views 4]
        [--leave-out CLASS ...] [--epochs 60] [--hidden 512] [--temperature 0.1] [--read-hidden] [--conditions clean jpeg:75 wild]
        [--init-map] [--pretrain PROCEDURAL_DIR] [--mix PROCEDURAL_DIR] [--enroll DIR --heldout DIR] [--k 11] [--seed 0] [--json OUT.json] [--cache DIR]
        [--net mlp|logpolar] [--gallery-views N]

welch_probe.py showed the 2-D Welch spectrum read through a fitted linear map (PCA + within-class
whitening, no per-class choice) attributing better than any CPU-trained network here. That map is
fitted, not learned by gradient: this probe asks whether an encoder *learned* with the product's
loss (Supervised Contrastive, aidetect.losses.SupConLoss) on the same input does better, and
whether what it learns carries to generators it never saw (``--leave-out``), which is where LDA,
the other per-class reading, lost to the map.

Input: the raw Welch feature of aidetect.models.welch (log power of the grey residual's 64-px tiles,
2,112 numbers) of the centred ``--image-size`` crop. Training data: ``--views`` readings of every
training image, the first clean and the others after the fingerprint recipe's augmentation (JPEG
p = 0.5 at quality 60-100, blur p = 0.1; aidetect.models.preprocess.augment, seeded per view), so
both readings below see the same images:

* ``pca+wccn``: the product's map, fitted on all views;
* ``supcon-mlp``: standardised, then Linear(2112, hidden) → BatchNorm → GELU → Dropout 0.2 →
  Linear(hidden, 128), L2-normalised (``--hidden 0``: one linear layer, the map's shape learned by
  gradient); SupCon at τ 0.1, class-balanced batches, AdamW.

Both are read as the product reads an embedding: k-NN over the train split's clean images (all of
them and 50 per class), weighted vote for attribution, similarity gap for detection.

With ``--pretrain DIR`` the MLP is first trained on a procedural set (thousands of random
up-sampling networks, one class each: benchmarks/zoo/procedural.py), then on the zoo as above:
whether many training classes keep a learned space general.

With ``--mix DIR`` the procedural classes are trained *together* with the zoo's instead: every
batch holds the zoo's classes as without it plus 64 procedural classes of 8 rows (the epoch, the
schedule and the standardisation stay the zoo's), so their many fingerprints stay in the loss to
the end rather than being overwritten by a fine-tuning on 13-15 classes.

With ``--net logpolar`` the MLP's input is the spectrum read on a log-polar grid and convolved along
log-radius, pooled over it (:class:`LogPolarNet`): a resize of the image shifts that reading instead
of scrambling it, the test of whether `wild`'s downscaled images are lost for want of that.

With ``--gallery-views N`` every reading is scored a second time with the first N views of each
training image in the gallery (the clean one and N-1 after the training augmentation), as well as
the product's gallery of clean images alone: whether a gallery that covers recompression finds
recompressed test images' neighbours.

With ``--detection-scores`` a second table scores real against AI by other rules than the similarity
gap over the same readings (:func:`detection_scores`): whether detection is limited by the score or
by the embedding.

With ``--wild-views N`` the training rows also hold N readings of every training image sent through
a ``wild`` chain (seeds 1..N; the test split is read with seed 0): training on the test condition's
own distribution, a diagnostic of how much of `wild` a reading can learn at all, not a recipe.

With ``--canonical-jpeg Q`` every image read is re-saved as a JPEG at quality Q first
(:class:`CanonicalJPEG`): the zoo's `real` windows carry their photos' JPEG grid and its
generators' files do not (docs/zoo-data.md), and a learned reading that leans on that cannot
survive a light re-save of an AI image.

With ``--enroll DIR --heldout DIR`` (benchmarks/zoo/new_generator.py's folders: a generator from
outside the zoo), the README's enrollment demo in this setting: the first 50 images of DIR join the
gallery as a new class (beside the whole train split, as in the product, and beside 50 of each
class), and the table's last rows say how many held-out images the vote gives to it (no
``unknown`` rule here, unlike the product).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from aidetect.config import WELCH_TILE, PreprocessConfig  # noqa: E402
from aidetect.data.images import is_image_name  # noqa: E402
from aidetect.data.perturb import WildConditions  # noqa: E402
from aidetect.losses.softmax import SoftmaxLoss  # noqa: E402
from aidetect.losses.supcon import SupConLoss  # noqa: E402
from aidetect.models.readout import WCCN_SHRINKAGE, fit_whitened_projection  # noqa: E402
from aidetect.recipes import RECIPES  # noqa: E402
from feature_probe import knn_accuracy, split_files  # noqa: E402
from welch_probe import (  # noqa: E402
    REAL, RawSpectrum, check_zoo_arguments, fifty_per_class, fit_readings, raw_features, score_conditions, similarity_gap, unit,
)

EMBEDDING_DIM = 128


class SpectrumMLP(nn.Module):
    """Standardised raw feature → MLP → unit embedding; with ``fitted_map`` (centre, projection of the
    PCA+WCCN map), the map as a trainable linear layer plus the MLP as a residual branch whose last
    layer starts at zero, so training starts from the map's embedding and SupCon moves it from there."""

    def __init__(self, mean: np.ndarray, spread: np.ndarray, hidden: int,
                 fitted_map: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean).float())
        self.register_buffer("spread", torch.from_numpy(spread).float())
        self.net = (nn.Linear(len(mean), EMBEDDING_DIM) if hidden == 0 else  # a learned linear map
                    nn.Sequential(nn.Linear(len(mean), hidden), nn.BatchNorm1d(hidden), nn.GELU(), nn.Dropout(0.2),
                                  nn.Linear(hidden, EMBEDDING_DIM)))
        self.linear_map = None
        if fitted_map is not None:
            centre, projection = (torch.from_numpy(a).float() for a in fitted_map)
            # on standardised input s = (x - mean) / spread: (x - centre) @ P = s @ (spread * P) + (mean - centre) @ P
            self.linear_map = nn.Linear(len(mean), projection.shape[1])
            with torch.no_grad():
                self.linear_map.weight.copy_((self.spread[:, None] * projection).T)
                self.linear_map.bias.copy_((self.mean - centre) @ projection)
                last = self.net if hidden == 0 else self.net[-1]
                last.weight.zero_()
                last.bias.zero_()

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer's activation (after GELU, before dropout and the last layer): the
        representation *before* the projection, which SimCLR and SupCon read for transfer."""
        if isinstance(self.net, nn.Linear):
            raise ValueError("a one-layer MLP (--hidden 0) has no hidden layer")
        return self.net[:3]((x - self.mean) / self.spread)

    def unnormalised(self, x: torch.Tensor) -> torch.Tensor:
        s = (x - self.mean) / self.spread
        return self.net(s) if self.linear_map is None else self.linear_map(s) + self.net(s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.unnormalised(x), dim=1)


class ClassifierLoss(nn.Module):
    """A classification loss over the embedding, for ``--loss`` other than SupCon; its weights are
    class proxies that train with the model. ``normface``: cross-entropy over the cosines to one
    unit proxy per class divided by ``temperature`` (NormFace; the open-set speaker and face
    recognisers' loss), so the embedding is trained for the cosine the k-NN reads; ``ce``: plain
    softmax cross-entropy of a linear head on the embedding before its normalisation; ``ce-unit``:
    the linear head on the unit embedding, its logits divided by ``temperature`` (what a trainer
    whose loss receives unit embeddings, as the product's does, can train: it *is* the product's
    ``train --loss softmax``, aidetect.losses.SoftmaxLoss, so the probe measures what ships)."""

    def __init__(self, kind: str, n_classes: int, temperature: float) -> None:
        super().__init__()
        self.kind, self.temperature = kind, temperature
        self.product_loss = SoftmaxLoss(n_classes, EMBEDDING_DIM, temperature) if kind == "ce-unit" else None
        # the class proxies: the product loss's own head for ce-unit (one module, registered under both names)
        self.head = self.product_loss.head if self.product_loss is not None else \
            nn.Linear(EMBEDDING_DIM, n_classes, bias=kind != "normface")

    def forward(self, model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.kind == "normface":
            logits = model(x) @ nn.functional.normalize(self.head.weight, dim=1).T / self.temperature
        elif self.product_loss is not None:
            return self.product_loss(model(x), labels)
        else:
            logits = self.head(model.unnormalised(x))
        return nn.functional.cross_entropy(logits, labels)


#: The log-polar reading of the Welch spectrum (:class:`LogPolarSpectrum`): directions over the
#: half-plane, and radii from 2 bins of a tile (below that is the image content's own slope) to the
#: corner of the plane, on a geometric scale.
LOG_POLAR_ANGLES = 16
LOG_POLAR_RADII = 48
LOG_POLAR_HIGHEST = math.sqrt(0.5)  # cycles per pixel: the plane's corner, where a 2× checkerboard sits


class LogPolarSpectrum(nn.Module):
    """The log Welch power [N, welch_bins(tile)] (rfft2 half-plane layout) → [N, angles + 1, radii] on
    a log-polar grid, so that resampling an image becomes a *shift* along the last axis.

    Why: resizing an image by a factor s moves every frequency f of its spectrum to f / s (what
    survives the resampling filter), so a generator's trace at k/8 cycles per pixel lands elsewhere
    on a fixed Cartesian grid and a reading learned there no longer finds it (under the zoo's `wild`
    conditions the welch-mlp attributes 67.8 % of images kept at native size and 26.9 % of
    downscaled ones). On a geometric radius axis the same resize is a translation by log s, which a
    convolution along that axis followed by pooling over it does not see (:class:`LogPolarConv`).

    Channels: for each of ``angles`` directions over [-90°, 90°) the log power minus the mean over
    directions at that radius (the anisotropic part: peaks on the axes and diagonals, where up-sampling
    and latent decoders leave their traces), and last the first difference of that mean along the
    radius (the isotropic slope, which a resize does not offset, unlike its level). Positions outside
    the plane (radii past 0.5 cycles per pixel off the diagonals) are 0."""

    def __init__(self, tile: int = WELCH_TILE, angles: int = LOG_POLAR_ANGLES, radii: int = LOG_POLAR_RADII,
                 lowest: float | None = None, highest: float = LOG_POLAR_HIGHEST) -> None:
        super().__init__()
        self.tile, self.angles, self.radii = tile, angles, radii
        lowest = 2 / tile if lowest is None else lowest
        theta = -math.pi / 2 + math.pi * torch.arange(angles, dtype=torch.float64) / angles
        radius = lowest * (highest / lowest) ** (torch.arange(radii, dtype=torch.float64) / (radii - 1))
        fx = radius[None, :] * torch.cos(theta)[:, None]  # cycles per pixel, >= 0 on the half-plane
        fy = radius[None, :] * torch.sin(theta)[:, None]
        valid = (fx <= 0.5 + 1e-9) & (fy.abs() <= 0.5 + 1e-9)
        # grid_sample coordinates (align_corners=True: -1 and 1 are the first and last samples) on the
        # plane with rows fy = -1/2 … +1/2 (tile + 1 rows) and columns fx = 0 … 1/2 (tile / 2 + 1)
        gx = (fx * tile) / (tile / 2) * 2 - 1
        gy = (fy * tile + tile / 2) / tile * 2 - 1
        self.register_buffer("grid", torch.stack([gx, gy], dim=-1).float()[None], persistent=False)
        self.register_buffer("valid", valid.float(), persistent=False)

    @property
    def channels(self) -> int:
        return self.angles + 1

    def forward(self, log_power: torch.Tensor) -> torch.Tensor:
        n, t = log_power.shape[0], self.tile
        plane = log_power.float().reshape(n, t, t // 2 + 1)
        plane = torch.roll(plane, t // 2, dims=1)  # row r now holds fy = r - t/2 bins
        plane = torch.cat([plane, plane[:, :1]], dim=1)  # fy = +1/2 is fy = -1/2 (periodic)
        polar = F.grid_sample(plane[:, None], self.grid.expand(n, -1, -1, -1), mode="bilinear",
                              align_corners=True)[:, 0]  # [N, angles, radii]
        valid = self.valid
        profile = (polar * valid).sum(dim=1) / valid.sum(dim=0).clamp(min=1)  # mean over directions
        anisotropic = (polar - profile[:, None]) * valid
        slope = F.pad(profile[:, 1:] - profile[:, :-1], (0, 1))
        return torch.cat([anisotropic, slope[:, None]], dim=1)


class LogPolarConv(nn.Module):
    """[N, C, radii] → [N, 2 × width]: dilated convolutions along the log-radius axis (receptive field
    29 bins, about 2.7 octaves: enough to relate a trace at 1/8 cycles per pixel to its harmonics),
    then the mean and the maximum over that axis, so a shift along it (a resize of the image) moves
    nothing but the borders. Directions are channels: a resize keeps them."""

    def __init__(self, channels: int, width: int = 64) -> None:
        super().__init__()
        self.out_dim = 2 * width
        layers: list[nn.Module] = [nn.BatchNorm1d(channels, affine=False)]  # the channels' scales differ
        widths = [channels, 32, 64, width]
        for i, dilation in enumerate((1, 2, 4)):
            layers += [nn.Conv1d(widths[i], widths[i + 1], 5, padding=2 * dilation, dilation=dilation, bias=False),
                       nn.BatchNorm1d(widths[i + 1]), nn.GELU()]
        self.net = nn.Sequential(*layers)

    def forward(self, polar: torch.Tensor) -> torch.Tensor:
        h = self.net(polar)
        return torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)


class CanonicalJPEG(nn.Module):
    """``reader`` after re-saving every image (the [N, 3, H, W] tensor in [0, 1] it is given, after
    any augmentation or test condition) as a JPEG at ``quality``: training, gallery and queries all
    carry JPEG's 8×8 grid, so its presence cannot tell a class."""

    def __init__(self, reader: nn.Module, quality: int) -> None:
        super().__init__()
        self.reader, self.quality = reader, quality
        self.feature = f"{reader.feature}-jpeg{quality}"  # its own cache keys

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        resaved = []
        for image in images:
            pixels = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="JPEG", quality=self.quality)
            decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
            resaved.append(torch.from_numpy(decoded.copy()).permute(2, 0, 1).float() / 255)
        return self.reader(torch.stack(resaved))


class LogPolarNet(nn.Module):
    """The raw feature read on a log-polar grid (:class:`LogPolarSpectrum`), convolved
    along log-radius and pooled over it (LogPolarConv), then the same head as :class:`SpectrumMLP`:
    a reading that a resize of the image shifts rather than scrambles."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.polar = LogPolarSpectrum()
        self.conv = LogPolarConv(self.polar.channels)
        self.net = nn.Sequential(nn.Linear(self.conv.out_dim, hidden), nn.BatchNorm1d(hidden), nn.GELU(), nn.Dropout(0.2),
                                 nn.Linear(hidden, EMBEDDING_DIM))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[:3](self.conv(self.polar(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net(self.conv(self.polar(x))), dim=1)


def train_mlp(x: np.ndarray, labels: np.ndarray, *, hidden: int, epochs: int, per_class: int, seed: int,
              temperature: float = 0.1, fitted_map: tuple[np.ndarray, np.ndarray] | None = None, start: SpectrumMLP | None = None,
              classes_per_batch: int | None = None, mix: tuple[np.ndarray, np.ndarray] | None = None,
              mix_classes: int = 64, mix_per_class: int = 8, net: str = "mlp", loss: str = "supcon") -> nn.Module:
    """SupCon on class-balanced batches: every step draws ``per_class`` rows of every class (of
    ``classes_per_batch`` classes drawn at random when given: thousands of procedural classes do not
    fit one batch). ``start``: a model to go on training (its standardisation refitted on ``x``).
    ``mix``: (rows, labels) of further classes trained *with* ``x``'s (labels apart from its): every
    step adds ``mix_per_class`` rows of ``mix_classes`` of them drawn at random; an epoch and the
    standardisation stay ``x``'s, so the run sees ``x`` exactly as it would without them. ``loss``:
    ``supcon``, or ``normface`` / ``ce`` / ``ce-unit`` (:class:`ClassifierLoss`, its proxies trained beside;
    a left-out class keeps an unused row). Steps per epoch follow the rows: ``--wild-views`` adds
    steps as well as views. ``--pretrain`` trains with SupCon whatever ``loss`` is."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = (LogPolarNet(hidden) if net == "logpolar" else
             SpectrumMLP(x.mean(axis=0), x.std(axis=0) + 1e-6, hidden, fitted_map))
    if start is not None:
        weights = {k: v for k, v in start.state_dict().items() if k not in ("mean", "spread")}
        model.load_state_dict(weights, strict=False)
    n_labels = int(max(labels.max(), -1 if mix is None else mix[1].max())) + 1
    if loss == "supcon":
        supcon = SupConLoss(temperature=temperature, learnable_temperature=False)
        loss_fn, trained = (lambda x_, y_: supcon(model(x_), y_)), list(model.parameters())
    else:
        classifier = ClassifierLoss(loss, n_labels, temperature)
        loss_fn, trained = (lambda x_, y_: classifier(model, x_, y_)), list(model.parameters()) + list(classifier.parameters())
    optimiser = torch.optim.AdamW(trained, lr=1e-3, weight_decay=0.05)
    classes = np.unique(labels)
    rows_of = [np.flatnonzero(labels == c) for c in classes]
    drawn = min(classes_per_batch or len(classes), len(classes))
    steps_per_epoch = max(1, len(x) // (per_class * drawn))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=1e-3, total_steps=epochs * steps_per_epoch)
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(labels).long()
    if mix is not None:
        mix_classes_all = np.unique(mix[1])
        if np.isin(mix_classes_all, classes).any():
            raise ValueError("the mixed-in classes' labels must differ from x's")
        mix_rows_of = [np.flatnonzero(mix[1] == c) + len(x) for c in mix_classes_all]
        mix_drawn = min(mix_classes, len(mix_classes_all))
        xt, yt = torch.cat([xt, torch.from_numpy(mix[0]).float()]), torch.cat([yt, torch.from_numpy(mix[1]).long()])
    model.train()
    for epoch in range(epochs):
        total = 0.0
        for _ in range(steps_per_epoch):
            chosen = rng.choice(len(classes), drawn, replace=False) if drawn < len(classes) else range(len(classes))
            batch = np.concatenate([rng.choice(rows_of[c], per_class, replace=len(rows_of[c]) < per_class) for c in chosen])
            if mix is not None:
                extra = rng.choice(len(mix_rows_of), mix_drawn, replace=False)
                batch = np.concatenate([batch] + [rng.choice(mix_rows_of[c], mix_per_class, replace=len(mix_rows_of[c]) < mix_per_class)
                                                  for c in extra])
            batch_loss = loss_fn(xt[batch], yt[batch])
            optimiser.zero_grad()
            batch_loss.backward()
            optimiser.step()
            schedule.step()
            total += float(batch_loss.detach())
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"  epoch {epoch + 1}/{epochs}: {loss} {total / steps_per_epoch:.3f}", file=sys.stderr, flush=True)
    return model.eval()


def procedural_readings(reader: nn.Module, root: Path, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """A procedural set's training rows (benchmarks/zoo/procedural.py: thousands of random up-sampling
    networks, one class each, 128-px windows): a clean and an augmented reading of each training
    image, and their class numbers 0, 1, …"""
    folders = sorted(p for p in (root / "train").iterdir() if p.is_dir())
    paths = [str(f) for folder in folders for f in sorted(folder.glob("*.png"))]
    labels = np.array([i for i, folder in enumerate(folders) for _ in sorted(folder.glob("*.png"))])
    preprocess = PreprocessConfig(image_size=128, mode="crop")
    started = time.time()
    x = np.concatenate([raw_features(reader, paths, preprocess, cache=cache),
                        raw_features(reader, paths, preprocess, augment=RECIPES["fingerprint"].augment, view=1, cache=cache)])
    print(f"procedural: {len(folders)} classes, 2 readings of {len(paths)} images in {time.time() - started:.0f} s", file=sys.stderr)
    return x, np.tile(labels, 2)


def pretrain_on_procedural(reader: nn.Module, root: Path, *, hidden: int, epochs: int, seed: int,
                           cache: Path | None, temperature: float = 0.1) -> SpectrumMLP:
    """The MLP trained first on a procedural set alone, 64 classes of 8 rows a batch."""
    x, labels = procedural_readings(reader, root, cache)
    return train_mlp(x, labels, hidden=hidden, epochs=epochs, per_class=8, seed=seed, classes_per_batch=64,
                     temperature=temperature)


def detection_scores(readings: dict, train: np.ndarray, train_labels: np.ndarray, classes: list[str], fifty: np.ndarray,
                     args: argparse.Namespace, reader: nn.Module, test_paths: list[str], test_labels: np.ndarray,
                     preprocess: PreprocessConfig, conditions: dict) -> list[dict]:
    """Other real-against-AI scores over each reading beside the product's similarity gap (k = 11):
    the gap at k = 1 and 32, the real side alone (minus the mean similarity to the 11 nearest real
    rows: a one-class score, blind to which generators the gallery holds), the class-mean gap (the
    best AI class mean's cosine minus the real mean's) and a logistic regression fitted on the
    gallery's rows (real against the rest, classes balanced). AUC on the seen generators' test
    images and on the left-out ones', each against the real test images."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from aidetect.gallery.search import knn_search

    real = classes.index(REAL)
    zero_shot = np.isin(test_labels, [classes.index(c) for c in args.leave_out])
    is_ai = test_labels != real
    rows = []
    print("\n| reading | condition | gallery | detection score | seen AUC | zero-shot AUC |\n|---|---|---|---|---|---|")
    for condition, perturb in conditions.items():
        test = raw_features(reader, test_paths, preprocess, perturb=perturb, cache=args.cache)
        for name, read in readings.items():
            with torch.inference_mode():
                gallery_all, queries = unit(read(train)), unit(read(test))
            for label, rows_of in (("all", np.arange(len(train_labels))), ("50", fifty)):
                gallery, labels = gallery_all[rows_of], train_labels[rows_of]
                scores = {f"gap, k = {k}": similarity_gap(gallery, labels == real, queries, k) for k in (1, 11, 32)}
                real_side, _ = knn_search(queries, gallery[labels == real].astype(np.float16), 11)
                scores["real side alone, k = 11"] = -real_side.mean(axis=1)
                cosines = queries @ unit(np.stack([gallery[labels == c].mean(axis=0) for c in range(len(classes))])).T
                scores["class-mean gap"] = np.delete(cosines, real, axis=1).max(axis=1) - cosines[:, real]
                logistic = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(gallery, labels != real)
                scores["logistic regression"] = logistic.decision_function(queries)
                for score_name, score in scores.items():
                    seen = roc_auc_score(is_ai[~zero_shot], score[~zero_shot])
                    unseen = roc_auc_score(is_ai[zero_shot | ~is_ai], score[zero_shot | ~is_ai]) if zero_shot.any() else None
                    rows.append({"reading": name, "condition": condition, "gallery": label, "detection_score": score_name,
                                 "seen_auc": 100 * seen, "zero_shot_auc": None if unseen is None else 100 * unseen})
                    print(f"| {name} | {condition} | {label} | {score_name} | {100 * seen:.1f} | "
                          f"{'–' if unseen is None else f'{100 * unseen:.1f}'} |", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo", type=Path, help="data root with train/ and test/ class folders (the zoo)")
    parser.add_argument("--image-size", type=int, default=256, help="side of the centred crop read (64 or more)")
    parser.add_argument("--views", type=int, default=4, help="readings of each training image: one clean, the rest augmented")
    parser.add_argument("--wild-views", type=int, default=0,
                        help="further training readings through a wild chain (seeds 1..N; tests read seed 0): a diagnostic, "
                             "training on the test condition's own distribution")
    parser.add_argument("--leave-out", nargs="*", default=[], metavar="CLASS", help="classes kept out of every fit")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=512, help="width of the MLP's hidden layer; 0 = one linear layer")
    parser.add_argument("--net", choices=("mlp", "logpolar"), default="mlp",
                        help="mlp: the standardised spectrum into the MLP; logpolar: LogPolarNet (read on a log-polar grid, resize-blind)")
    parser.add_argument("--gallery-views", type=int, default=1,
                        help="also score with the first N views of every training image in the gallery (clean + N-1 augmented)")
    parser.add_argument("--detection-scores", action="store_true",
                        help="also compare real-against-AI scores beside the similarity gap (see detection_scores)")
    parser.add_argument("--jpeg-p", type=float, help="the augmented views' JPEG probability (default the recipe's 0.5)")
    parser.add_argument("--canonical-jpeg", type=int, metavar="Q",
                        help="re-save every image read (training, gallery, test) as a JPEG at quality Q first")
    parser.add_argument("--loss", choices=("supcon", "normface", "ce", "ce-unit"), default="supcon",
                        help="the MLP's training loss: SupCon (the product's), or a classifier over class proxies "
                             "(normface: cosine softmax at --temperature; ce: a linear softmax head; ce-unit: that head on the unit "
                             "embedding, logits / --temperature)")
    parser.add_argument("--per-class", type=int, default=32, help="rows of each class in a batch")
    parser.add_argument("--temperature", type=float, default=0.1,
                        help="SupCon's temperature (fixed), and normface's and ce-unit's (ce has none); a higher one is more tolerant of spread within a class")
    parser.add_argument("--read-hidden", action="store_true",
                        help="also read the MLP's hidden layer: as it is (L2-normalised) and through a PCA+WCCN map "
                             "fitted on it (the training views, left-out classes excluded)")
    parser.add_argument("--pretrain", type=Path, metavar="DIR",
                        help="first train the MLP on a procedural set (benchmarks/zoo/procedural.py --out DIR)")
    parser.add_argument("--pretrain-epochs", type=int, default=100)
    parser.add_argument("--mix", type=Path, metavar="DIR",
                        help="train the MLP on the zoo and a procedural set together (procedural.py --out DIR): "
                             "64 of its classes, 8 rows each, join every batch")
    parser.add_argument("--init-map", action="store_true",
                        help="start from the fitted map: it as a trainable linear layer, the MLP as a residual branch starting at zero")
    parser.add_argument("--conditions", nargs="+", default=["clean", "jpeg:75", "wild"], help="test conditions")
    parser.add_argument("--k", type=int, default=11)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--enroll", type=Path, help="images of a generator outside the zoo, the first 50 enrolled")
    parser.add_argument("--heldout", type=Path, help="more images of it, attributed after the enrollment")
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--cache", type=Path, help="keep the raw features here, for runs that vary only the fit")
    args = parser.parse_args(argv)
    classes, conditions = check_zoo_arguments(parser, args)
    if (args.enroll is None) != (args.heldout is None):
        parser.error("--enroll and --heldout go together")
    if min(args.views, args.epochs, args.pretrain_epochs, args.k) < 1 or args.per_class < 2 or min(args.hidden, args.wild_views) < 0:
        parser.error("--views, --epochs, --pretrain-epochs and --k must be at least 1, --per-class at least 2, --hidden and --wild-views 0 or more")
    if args.temperature <= 0:
        parser.error("--temperature must be above 0")
    if args.read_hidden and (args.hidden == 0 or args.init_map):
        parser.error("--read-hidden reads the hidden layer of the plain MLP: not with --hidden 0 or --init-map")
    if args.jpeg_p is not None and not 0 <= args.jpeg_p <= 1:
        parser.error("--jpeg-p must lie between 0 and 1")
    if args.canonical_jpeg is not None and not 1 <= args.canonical_jpeg <= 100:
        parser.error("--canonical-jpeg must lie between 1 and 100")
    if not 1 <= args.gallery_views <= args.views:
        parser.error(f"--gallery-views must lie between 1 and --views ({args.views})")
    if args.loss != "supcon" and args.net != "mlp":
        parser.error("--loss normface, ce and ce-unit train the plain MLP (--net mlp)")
    if args.net != "mlp" and (args.init_map or args.pretrain is not None or args.hidden == 0):
        parser.error("--net logpolar trains from scratch with a hidden layer: not with --init-map, --pretrain or --hidden 0")
    if args.pretrain is not None and args.init_map:
        parser.error("--pretrain and --init-map do not combine: the pre-trained weights would replace the map's start")
    for option, folder in (("--pretrain", args.pretrain), ("--mix", args.mix)):
        if folder is not None and not (folder / "train").is_dir():
            parser.error(f"{option}: {folder / 'train'} is missing: give the --out folder of benchmarks/zoo/procedural.py")

    preprocess = PreprocessConfig(image_size=args.image_size, mode="crop")
    augment = RECIPES["fingerprint"].augment
    if args.jpeg_p is not None:
        augment = dataclasses.replace(augment, jpeg_p=args.jpeg_p)
    reader = RawSpectrum("welch").eval()
    if args.canonical_jpeg:
        reader = CanonicalJPEG(reader, args.canonical_jpeg).eval()
    train_paths, train_labels = split_files(args.zoo, "train", classes, 0, args.seed)
    test_paths, test_labels = split_files(args.zoo, "test", classes, 0, args.seed)

    started = time.time()
    views = [raw_features(reader, train_paths, preprocess, cache=args.cache)]
    views += [raw_features(reader, train_paths, preprocess, augment=augment, view=v, cache=args.cache) for v in range(1, args.views)]
    # after the gallery's views (--gallery-views counts from the first), so they are training rows only
    views += [raw_features(reader, train_paths, preprocess, perturb=WildConditions(seed=s), cache=args.cache)
              for s in range(1, args.wild_views + 1)]
    print(f"{len(views)} views of {len(train_paths)} training images read in {time.time() - started:.0f} s", file=sys.stderr)
    fit_x, fit_y = np.concatenate(views), np.tile(train_labels, len(views))
    held = np.isin(fit_y, [classes.index(c) for c in args.leave_out])
    started = time.time()
    fitted_map = None
    if args.init_map:
        centre, projection, _ = fit_whitened_projection([(torch.from_numpy(fit_x[~held]), torch.from_numpy(fit_y[~held]))],
                                                        [fit_x.shape[1]], EMBEDDING_DIM, WCCN_SHRINKAGE, "the probe")
        fitted_map = (centre.numpy(), projection.numpy())
    start = None
    if args.pretrain is not None:
        start = pretrain_on_procedural(reader, args.pretrain, hidden=args.hidden, epochs=args.pretrain_epochs,
                                       seed=args.seed, cache=args.cache, temperature=args.temperature)
    mix = None
    if args.mix is not None:
        mix_x, mix_y = procedural_readings(reader, args.mix, args.cache)
        mix = (mix_x, mix_y + len(classes))  # class numbers after the zoo's
    mlp = train_mlp(fit_x[~held], fit_y[~held], hidden=args.hidden, epochs=args.epochs, per_class=args.per_class, seed=args.seed,
                    temperature=args.temperature, fitted_map=fitted_map, start=start, mix=mix, net=args.net, loss=args.loss)
    print(f"MLP trained in {time.time() - started:.0f} s", file=sys.stderr)
    learned = lambda z: mlp(torch.from_numpy(z).float()).numpy()  # noqa: E731  (callers run it under inference_mode)
    readings = {"pca+wccn": fit_readings(fit_x[~held], fit_y[~held])["pca+wccn"],
                f"{args.loss}-{args.net}" + ("-from-map" if args.init_map else "") + ("-procedural" if args.pretrain else "")
                + ("-mixed" if args.mix else ""): learned}
    if args.read_hidden:
        hidden = lambda z: mlp.hidden(torch.from_numpy(z).float()).numpy()  # noqa: E731
        with torch.inference_mode():
            hidden_fit = np.concatenate([hidden(chunk) for chunk in np.array_split(fit_x[~held], 64)])
        hidden_map = fit_readings(hidden_fit, fit_y[~held])["pca+wccn"]
        readings[f"{args.net}-hidden"] = hidden
        readings[f"{args.net}-hidden+wccn"] = lambda z: hidden_map(hidden(z))  # noqa: E731

    train = views[0]
    fifty = fifty_per_class(train_labels, len(classes), args.seed)  # the 50-per-class gallery, here and for enrollment
    rows = []
    for n in sorted({1, args.gallery_views}):
        # the gallery as the product builds it (each training image once, clean), then with the
        # training augmentation's views of the same images beside it
        tagged = readings if n == 1 else {f"{name}, gallery of {n} views": read for name, read in readings.items()}
        rows += score_conditions(tagged, np.concatenate(views[:n]), np.tile(train_labels, n),
                                 lambda perturb: raw_features(reader, test_paths, preprocess, perturb=perturb, cache=args.cache),
                                 test_labels, conditions=conditions, classes=classes, leave_out=args.leave_out,
                                 fifty=np.concatenate([fifty + i * len(train_labels) for i in range(n)]), k=args.k)
    if args.detection_scores:
        rows += detection_scores(readings, train, train_labels, classes, fifty, args, reader, test_paths, test_labels,
                                 preprocess, conditions)
    if args.enroll is not None:
        pick = lambda folder: sorted(str(p) for p in folder.iterdir() if is_image_name(p.name))  # noqa: E731
        enrolled = raw_features(reader, pick(args.enroll)[:50], preprocess, cache=args.cache)
        heldout = raw_features(reader, pick(args.heldout), preprocess, cache=args.cache)
        new = len(classes)
        print(f"\n| reading | gallery of the zoo's classes | held-out images of the new generator given to it, "
              f"of {len(heldout)}, after enrolling {len(enrolled)} |")
        print("|---|---|---|")
        for name, read in readings.items():
            with torch.inference_mode():
                gallery = unit(read(np.concatenate([train, enrolled])))
                queries = unit(read(heldout))
            labels = np.concatenate([train_labels, np.full(len(enrolled), new)])
            # the whole train split (the product's gallery: 50 enrolled beside ~660 a class), then 50 a class
            for label, rows_of in (("all", np.arange(len(labels))), ("50", np.concatenate([fifty, np.arange(len(train), len(labels))]))):
                right = knn_accuracy(gallery[rows_of], labels[rows_of], queries, np.full(len(heldout), new), new + 1, args.k)
                rows.append({"reading": name, "condition": "enrollment", "gallery": label, "enrolled": len(enrolled),
                             "heldout": len(heldout), "recognised": int(right.sum())})
                print(f"| {name} | {label} | {int(right.sum())} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"zoo": str(args.zoo), "image_size": args.image_size, "views": args.views, "loss": args.loss, "wild_views": args.wild_views, "init_map": args.init_map, "pretrain": str(args.pretrain or ""), "mix": str(args.mix or ""),
                                         "leave_out": args.leave_out, "epochs": args.epochs, "hidden": args.hidden,
                                         "temperature": args.temperature, "read_hidden": args.read_hidden,
                                         "k": args.k, "net": args.net, "gallery_views": args.gallery_views, "canonical_jpeg": args.canonical_jpeg, "jpeg_p": args.jpeg_p, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
