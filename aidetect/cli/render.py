"""Rendering result records: rich tables on stdout, CSV files.

Every user-supplied string (paths, class names, metadata) goes through
``aidetect.console.markup_safe`` before rich sees it: markup escaped (a class named ``[/x]`` is
text), control characters and undecodable file-name bytes shown as escapes (a newline never
splits a row). The CSV is always valid UTF-8 (aidetect.console.for_output). Labels are never truncated: long paths are shortened first (to what follows their common
folder), then folded.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from rich.table import Table

from aidetect.console import escape_surrogates, out
from aidetect.console import markup_safe as escape
from aidetect.fileio import atomic_write_bytes, write_error

_VERDICT_STYLE = {"ai": "red", "real": "green", "inconclusive": "yellow"}


def _neighbours_text(record: dict) -> str:
    """The neighbours grouped by class, nearest first: ``label ×count nearest cosine (distance in spreads)``."""
    groups: dict[str, list[dict]] = {}
    for n in record.get("neighbors", []):
        groups.setdefault(n["label"], []).append(n)
    parts = []
    for label, members in groups.items():
        best = members[0]
        units = best.get("distance_in_class_spreads")
        parts.append(f"{escape(label)} ×{len(members)} nearest {best['similarity']:.4f}" + (f" ({units:.1f}σ)" if units is not None else ""))
    return "; ".join(parts)


def _metadata_text(record: dict) -> str:
    provenance = record.get("provenance")
    if not provenance or (not provenance.get("findings") and not record.get("metadata_conflict")):
        return ""
    text = escape(provenance.get("summary", ""))
    if record.get("metadata_conflict"):
        # The summary above says what the metadata says; the full sentence is in --json.
        text += f"\n[bold yellow]disagrees with the model's verdict ({escape(record.get('verdict', ''))})[/bold yellow]"
    return text


def _short_paths(records: list[dict]) -> dict[str, str]:
    paths = [r["path"] for r in records]
    try:
        common = os.path.commonpath([os.path.dirname(p) or "." for p in paths]) if len(paths) > 1 else os.path.dirname(paths[0]) if paths else ""
    except ValueError:  # absolute and relative paths mixed
        common = ""
    if not common or common == os.sep:
        return {p: p for p in paths}
    return {p: os.path.relpath(p, common) for p in paths}


def _score_text(record: dict) -> str:
    if record.get("p_ai") is not None:
        return f"{record['p_ai']:.3f}"
    share = record.get("ai_vote_share")
    return "-" if share is None else f"{share:.3f}*"


def _analysed_text(record: dict) -> str:
    a = record.get("analysed") or {}
    text = f"{a.get('area_fraction', 0) * 100:.0f}% in {a.get('tiles', 0)} tile" + ("s" if a.get("tiles", 0) != 1 else "")
    if "tiles_ai" in a:
        text += f"; {a['tiles_ai']} look AI"
    return text


def _conditions_text(record: dict) -> str:
    c = record.get("conditions") or {}
    parts = [c.get("container") or "?"]
    if c.get("jpeg_quality") is not None:
        parts.append(f"q{'' if c.get('jpeg_quality_exact') else '~'}{c['jpeg_quality']}")
    if c.get("width"):
        parts.append(f"{c['width']}×{c['height']}")
    text = " ".join(parts)
    if c.get("notes"):
        text += "\n[yellow]" + escape("; ".join(c["notes"])) + "[/yellow]"
    return text


def _verdict_text(record: dict) -> str:
    """The verdict, the number behind it, and why when inconclusive."""
    style = _VERDICT_STYLE.get(record["verdict"], "white")
    text = f"[{style}]{record['verdict']}[/{style}]\n{_score_text(record)}"
    if record.get("reason"):
        text += f"\n[dim]{escape(record['reason'])}[/dim]"
    return text


def _vote_text(record: dict) -> str:
    if record.get("tie"):
        return f"tie {record['vote_share']:.2f}"
    return f"{record['vote_share']:.2f} (+{record['margin']:.3f})"


def _evidence_text(record: dict) -> str:
    lines = [f"{_analysed_text(record)} · {_conditions_text(record)}"]
    neighbours = _neighbours_text(record)
    if neighbours:
        lines.append(f"neighbours: {neighbours}")
    gap = record.get("similarity_gap")
    if gap and record.get("p_ai_from") == "ai_similarity_gap":
        # the sides the verdict's number comes from: the neighbours above may hold no real image
        lines.append(f"gap: AI {gap['ai_mean']:.4f} − real {gap['real_mean']:.4f} (mean of {gap['k']} nearest each; "
                     f"nearest real {gap['nearest_real']['similarity']:.4f})")
    metadata = _metadata_text(record)
    if metadata:
        lines.append(f"metadata: {metadata}")
    return "\n".join(lines)


def render_records(records: list[dict], task: str, title: str) -> None:
    """One row per file; four columns so it reads at 80 columns: the file, the two verdicts
    (attribute leads with the class, detect with AI-or-real) and the evidence."""
    good = [r for r in records if not r.get("error")]
    calibrated = any(r.get("p_ai") is not None for r in good)
    thresholds = {r["threshold"] for r in good if r.get("threshold") is not None}
    if thresholds:
        sources = {r.get("p_ai_from") for r in good if r.get("p_ai") is not None}
        on = ("P(AI)" + (" from the similarity gap" if sources == {"ai_similarity_gap"} else "")) if calibrated else "the AI vote share*"
        title = f"{title} (AI when {on} >= {min(thresholds):.3f}, the model's calibrated threshold)"
    table = Table(title=title)
    longest_label = max((len(escape(r.get("label", ""))) for r in good), default=5)
    table.add_column("file", overflow="fold", ratio=1)
    label_column = dict(overflow="fold", min_width=max(7, longest_label))
    score_name = "P(AI)" if calibrated else "AI share*"
    if task == "attribute":
        table.add_column("label · vote (margin)", **label_column)
        table.add_column(f"verdict · {score_name}", overflow="fold", min_width=12)
    else:
        table.add_column(f"verdict · {score_name}", overflow="fold", min_width=12)
        table.add_column("label · vote (margin)", **label_column)
    table.add_column("evidence", overflow="fold", ratio=2)
    short = _short_paths(records)
    for record in records:
        path = escape(short.get(record["path"], record["path"]))
        if record.get("error"):
            table.add_row(path, "[red]error[/red]", "", escape(record["error"].split(": ", 1)[-1]))
            continue
        label = f"[bold]{escape(record['label'])}[/bold]\n{_vote_text(record)}"
        if record.get("runner_up"):
            label += f"\n[dim]next: {escape(record['runner_up'])} {record['runner_up_share']:.2f}[/dim]"
        verdict = _verdict_text(record)
        if task == "attribute":
            table.add_row(path, label, verdict, _evidence_text(record))
        else:
            table.add_row(path, verdict, label, _evidence_text(record))
    scope = next((r.get("scope") for r in good if r.get("scope")), None)
    caption = []
    if good and not calibrated:
        caption.append("* this model predates calibrated probabilities: the AI vote share is not a probability")
    if scope:
        caption.append(f"scope: {escape(scope)}")
    if caption:
        table.caption = "\n".join(caption)
    out.print(table)


CSV_COLUMNS = ["path", "sha256", "verdict", "reason", "label", "p_ai", "ai_vote_share", "ai_similarity_gap", "p_ai_from", "threshold", "threshold_on",
               "vote_share", "margin", "tie", "runner_up", "runner_up_share", "tiles", "area_fraction", "container",
               "jpeg_quality", "neighbors", "metadata", "metadata_conflict", "scope", "error", "escaped"]


def _csv_safe(row: dict) -> dict:
    """Cells that encode as UTF-8: a value holding bytes that are not UTF-8 (a file name) is
    written with them as ``\\xNN`` and backslashes doubled, and named in the ``escaped`` column."""
    escaped = []
    for column in CSV_COLUMNS:
        value = row.get(column)
        if isinstance(value, str):
            row[column], changed = escape_surrogates(value)
            if changed:
                escaped.append(column)
    row["escaped"] = ";".join(escaped)
    return row


def write_csv(path: str | Path, records: list[dict], task: str) -> None:
    """The records as CSV (one column set for both tasks: they share one decision).

    An OS error (a full disk, a folder named as the file) is one line naming the file
    (:class:`~aidetect.errors.AidetectError`); the previous file, if any, is left intact."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        row = dict(record)
        row["metadata"] = (record.get("provenance") or {}).get("summary", "")
        row["neighbors"] = ";".join(f"{n['label']}:{n['similarity']:.4f}:{n['path']}" for n in record.get("neighbors", []))
        row["tiles"] = (record.get("analysed") or {}).get("tiles")
        row["area_fraction"] = (record.get("analysed") or {}).get("area_fraction")
        row["container"] = (record.get("conditions") or {}).get("container")
        row["jpeg_quality"] = (record.get("conditions") or {}).get("jpeg_quality")
        writer.writerow(_csv_safe(row))
    try:
        atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))
    except OSError as exc:
        raise write_error(path, exc, "give --csv another file") from None
