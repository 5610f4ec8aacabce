"""Rendering result records: rich tables on stdout, CSV files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from aidetect.console import out
from aidetect.fileio import atomic_write_bytes


def _neighbours_text(record: dict, shown: int = 3) -> str:
    parts = [f"{n['label']} {n['similarity']:.3f}" for n in record.get("neighbors", [])[:shown]]
    return ", ".join(parts)


def _metadata_text(record: dict) -> str:
    provenance = record.get("provenance")
    if not provenance:
        return ""
    text = escape(provenance.get("summary", ""))
    if record.get("metadata_conflict"):
        text += f"\n[bold yellow]disagrees: {escape(record['metadata_conflict'])}[/bold yellow]"
    return text


def render_records(records: list[dict], task: str, title: str) -> None:
    thresholds = {r["threshold"] for r in records if r.get("threshold") is not None}
    if task == "detect" and thresholds:
        title = f"{title} (verdict ai when P(AI) >= {min(thresholds):.3f}, the model's calibrated threshold)"
    table = Table(title=title)
    table.add_column("file", overflow="fold")
    if task == "attribute":
        for name in ("label", "confidence", "runner-up", "nearest neighbours"):
            table.add_column(name)
    else:
        for name in ("verdict", "P(AI)", "nearest neighbours"):
            table.add_column(name)
    with_metadata = any("provenance" in r for r in records)
    if with_metadata:
        table.add_column("metadata", overflow="fold")
    for record in records:
        path = escape(record["path"])
        if record.get("error"):
            table.add_row(path, "[red]error[/red]", escape(record["error"].split(": ", 1)[-1]))
            continue
        extra = [_metadata_text(record)] if with_metadata else []
        if task == "attribute":
            runner = f"{record['runner_up']} {record['runner_up_confidence']:.2f}" if record.get("runner_up") else "-"
            table.add_row(path, f"[bold]{record['label']}[/bold]", f"{record['confidence']:.2f}", runner, _neighbours_text(record), *extra)
        else:
            colour = "red" if record["verdict"] == "ai" else "green"
            table.add_row(path, f"[{colour}]{record['verdict']}[/{colour}]", f"{record['score']:.3f}", _neighbours_text(record), *extra)
    out.print(table)


CSV_COLUMNS = {
    "attribute": ["path", "sha256", "label", "confidence", "runner_up", "runner_up_confidence", "score_ai", "neighbors", "metadata", "metadata_conflict", "error"],
    "detect": ["path", "sha256", "verdict", "score", "threshold", "nearest_label", "neighbors", "metadata", "metadata_conflict", "error"],
}


def write_csv(path: str | Path, records: list[dict], task: str) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS[task], extrasaction="ignore")
    writer.writeheader()
    for record in records:
        row = dict(record)
        row["metadata"] = (record.get("provenance") or {}).get("summary", "")
        row["neighbors"] = ";".join(f"{n['label']}:{n['similarity']:.4f}:{n['path']}" for n in record.get("neighbors", []))
        writer.writerow(row)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))
