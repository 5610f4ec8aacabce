"""``aidetect sweep``: the data-feasibility analysis of thesis 4.4 (tables 4.16/4.17, figures 4.1–4.4).

* gallery size per class in {10, 20, 50, …, 100k, all}: sizes above what the
  training split holds are skipped; each size is drawn ``draws`` times with
  different seeds, k follows the thesis rule (11, or 3 for ≤ 20 per class);
* k in {3, 11, 21, 101, 1001, 10001} with the largest gallery, where k fits.
Reported: mean and standard deviation over draws of P/R/F1 (zero-shot, seen)
and accuracy, as JSON, Markdown and a plot with a log-scaled size axis.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np

from aidetect.data.sampling import sample_per_class
from aidetect.evaluation import thesis
from aidetect.evaluation.evaluate import EvalOptions, classify, gallery_from_embeddings, prepare
from aidetect.evaluation.metrics import attribution_metrics
from aidetect.fileio import atomic_write_bytes, atomic_write_json

DEFAULT_SIZES = (10, 20, 50, 100, 500, 1000, 5000, 10000, 20000, 50000, 100000, 0)  # 0 = all
DEFAULT_KS = (3, 11, 21, 101, 1001, 10001)
METRICS = ("f1_zero_shot", "f1_seen", "precision_zero_shot", "recall_zero_shot", "precision_seen", "recall_seen", "accuracy")


def _summary(attribution: dict) -> dict:
    z, s = attribution["zero_shot"] or {}, attribution["seen"] or {}
    return {
        "f1_zero_shot": z.get("f1"), "precision_zero_shot": z.get("precision"), "recall_zero_shot": z.get("recall"),
        "f1_seen": s.get("f1"), "precision_seen": s.get("precision"), "recall_seen": s.get("recall"),
        "accuracy": attribution["accuracy"],
    }


def _aggregate(runs: list[dict]) -> dict:
    out = {}
    for metric in METRICS:
        values = [r[metric] for r in runs if r[metric] is not None]
        out[metric] = {"mean": float(np.mean(values)), "std": float(np.std(values))} if values else None
    return out


def sweep(options: EvalOptions, sizes=DEFAULT_SIZES, ks=DEFAULT_KS, draws: int = 3) -> dict:
    started = time.perf_counter()
    ctx = prepare(options)
    per_class_available = min(ctx.splits.counts()["train"].values())
    wanted = [s for s in sizes if s == 0 or s <= per_class_available]
    largest = None if 0 in wanted else max(wanted)
    pool_samples = sample_per_class(ctx.splits.train, largest, options.seed)
    pool, pool_labels = ctx.embed(pool_samples, label="gallery pool")
    test, truth = ctx.embed(ctx.splits.test, label="test images")

    by_size = {}
    for size in wanted:
        runs = []
        for draw in range(draws if size else 1):
            gallery = gallery_from_embeddings(ctx, pool, pool_labels, size or None, options.seed + draw)
            predicted, *_ = classify(ctx, gallery, test.embeddings, "knn", None, options.vote)
            runs.append(_summary(attribution_metrics(truth, predicted, ctx.zero_shot)))
        by_size[str(size or "all")] = {"draws": len(runs), **_aggregate(runs)}

    full = gallery_from_embeddings(ctx, pool, pool_labels, None, options.seed)
    # k is the thesis's neighbour count; a model that votes by class means does not read it, so its
    # k sweep runs the weighted vote (and says so) instead of printing one number for every k
    k_vote = options.vote or ctx.model.config.classifier.vote
    if k_vote == "centroid":
        k_vote = "weighted"
    by_k = {}
    for k in ks:
        if k > len(full):
            continue
        predicted, *_ = classify(ctx, full, test.embeddings, "knn", k, k_vote)
        by_k[str(k)] = _summary(attribution_metrics(truth, predicted, ctx.zero_shot))

    result = {
        "model_fingerprint": ctx.model.config.fingerprint,
        "setting": ctx.setting_name,
        "zero_shot_classes": ctx.zero_shot,
        "per_class_available": per_class_available,
        "draws": draws,
        "by_gallery_size": by_size,
        "by_k": by_k,
        "k_sweep_vote": k_vote,
        "seconds": time.perf_counter() - started,
    }
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "sweep.json", result)
    atomic_write_bytes(out / "sweep.md", _markdown(result).encode("utf-8"))
    _plot(result, out / "sweep.png")
    return result


def _cell(entry) -> str:
    if entry is None:
        return "-"
    if isinstance(entry, dict):
        return f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}"
    return f"{100 * entry:.1f}"


def _markdown(result: dict) -> str:
    lines = [
        f"# Sweep: setting {result['setting']} (zero-shot: {', '.join(result['zero_shot_classes']) or 'none'})",
        "",
        f"Gallery size per class, {result['draws']} seeded draws each (mean ± std, %); k by the thesis rule.",
        "",
        "| samples per class | P zero-shot | R zero-shot | F1 zero-shot | P seen | R seen | F1 seen | accuracy | thesis F1 zero-shot / seen (ES4.1) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, entry in result["by_gallery_size"].items():
        ref = thesis.GALLERY_SWEEP_F1.get(int(size)) if size.isdigit() else thesis.GALLERY_SWEEP_F1[162000]
        ref_text = f"{ref[0]:.1f} / {ref[1]:.1f}" if ref and result["setting"] == "es4.1" else "-"
        cells = [_cell(entry[m]) for m in ("precision_zero_shot", "recall_zero_shot", "f1_zero_shot", "precision_seen", "recall_seen", "f1_seen", "accuracy")]
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {ref_text} |")
    lines += ["", f"k with the largest gallery ({result.get('k_sweep_vote', 'the model')} vote, %):", "",
              "| k | F1 zero-shot | F1 seen | accuracy |", "|---|---|---|---|"]
    for k, entry in result["by_k"].items():
        lines.append(f"| {k} | {_cell(entry['f1_zero_shot'])} | {_cell(entry['f1_seen'])} | {_cell(entry['accuracy'])} |")
    lines += ["", "![sweep](sweep.png)", "", f"{result['seconds']:.1f} s in all."]
    return "\n".join(lines) + "\n"


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s for s in result["by_gallery_size"] if s.isdigit()]
    x = [int(s) for s in sizes]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for metric, label in (("f1_zero_shot", "F1 zero-shot"), ("f1_seen", "F1 seen"), ("accuracy", "accuracy")):
        points = [(xi, result["by_gallery_size"][s][metric]) for xi, s in zip(x, sizes) if result["by_gallery_size"][s][metric]]
        if points:
            xs = [p[0] for p in points]
            means = np.array([100 * p[1]["mean"] for p in points])
            stds = np.array([100 * p[1]["std"] for p in points])
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    # Label the sizes themselves (10, 20, 50, 1k, …) rather than powers of ten.
    ax.set_xticks(x, [f"{v // 1000}k" if v >= 1000 else str(v) for v in x])
    ax.minorticks_off()
    # A fixed 0–100 axis so small differences are not blown up.
    ax.set_ylim(0, 100)
    ax.set_xlabel("gallery images per class (log scale)")
    ax.set_ylabel("score (%)")
    ax.set_title(f"k-NN attribution vs gallery size — setting {result['setting']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
