"""Writing an evaluation: metrics.json, predictions.csv, report.md and confusion-matrix PNGs; rich tables."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from aidetect.config import DETECTION_SCORE_NAMES
from aidetect.console import out
from aidetect.evaluation import thesis
from aidetect.fileio import atomic_write_bytes, atomic_write_json


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def write_outputs(out: Path, metrics: dict, predictions: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "metrics.json", metrics)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "true_class", "predicted_class", "score_ai", "confidence", "perturbation"])
    for key, rows in predictions.items():
        for path, truth, predicted, score_ai, confidence in rows:
            writer.writerow([path, truth, predicted, f"{score_ai:.6f}", f"{confidence:.6f}", key])
    atomic_write_bytes(out / "predictions.csv", buffer.getvalue().encode("utf-8"))
    for key, result in metrics["results"].items():
        confusion_png(result["attribution"]["confusion"], out / f"confusion-{_slug(key)}.png", f"{metrics['setting']} — {key}")
        if result.get("calibration"):
            reliability_png(result["calibration"], out / f"reliability-{_slug(key)}.png", f"{metrics['setting']} — {key}")
    atomic_write_bytes(out / "report.md", markdown_report(metrics).encode("utf-8"))


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)


def reliability_png(calibration: dict, path: Path, title: str) -> None:
    """Reliability diagram: observed share of AI images against mean predicted P(AI), per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = [b for b in calibration["bins"] if b["count"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.plot([b["mean_predicted"] for b in bins], [b["observed_ai"] for b in bins], marker="o", label="test images")
    for b in bins:
        ax.annotate(str(b["count"]), (b["mean_predicted"], b["observed_ai"]), fontsize=7, xytext=(3, -9), textcoords="offset points")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted P(AI)", ylabel="observed share of AI images",
           title=f"{title}\nECE {calibration['ece']:.3f}")
    ax.legend(loc="upper left", fontsize=8)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def confusion_png(confusion: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels, matrix = confusion["labels"], np.asarray(confusion["matrix"])
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix (share of each true class)\n{title}")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8, color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def markdown_report(metrics: dict) -> str:
    setting = metrics["setting"]
    genimage = metrics["layout"] == "genimage"
    lines = [
        f"# Evaluation: setting {setting}",
        "",
        f"- model `{metrics['model']}` (fingerprint `{metrics['model_fingerprint']}`)",
        f"- data `{metrics['data']}` ({metrics['layout']} layout)",
        f"- encoder trained on: {', '.join(metrics['trained_classes'])}; zero-shot: {', '.join(metrics['zero_shot_classes']) or 'none'}",
        f"- classifier {metrics['classifier']} (k = {metrics['k']}, vote {metrics['vote']}), gallery per class: "
        f"{metrics['gallery_per_class'] or 'all'}, detection threshold {metrics['detect_threshold']:.3f}"
        + (f" on P(AI) from the {DETECTION_SCORE_NAMES[metrics['detection_score']]}" if metrics.get("detection_score") else ""),
        "",
    ]
    for key, result in metrics["results"].items():
        lines += [f"## Test images: {key} ({result['n_test']} images)", ""]
        detection = result["detection"]
        if detection and detection["per_generator"]:
            gens = list(detection["per_generator"])
            lines += ["### Detection (per generator vs real; AUC with real positive, %)", ""]
            lines += ["| model | " + " | ".join(gens) + " | mean |", "|---|" + "---|" * (len(gens) + 1)]
            lines.append("| AUC (ours) | " + " | ".join(_pct(detection["per_generator"][g]["auc"]) for g in gens) + f" | {_pct(detection['mean_auc'])} |")
            lines.append("| ACC (ours) | " + " | ".join(_pct(detection["per_generator"][g]["accuracy"]) for g in gens) + f" | {_pct(detection['mean_accuracy'])} |")
            if genimage and key == "clean" and setting in thesis.DETECTION_AUC:
                ref = thesis.DETECTION_AUC[setting]
                values = [ref.get(g) for g in gens]
                mean = sum(v for v in values if v is not None) / max(1, sum(v is not None for v in values))
                lines.append("| AUC (thesis, table 4.1) | " + " | ".join("-" if v is None else f"{v:.1f}" for v in values) + f" | {mean:.1f} |")
            lines.append("")
        if result.get("calibration"):
            lines += [f"Calibration of P(AI): expected calibration error {result['calibration']['ece']:.3f} "
                      f"(10 bins; reliability diagram reliability-{_slug(key)}.png).", ""]
        attribution = result["attribution"]
        lines += ["### Attribution (macro means, %)", "", "| model | P zero-shot | R zero-shot | F1 zero-shot | P seen | R seen | F1 seen | accuracy |", "|---|---|---|---|---|---|---|---|"]

        def triple(part):
            return ["-"] * 3 if part is None else [_pct(part[m]) for m in ("precision", "recall", "f1")]

        lines.append("| ours | " + " | ".join(triple(attribution["zero_shot"]) + triple(attribution["seen"])) + f" | {_pct(attribution['accuracy'])} |")
        if genimage and key == "clean" and setting in thesis.ATTRIBUTION:
            ref = thesis.ATTRIBUTION[setting]
            cells = [("-" if ref[part] is None else f"{v:.1f}") for part in ("zero_shot", "seen") for v in (ref[part] or (0, 0, 0))]
            lines.append("| thesis (table 4.3) | " + " | ".join(cells) + " | - |")
        lines += ["", "| class | zero-shot | precision | recall | F1 | images |", "|---|---|---|---|---|---|"]
        for name, m in attribution["per_class"].items():
            lines.append(f"| {name} | {'yes' if m['zero_shot'] else 'no'} | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['f1'])} | {m['support']} |")
        labels, matrix = attribution["confusion"]["labels"], attribution["confusion"]["matrix"]
        lines += ["", "Confusion matrix (rows: true class, columns: predicted):", "", "| | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
        for name, row in zip(labels, matrix):
            lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
        lines += ["", f"![confusion matrix](confusion-{_slug(key)}.png)", ""]
    lines.append(f"Embeddings: {metrics['cache']['hits']} from the cache, {metrics['cache']['misses']} computed; {metrics['seconds']:.1f} s in all.")
    return "\n".join(lines) + "\n"


def print_summary(metrics: dict) -> None:
    """Rich tables on stdout: one row per perturbation."""
    from rich.table import Table


    table = Table(title=f"evaluation — {metrics['setting']} ({metrics['classifier']}, k={metrics['k']})")
    for column in ("test images", "mean AUC", "mean ACC", "F1 zero-shot", "F1 seen", "accuracy"):
        table.add_column(column, justify="right")
    for key, result in metrics["results"].items():
        d, a = result["detection"] or {}, result["attribution"]
        table.add_row(
            key,
            _pct(d.get("mean_auc")),
            _pct(d.get("mean_accuracy")),
            _pct(a["zero_shot"]["f1"] if a["zero_shot"] else None),
            _pct(a["seen"]["f1"] if a["seen"] else None),
            _pct(a["accuracy"]),
        )
    out.print(table)
    clean = metrics["results"].get("clean", {})
    if clean.get("attribution"):
        per_class = Table(title="per class (clean)")
        for column in ("class", "zero-shot", "precision", "recall", "F1", "images"):
            per_class.add_column(column, justify="right")
        for name, m in clean["attribution"]["per_class"].items():
            per_class.add_row(name, "yes" if m["zero_shot"] else "", _pct(m["precision"]), _pct(m["recall"]), _pct(m["f1"]), str(m["support"]))
        out.print(per_class)
