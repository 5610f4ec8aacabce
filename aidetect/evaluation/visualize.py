"""A 2-D map of the embedding space: UMAP (cosine metric) of a seeded subsample per class.

Which generators sit near which is read off in two ways:

* on the map: one colour per class, zero-shot classes (not among the classes
  the encoder was trained on, per the model's config.json) drawn as triangles,
  each class's centroid marked and labelled, and a dashed ellipse of one
  standard deviation of its 2-D points;
* exactly, in the **original** embedding space (UMAP distorts distances between
  clusters): each class's centroid (the normalised mean of its unit
  embeddings), its spread (mean cosine distance of its points to that centroid)
  and the nearest other class by centroid cosine distance.

umap-learn is an optional dependency (``pip install 'aidetect[viz]'``); the
statistics in the original space need only numpy.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from aidetect.data.sampling import rows_per_class, sample_per_class
from aidetect.errors import AidetectError
from aidetect.evaluation.evaluate import EvalOptions, prepare
from aidetect.fileio import atomic_write_bytes

DEFAULT_PER_CLASS = 200
VIZ_HINT = "pip install 'aidetect[viz]'"


@dataclass
class EmbeddingPoints:
    """Unit embeddings with their class labels and source paths."""

    embeddings: np.ndarray  # float32 [N, D]
    labels: list[str]
    paths: list[str]
    source: str  # e.g. "gallery /x/gallery.npz" or "test split of /data"


@dataclass
class EmbeddingMap:
    coords: np.ndarray  # float32 [N, 2]
    labels: list[str]
    paths: list[str]
    classes: list[str]  # sorted
    zero_shot: list[str]  # the classes drawn as zero-shot
    stats: dict[str, dict]  # per class, see class_statistics
    source: str
    model_fingerprint: str
    seed: int
    n_neighbors: int
    min_dist: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """One JSON document: the settings, per-class statistics, and every point's 2-D coordinates."""
        return {
            "model_fingerprint": self.model_fingerprint,
            "source": self.source,
            "method": {"name": "umap", "metric": "cosine", "n_neighbors": self.n_neighbors, "min_dist": self.min_dist, "seed": self.seed},
            "classes": {name: {"zero_shot": name in self.zero_shot, **self.stats[name]} for name in self.classes},
            "points": [
                {"path": p, "label": label, "x": round(float(x), 5), "y": round(float(y), 5)}
                for p, label, (x, y) in zip(self.paths, self.labels, self.coords)
            ],
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- points


def gallery_points(gallery, *, per_class: int | None = DEFAULT_PER_CLASS, seed: int = 0, source: str = "gallery") -> EmbeddingPoints:
    """A seeded subsample per class of a :class:`~aidetect.gallery.Gallery`."""
    labels = gallery.labels().tolist()
    rows = rows_per_class(labels, per_class, seed, "visualize")
    paths = gallery.paths
    embeddings = np.asarray(gallery.embeddings, dtype=np.float32)[rows]
    embeddings /= np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)  # stored in float16
    return EmbeddingPoints(embeddings, [labels[i] for i in rows], [paths[int(i)] for i in rows], source)


def data_points(
    data: str | Path,
    *,
    model: str | Path | None = None,
    per_class: int | None = DEFAULT_PER_CLASS,
    seed: int = 0,
    layout: str = "auto",
    batch_size: int = 64,
    workers: int = 0,
    device: str = "auto",
    cache_dir: str | None = None,
):
    """Embed a seeded subsample per class of the test split of ``data`` (through the evaluation
    embedding cache, so a second call is fast). Returns ``(EmbeddingPoints, LoadedModel)``."""

    options = EvalOptions(
        data=str(data), out="", model=str(model) if model else None, layout=layout, seed=seed,
        batch_size=batch_size, workers=workers, device=device, cache_dir=cache_dir,
    )
    ctx = prepare(options)
    samples = sample_per_class(ctx.splits.test, per_class, seed, "visualize")
    embedded, labels = ctx.embed(samples, label="test images")
    if not len(embedded.paths):
        raise AidetectError(f"no test image of {data} could be read; check the data folder")
    points = EmbeddingPoints(np.asarray(embedded.embeddings, dtype=np.float32), list(labels), list(embedded.paths), f"test split of {data}")
    return points, ctx.model


# --------------------------------------------------------------------------- statistics


def class_statistics(embeddings: np.ndarray, labels: Sequence[str]) -> dict[str, dict]:
    """Per class, in the original space: ``n``, ``spread`` (mean cosine distance to the class
    centroid), ``nearest_class`` and ``nearest_centroid_similarity`` / ``_distance`` (cosine),
    and ``centroid_similarities`` to every other class."""
    labels = np.asarray(labels)
    classes = sorted(set(labels.tolist()))
    centroids = []
    spreads = []
    for name in classes:
        rows = embeddings[labels == name].astype(np.float64)
        mean = rows.mean(axis=0)
        centroid = mean / max(np.linalg.norm(mean), 1e-12)
        centroids.append(centroid)
        spreads.append(float(np.mean(1.0 - rows @ centroid)))
    centroids = np.asarray(centroids)
    similarity = centroids @ centroids.T
    stats = {}
    for i, name in enumerate(classes):
        others = [j for j in range(len(classes)) if j != i]
        entry = {"n": int((labels == name).sum()), "spread": round(spreads[i], 6)}
        if others:
            j = max(others, key=lambda o: (similarity[i, o], -o))
            entry.update(
                nearest_class=classes[j],
                nearest_centroid_similarity=round(float(similarity[i, j]), 6),
                nearest_centroid_distance=round(float(1.0 - similarity[i, j]), 6),
            )
        else:
            entry.update(nearest_class=None, nearest_centroid_similarity=None, nearest_centroid_distance=None)
        entry["centroid_similarities"] = {classes[o]: round(float(similarity[i, o]), 6) for o in others}
        stats[name] = entry
    return stats


def _require_umap():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap
    except ImportError:
        raise AidetectError(f"the embedding map needs umap-learn, which is not installed; install it with {VIZ_HINT}") from None
    return umap


def embedding_map(
    points: EmbeddingPoints,
    *,
    trained_classes: Sequence[str] = (),
    model_fingerprint: str = "",
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
) -> EmbeddingMap:
    """UMAP (cosine) of ``points`` to 2-D, with the per-class statistics of :func:`class_statistics`.

    Classes not in ``trained_classes`` are zero-shot (none when it is empty:
    the model does not say what it was trained on).
    """
    n = len(points.labels)
    if n < 4:
        raise AidetectError(f"{points.source} gives {n} images; the map needs at least 4")
    umap = _require_umap()
    neighbours = max(2, min(n_neighbors, n - 1))
    notes = []
    if neighbours != n_neighbors:
        notes.append(f"n_neighbors lowered to {neighbours} for {n} points")
    reducer = umap.UMAP(n_components=2, metric="cosine", n_neighbors=neighbours, min_dist=min_dist, random_state=seed, init="spectral")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; spectral init fallbacks on tiny graphs
        coords = reducer.fit_transform(np.asarray(points.embeddings, dtype=np.float32)).astype(np.float32)
    labels = list(points.labels)
    classes = sorted(set(labels))
    trained = set(trained_classes)
    zero_shot = [c for c in classes if trained and c not in trained]
    stats = class_statistics(points.embeddings, labels)
    label_array = np.asarray(labels)
    for name in classes:
        xy = coords[label_array == name].astype(np.float64)
        centre = xy.mean(axis=0)
        cov = np.cov(xy.T) if len(xy) > 1 else np.zeros((2, 2))
        stats[name]["centroid_2d"] = [round(float(centre[0]), 5), round(float(centre[1]), 5)]
        stats[name]["std_2d"] = [round(float(np.sqrt(max(cov[0, 0], 0))), 5), round(float(np.sqrt(max(cov[1, 1], 0))), 5)]
        stats[name]["cov_2d"] = [[round(float(v), 6) for v in row] for row in np.atleast_2d(cov)]
    return EmbeddingMap(coords, labels, list(points.paths), classes, zero_shot, stats, points.source, model_fingerprint, seed, neighbours, min_dist, notes)


# --------------------------------------------------------------------------- figure


def class_colours(classes: Sequence[str]) -> dict[str, tuple]:
    import matplotlib

    palette = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    count = 10 if len(classes) <= 10 else 20
    return {name: palette(i % count) for i, name in enumerate(classes)}


def _ellipse(ax, centre, cov, colour):
    from matplotlib.patches import Ellipse

    values, vectors = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    values = np.clip(values, 0, None)
    angle = float(np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1])))
    width, height = 2 * np.sqrt(values[1]), 2 * np.sqrt(values[0])
    ax.add_patch(Ellipse(centre, width, height, angle=angle, fill=False, edgecolor=colour, linestyle="--", linewidth=1.4))


def map_figure(result: EmbeddingMap, title: str | None = None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patheffects as effects
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    colours = class_colours(result.classes)
    labels = np.asarray(result.labels)
    fig, ax = plt.subplots(figsize=(9.5, 7.5))
    for name in result.classes:
        xy = result.coords[labels == name]
        marker = "^" if name in result.zero_shot else "o"
        ax.scatter(xy[:, 0], xy[:, 1], s=14, marker=marker, color=colours[name], alpha=0.55, linewidths=0)
    outline = [effects.withStroke(linewidth=3, foreground="white")]
    for name in result.classes:
        stat = result.stats[name]
        centre = stat["centroid_2d"]
        _ellipse(ax, centre, stat["cov_2d"], colours[name])
        ax.scatter([centre[0]], [centre[1]], s=160, marker="X", color=colours[name], edgecolors="black", linewidths=1.2, zorder=5)
        text = name + (" (zero-shot)" if name in result.zero_shot else "")
        ax.annotate(text, centre, xytext=(8, 8), textcoords="offset points", fontsize=10, fontweight="bold", color="black", path_effects=outline, zorder=6)
    handles = [
        Line2D([], [], linestyle="", marker="^" if name in result.zero_shot else "o", markersize=8, color=colours[name],
               label=f"{name} ({result.stats[name]['n']})" + (", zero-shot" if name in result.zero_shot else ""))
        for name in result.classes
    ]
    handles += [
        Line2D([], [], linestyle="", marker="X", markersize=10, markerfacecolor="white", markeredgecolor="black", label="class centroid (2-D)"),
        Line2D([], [], linestyle="--", color="grey", label="1 std of the class's 2-D points"),
    ]
    if result.zero_shot:
        handles.append(Line2D([], [], linestyle="", marker="^", markersize=8, color="grey", label="zero-shot: a class the encoder was not trained on"))
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9, frameon=False)
    nearest = "; ".join(
        f"{name}→{s['nearest_class']} ({s['nearest_centroid_similarity']:.3f})" for name, s in result.stats.items() if s["nearest_class"]
    )
    ax.set_title(title or f"UMAP (cosine) of {len(labels)} embeddings — {result.source}", fontsize=11)
    ax.text(
        0.0, -0.06, _wrap(f"nearest class by centroid cosine similarity in the original space: {nearest}", 120),
        transform=ax.transAxes, fontsize=8, va="top",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("UMAP 1 (axes have no units; distances between clusters are only roughly kept)", fontsize=8)
    ax.set_ylabel("UMAP 2", fontsize=8)
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def save_map_png(result: EmbeddingMap, out: str | Path, *, dpi: int = 100, title: str | None = None) -> Path:
    import matplotlib.pyplot as plt


    out = Path(out)
    fig = map_figure(result, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return out
