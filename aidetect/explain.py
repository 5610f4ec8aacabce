"""LIME for an embedding: which regions of an image hold what the encoder sees (thesis, chapter 4.6).

The encoder returns an embedding, not a class score, so the response LIME
explains is the **cosine similarity of a perturbed view's embedding to the
original image's embedding**: a region whose removal moves the embedding far
away carries what makes the image look like what it is to the encoder.

1. The part of the image the model sees is cut into superpixels (scikit-image
   SLIC by default; quickshift, or a plain grid when scikit-image is missing).
2. ``samples`` binary masks z ∈ {0, 1}^segments are drawn with a seeded
   generator (the first one keeps everything); each switched-off segment is
   filled with a flat colour (the image's mean colour, or mid-grey).
3. Each view goes through the model's **own inference preprocessing**
   (:func:`~aidetect.models.preprocess.to_input`: one centre crop, several
   views, or a resize) and the encoder, in batches; its response is
   ``cos(f(view), f(image))``.
4. A ridge regression (scikit-learn ``Ridge``, alpha 1) of the responses on
   the masks, each sample weighted by LIME's exponential kernel
   ``sqrt(exp(-d² / 0.25²))`` on the cosine distance ``d`` of its mask to the
   all-ones mask, gives one weight per segment: the similarity that keeping
   the segment contributes. The weighted R² of that fit says how well the
   linear model describes the encoder around this image.

Where the mask is applied: on the decoded image, *before* the preprocessing,
so each view is exactly what the encoder would get for a file whose hidden
segments were flat colour.

* ``crop`` mode (S×S windows at native resolution: the centre, or the centre
  and corners with ``views`` > 1): only the pixels some window reads are
  segmented (others could not change the embedding and would waste samples).
  Which pixels those are is found by passing images of row and column numbers
  through :func:`to_input` itself, so it follows any change there. Images
  smaller than S are padded by reflection, and the padding repeats the masked
  pixels exactly as it would repeat a real flat region; masking the
  preprocessed array instead would leave reflected copies of a hidden region
  visible. As this preprocessing only copies pixels, a view's input is built
  by setting the hidden pixels of the image's own input to the fill colour,
  which equals ``to_input(masked image)`` bit for bit (checked on every call,
  with the general path as fallback) and costs nothing for large images.
* ``resize`` mode (the whole image resampled to S×S): the whole image is
  segmented at its own resolution and each masked image is resized like any
  input, so the edges of a hidden region are resampled as they would be in a
  real file. Masking the resized array instead would differ only along segment
  borders (by the width of the interpolation kernel) and be cheaper for large
  images; the exact path is kept, and costs about 30 ms more per sample for a
  1024 × 1024 image on 2 CPU cores.

Deterministic for a seed: the masks come from ``numpy.random.default_rng(seed)``,
SLIC and the grid are deterministic and quickshift is seeded with it too.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from aidetect.config import EXPLAIN_SAMPLES, EXPLAIN_SEGMENTS
from aidetect.data.images import load_image
from aidetect.devices import autocast
from aidetect.errors import AidetectError
from aidetect.fileio import atomic_write_bytes
from aidetect.models.preprocess import to_input
from aidetect.progress import progress_bar

DEFAULT_SAMPLES = EXPLAIN_SAMPLES
DEFAULT_SEGMENTS = EXPLAIN_SEGMENTS
DEFAULT_BATCH_SIZE = 16
DEFAULT_TOP = 5
#: LIME's default kernel width for images (lime_image.LimeImageExplainer).
KERNEL_WIDTH = 0.25
SEGMENTERS = ("auto", "slic", "quickshift", "grid")
FILLS = ("mean", "grey")
VIZ_HINT = "pip install 'aidetect[viz]'"
#: Largest side of the image panels in the PNG (larger images are shown downscaled).
_DISPLAY_MAX = 512
#: Smaller images are enlarged (nearest neighbour) to about this side, so outlines stay thin.
_DISPLAY_MIN = 256


@dataclass
class Explanation:
    """The result of :func:`explain_image`.

    ``segments`` maps every pixel of ``image`` to its superpixel (0 … n−1), or
    −1 where the model does not look (outside the crop window in ``crop`` mode).
    ``weights[j]`` is the ridge coefficient of segment j: how much cosine
    similarity to the original embedding keeping segment j is worth.
    """

    path: str
    image: np.ndarray  # uint8 [H, W, 3], the image as read
    segments: np.ndarray  # int32 [H, W]
    weights: np.ndarray  # float64 [n_segments]
    intercept: float
    score: float  # weighted R² of the local linear model
    top_segments: list[int]  # positive weights, largest first, at most ``top``
    window: tuple[int, int, int, int]  # (top, left, bottom, right) of the pixels the model sees
    masks: np.ndarray  # bool [samples, n_segments], row 0 = all kept
    similarities: np.ndarray  # float32 [samples], cosine similarity of each view to the original
    samples: int
    seed: int
    segmenter: str
    fill: str
    preprocess_mode: str
    model_fingerprint: str
    seconds: float
    kernel_width: float = KERNEL_WIDTH
    notes: list[str] = field(default_factory=list)

    @property
    def n_segments(self) -> int:
        return int(len(self.weights))

    @property
    def ms_per_sample(self) -> float:
        return 1000.0 * self.seconds / max(1, self.samples)

    def weight_map(self) -> np.ndarray:
        """float [H, W]: each pixel's segment weight (NaN outside the model's view)."""
        lookup = np.append(self.weights.astype(np.float64), np.nan)
        return lookup[self.segments]

    def to_dict(self) -> dict:
        """A JSON-able summary (no pixel arrays)."""
        return {
            "path": self.path,
            "model_fingerprint": self.model_fingerprint,
            "samples": self.samples,
            "segments": self.n_segments,
            "segmenter": self.segmenter,
            "fill": self.fill,
            "seed": self.seed,
            "kernel_width": self.kernel_width,
            "preprocess_mode": self.preprocess_mode,
            "window": list(self.window),
            "score_r2": round(self.score, 6),
            "intercept": round(self.intercept, 6),
            "similarity_min": round(float(self.similarities.min()), 6),
            "similarity_mean": round(float(self.similarities.mean()), 6),
            "top_segments": [_segment_info(self.segments, j, float(self.weights[j])) for j in self.top_segments],
            "weights": [round(float(w), 6) for w in self.weights],
            "seconds": round(self.seconds, 3),
            "ms_per_sample": round(self.ms_per_sample, 2),
            "notes": list(self.notes),
        }


def _segment_info(segments: np.ndarray, j: int, weight: float) -> dict:
    rows, cols = np.nonzero(segments == j)
    centre = [int(round(rows.mean())), int(round(cols.mean()))] if len(rows) else [0, 0]
    return {"segment": int(j), "weight": round(weight, 6), "pixels": int(len(rows)), "centre": centre}


# --------------------------------------------------------------------------- geometry


@dataclass
class InputGeometry:
    """Where each pixel of the encoder's input comes from, for preprocessing that only copies pixels
    (``crop`` mode: padding by reflection, one or several windows): ``rows``/``cols`` have the shape
    of the input's pixel grid ([S, S], or [V, S, S] for V views) and hold the source pixel's row and
    column in the image."""

    rows: np.ndarray
    cols: np.ndarray

    def seen(self, height: int, width: int) -> np.ndarray:
        mask = np.zeros((height, width), dtype=bool)
        mask[self.rows, self.cols] = True
        return mask


def _index_image(index: np.ndarray) -> Image.Image:
    rgb = np.zeros(index.shape + (3,), dtype=np.uint8)
    rgb[..., 0] = index >> 8
    rgb[..., 1] = index & 0xFF
    return Image.fromarray(rgb)


def input_geometry(height: int, width: int, preprocess) -> InputGeometry | None:
    """The source pixel of every input pixel, found by passing images of row and column numbers
    through the inference preprocessing (:func:`to_input`) itself; None when it resamples
    (``resize`` mode: every pixel contributes) or the image is too large to number in 16 bits."""
    if preprocess.mode == "resize":
        return None
    if preprocess.mode != "crop":
        raise AidetectError(f"unknown preprocessing mode {preprocess.mode!r} in the model's config.json")
    if max(height, width) > 0xFFFF:
        return None
    decoded = []
    for index in (np.broadcast_to(np.arange(height)[:, None], (height, width)), np.broadcast_to(np.arange(width)[None, :], (height, width))):
        values = np.rint(to_input(_index_image(index), preprocess) * 255.0).astype(np.int64)
        decoded.append((values[..., 0, :, :] << 8) | values[..., 1, :, :])
    rows, cols = decoded
    if rows.max() >= height or cols.max() >= width:
        return None
    return InputGeometry(rows, cols)


def model_window(height: int, width: int, preprocess) -> tuple[int, int, int, int]:
    """(top, left, bottom, right): the bounding box of the pixels of an H×W image that the
    inference preprocessing passes to the encoder (the whole image in ``resize`` mode)."""
    geometry = input_geometry(height, width, preprocess)
    if geometry is None:
        return 0, 0, height, width
    return int(geometry.rows.min()), int(geometry.cols.min()), int(geometry.rows.max()) + 1, int(geometry.cols.max()) + 1


# --------------------------------------------------------------------------- segmentation


def _skimage_segmentation():
    try:
        import skimage.segmentation as segmentation
    except ImportError:
        return None
    return segmentation


def resolve_segmenter(name: str) -> str:
    """``auto`` → ``slic`` when scikit-image is installed, else ``grid``; others are checked."""
    if name not in SEGMENTERS:
        raise AidetectError(f"unknown segmenter {name!r}; choose one of {', '.join(SEGMENTERS)}")
    available = _skimage_segmentation() is not None
    if name == "auto":
        return "slic" if available else "grid"
    if name in ("slic", "quickshift") and not available:
        raise AidetectError(f"--segmenter {name} needs scikit-image; install it with {VIZ_HINT}, or use --segmenter grid")
    return name


def grid_segments(height: int, width: int, segments: int) -> np.ndarray:
    """About ``segments`` near-square cells, row-major labels."""
    segments = max(1, int(segments))
    rows = max(1, min(height, int(round(np.sqrt(segments * height / max(1, width))))))
    cols = max(1, min(width, int(round(segments / rows))))
    r = np.minimum((np.arange(height) * rows) // height, rows - 1)
    c = np.minimum((np.arange(width) * cols) // width, cols - 1)
    return (r[:, None] * cols + c[None, :]).astype(np.int32)


#: (compactness, sigma) tried in turn until SLIC makes at least half the segments asked for:
#: fine high-frequency texture (which is what generator traces are) makes SLIC at low
#: compactness merge everything into one or two segments.
_SLIC_TRIES = ((10.0, 1.0), (20.0, 3.0), (40.0, 3.0), (80.0, 3.0))


def _count(labels: np.ndarray) -> int:
    return int(len(np.unique(labels[labels >= 0])))


def _slic(segmentation, region: np.ndarray, segments: int, mask: np.ndarray | None) -> tuple[np.ndarray, str]:
    best = None
    for compactness, sigma in _SLIC_TRIES:
        labels = segmentation.slic(
            region, n_segments=max(1, segments), compactness=compactness, sigma=sigma, start_label=0, mask=mask, channel_axis=-1
        )
        count = _count(labels)
        if best is None or count > best[0]:
            best = (count, labels, f"slic (compactness {compactness:g}, sigma {sigma:g})")
        if count >= max(1, segments // 2):
            break
    if best[0] < max(1, segments // 2):
        return _grid(region.shape[:2], segments, mask), f"grid (SLIC made only {best[0]} segments)"
    return best[1], best[2]


def _grid(shape: tuple[int, int], segments: int, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return grid_segments(shape[0], shape[1], segments)
    # Cells over the whole region, as many as make about ``segments`` of them fall on seen pixels.
    scale = mask.size / max(1, int(mask.sum()))
    return grid_segments(shape[0], shape[1], int(min(mask.size, round(segments * scale))))


def segment_image(region: np.ndarray, segments: int, method: str, seed: int = 0, mask: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """int32 [H, W] labels 0 … n−1 of an RGB uint8 region (−1 where ``mask`` is False), and what made them."""
    h, w = region.shape[:2]
    if mask is not None and mask.all():
        mask = None
    if method == "grid":
        labels, used = _grid((h, w), segments, mask), "grid"
    else:
        segmentation = _skimage_segmentation()
        if segmentation is None:
            raise AidetectError(f"--segmenter {method} needs scikit-image; install it with {VIZ_HINT}")
        if method == "slic":
            labels, used = _slic(segmentation, region, segments, mask)
        elif method == "quickshift":
            # LIME's own settings; the number of segments follows from the image, not from ``segments``.
            labels = segmentation.quickshift(region, kernel_size=4, max_dist=200, ratio=0.2, rng=seed, channel_axis=-1)
            used = "quickshift (kernel 4, max_dist 200, ratio 0.2)"
            made = _count(labels if mask is None else np.where(mask, labels, -1))
            if made < max(2, segments // 4):  # LIME's settings suit ~224-px images; tiny ones become one segment
                labels, slic_used = _slic(segmentation, region, segments, mask)
                used = f"{slic_used}, as quickshift made only {made} segment{'s' if made != 1 else ''}"
        else:
            raise AidetectError(f"unknown segmenter {method!r}; choose one of {', '.join(SEGMENTERS)}")
    labels = np.asarray(labels, dtype=np.int64)
    if mask is not None:
        labels = np.where(mask, labels, -1)
    keep = labels >= 0
    _, inverse = np.unique(labels[keep], return_inverse=True)
    out = np.full((h, w), -1, dtype=np.int32)
    out[keep] = inverse.reshape(-1)
    return out, used


# --------------------------------------------------------------------------- LIME


def lime_kernel(masks: np.ndarray, kernel_width: float = KERNEL_WIDTH) -> np.ndarray:
    """LIME's sample weights: ``sqrt(exp(-d² / width²))``, d = cosine distance of each mask to all-ones."""
    n = masks.shape[1]
    kept = masks.sum(axis=1).astype(np.float64)
    distance = 1.0 - np.sqrt(kept / max(1, n))  # cos(z, 1) = |z| / sqrt(|z| n) for binary z
    return np.sqrt(np.exp(-(distance**2) / kernel_width**2))


def fit_local_model(masks: np.ndarray, responses: np.ndarray, kernel_width: float = KERNEL_WIDTH) -> tuple[np.ndarray, float, float]:
    """Ridge (alpha 1) of ``responses`` on ``masks`` with LIME's kernel: (weights, intercept, weighted R²)."""
    from sklearn.linear_model import Ridge

    x = masks.astype(np.float64)
    y = np.asarray(responses, dtype=np.float64)
    w = lime_kernel(masks, kernel_width)
    ridge = Ridge(alpha=1.0, fit_intercept=True)
    ridge.fit(x, y, sample_weight=w)
    score = float(ridge.score(x, y, sample_weight=w)) if np.ptp(y) > 0 else 0.0
    return ridge.coef_.astype(np.float64), float(ridge.intercept_), score


def _fill_colour(region: np.ndarray, fill: str) -> np.ndarray:
    if fill == "mean":
        return np.round(region.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    if fill == "grey":
        return np.array([128, 128, 128], dtype=np.uint8)  # 0.5 of full scale, as close as 8 bits get
    raise AidetectError(f"unknown fill {fill!r}; choose one of {', '.join(FILLS)}")


def explain_image(
    model,
    path: str | Path,
    *,
    samples: int = DEFAULT_SAMPLES,
    segments: int = DEFAULT_SEGMENTS,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    segmenter: str = "auto",
    fill: str = "mean",
    top: int = DEFAULT_TOP,
    kernel_width: float = KERNEL_WIDTH,
    progress: str | None = "LIME",
) -> Explanation:
    """Explain which superpixels of the image at ``path`` hold its embedding (see the module docstring).

    ``model`` is a :class:`~aidetect.models.model_dir.LoadedModel` (its
    encoder already on its device, in eval mode). Raises
    :class:`~aidetect.errors.ImageReadError` for an unreadable file.
    """
    if samples < 2:
        raise AidetectError(f"--samples {samples} is too few; LIME needs at least 2 (hundreds for a stable fit)")
    if segments < 1:
        raise AidetectError(f"--segments {segments} must be at least 1")
    if batch_size < 1:
        raise AidetectError(f"--batch-size {batch_size} must be at least 1")
    method = resolve_segmenter(segmenter)
    started = time.perf_counter()
    preprocess = model.config.preprocess
    encoder = model.encoder
    first = next(iter(encoder.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")

    image = np.asarray(load_image(path), dtype=np.uint8)
    height, width = image.shape[:2]
    geometry = input_geometry(height, width, preprocess)
    base = to_input(Image.fromarray(image), preprocess)  # what the encoder gets for the image itself
    if geometry is not None:
        gathered = image[geometry.rows, geometry.cols]  # [..., S, S, 3]
        if not np.array_equal(np.moveaxis(gathered, -1, -3).astype(np.float32) / 255.0, base):
            geometry = None  # the preprocessing does more than copy pixels: take the general path
    seen = geometry.seen(height, width) if geometry is not None else np.ones((height, width), dtype=bool)
    rows_seen, cols_seen = np.nonzero(seen)
    top_, left, bottom, right = int(rows_seen.min()), int(cols_seen.min()), int(rows_seen.max()) + 1, int(cols_seen.max()) + 1
    region = np.ascontiguousarray(image[top_:bottom, left:right])
    region_segments, used = segment_image(region, segments, method, seed, mask=seen[top_:bottom, left:right])
    n = int(region_segments.max()) + 1
    full_segments = np.full((height, width), -1, dtype=np.int32)
    full_segments[top_:bottom, left:right] = region_segments
    colour = _fill_colour(image[seen], fill)
    notes = [f"segments made by {used}"]
    if n < segments and method != "quickshift":
        notes.append(f"{n} segments made (asked for {segments})")

    rng = np.random.default_rng(seed)
    masks = rng.integers(0, 2, size=(samples, n)).astype(bool)
    masks[0] = True  # the original image, as in LIME

    if geometry is not None:
        # Crop-mode preprocessing only copies pixels, so a masked view's input is the image's input
        # with the hidden segments' pixels set to the fill colour: exactly to_input(masked image).
        input_segments = full_segments[geometry.rows, geometry.cols][..., None, :, :]  # [..., 1, S, S]
        fill_value = (colour.astype(np.float32) / 255.0)[:, None, None]

        def view_input(keep_segments: np.ndarray) -> np.ndarray:
            return np.where(np.append(keep_segments, True)[input_segments], base, fill_value)
    else:

        def view_input(keep_segments: np.ndarray) -> np.ndarray:
            keep = np.append(keep_segments, True)[full_segments]
            return to_input(Image.fromarray(np.where(keep[..., None], image, colour)), preprocess)

    def encode(arrays: list[np.ndarray]) -> np.ndarray:
        batch = torch.from_numpy(np.stack(arrays)).to(device)
        with autocast(device):
            return encoder(batch).float().cpu().numpy()

    with torch.inference_mode():
        original = encode([base])[0]
        similarities = np.empty(samples, dtype=np.float32)
        with progress_bar(progress, total=samples, unit="views") as advance:
            for start in range(0, samples, batch_size):
                chunk = masks[start : start + batch_size]
                embeddings = encode([view_input(keep_segments) for keep_segments in chunk])
                similarities[start : start + len(chunk)] = embeddings @ original
                advance(len(chunk))

    weights, intercept, score = fit_local_model(masks, similarities, kernel_width)
    order = sorted(range(n), key=lambda j: (-weights[j], j))
    top_segments = [j for j in order if weights[j] > 0][: max(0, top)]
    return Explanation(
        path=str(path),
        image=image,
        segments=full_segments,
        weights=weights,
        intercept=intercept,
        score=score,
        top_segments=top_segments,
        window=(top_, left, bottom, right),
        masks=masks,
        similarities=similarities,
        samples=samples,
        seed=seed,
        segmenter=used.split(" ")[0],
        fill=fill,
        preprocess_mode=preprocess.mode,
        model_fingerprint=model.config.fingerprint,
        seconds=time.perf_counter() - started,
        kernel_width=kernel_width,
        notes=notes,
    )


# --------------------------------------------------------------------------- figure


def _boundaries(segments: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels whose right or lower neighbour lies in another segment."""
    edge = np.zeros(segments.shape, dtype=bool)
    edge[:, :-1] |= segments[:, :-1] != segments[:, 1:]
    edge[:-1, :] |= segments[:-1, :] != segments[1:, :]
    return edge


def _for_display(explanation: Explanation) -> tuple[np.ndarray, np.ndarray, float]:
    """The image and segment map at display size (at most _DISPLAY_MAX a side; small images enlarged
    by a whole factor to about _DISPLAY_MIN, pixels kept sharp); and the scale used."""
    image, segments = explanation.image, explanation.segments
    h, w = segments.shape
    longest = max(h, w)
    if longest > _DISPLAY_MAX:
        scale = _DISPLAY_MAX / longest
        resample = Image.Resampling.LANCZOS
    elif longest < _DISPLAY_MIN:
        scale = float(-(-_DISPLAY_MIN // longest))
        resample = Image.Resampling.NEAREST
    else:
        return image, segments, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = np.asarray(Image.fromarray(image).resize(size, resample))
    segments = np.asarray(Image.fromarray(segments).resize(size, Image.Resampling.NEAREST))
    return image, segments, scale


def explanation_figure(explanation: Explanation):
    """A matplotlib figure: superpixels, the top segments over the image, and the heat map of weights."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    image, segments, scale = _for_display(explanation)
    h, w = segments.shape
    outside = segments < 0
    edges = _boundaries(segments) & ~outside
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.9), gridspec_kw={"width_ratios": [1, 1, 1.12]})

    base = image.astype(np.float32) / 255.0
    panel = base.copy()
    panel[edges] = (1.0, 0.85, 0.0)
    panel[outside] *= 0.35
    axes[0].imshow(panel, interpolation="nearest")
    axes[0].set_title(f"image and {explanation.n_segments} superpixels ({explanation.segmenter})", fontsize=10)

    top = explanation.top_segments
    chosen = np.isin(segments, top)
    grey = base.mean(axis=2, keepdims=True)
    highlight = np.where(chosen[..., None], base, 0.25 * grey + 0.15)
    top_edges = _boundaries(np.where(chosen, segments, -1))
    highlight[top_edges] = (1.0, 0.85, 0.0)
    axes[1].imshow(highlight, interpolation="nearest")
    for rank, j in enumerate(top, start=1):
        rows, cols = np.nonzero(segments == j)
        if len(rows):
            axes[1].text(
                cols.mean(), rows.mean(), str(rank), ha="center", va="center", fontsize=11, fontweight="bold", color="black",
                bbox=dict(boxstyle="circle,pad=0.2", facecolor=(1.0, 0.85, 0.0), edgecolor="black", linewidth=0.8),
            )
    axes[1].set_title(f"top {len(top)} segments (largest positive weight)" if top else "no segment has a positive weight", fontsize=10)

    values = np.append(explanation.weights, np.nan)[segments]
    limit = float(np.nanmax(np.abs(explanation.weights))) if explanation.n_segments else 0.0
    limit = limit if limit > 0 else 1e-6
    axes[2].imshow(grey[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    heat = axes[2].imshow(np.ma.masked_invalid(values), cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.65, interpolation="nearest")
    axes[2].set_title("LIME weight per segment (red: keeps the embedding)", fontsize=10)
    bar = fig.colorbar(heat, ax=axes[2], fraction=0.046, pad=0.03)
    bar.set_label("Δ cosine similarity when the segment is kept", fontsize=8)
    bar.ax.tick_params(labelsize=7)

    top_, left, bottom, right = explanation.window
    full_h, full_w = explanation.segments.shape
    if (top_, left, bottom, right) != (0, 0, full_h, full_w):
        for ax in axes:
            ax.add_patch(Rectangle((left * scale - 0.5, top_ * scale - 0.5), (right - left) * scale, (bottom - top_) * scale, fill=False, edgecolor="white", linestyle="--", linewidth=1))
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    name = Path(explanation.path).name
    fig.suptitle(
        f"{name} — {explanation.samples} samples, weighted R² {explanation.score:.2f}, "
        f"view similarity min {explanation.similarities.min():.3f} / mean {explanation.similarities.mean():.3f}, "
        f"fill {explanation.fill}, seed {explanation.seed}, model {explanation.model_fingerprint}",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def save_explanation_png(explanation: Explanation, out: str | Path, *, dpi: int = 100) -> Path:
    """Write the figure of :func:`explanation_figure` as a PNG (atomically); returns the path."""
    import matplotlib.pyplot as plt


    out = Path(out)
    fig = explanation_figure(explanation)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return out


def make_explainer(model, out_dir: str | Path, **options) -> Callable[[str], Path]:
    """``explain(path) -> PNG path`` for :func:`aidetect.report_html.write_html_report`.

    Each image's figure is written to ``out_dir/lime-<n>-<name>.png``; ``options``
    go to :func:`explain_image` (e.g. ``samples=200``).
    """
    out_dir = Path(out_dir)
    counter = iter(range(1, 1 << 30))
    options.setdefault("progress", "LIME")

    def explain(path: str) -> Path:
        explanation = explain_image(model, path, **options)
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(path).stem)[:60]
        return save_explanation_png(explanation, out_dir / f"lime-{next(counter):04d}-{stem}.png")

    return explain
