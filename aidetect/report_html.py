"""A self-contained HTML evidence report for the records of ``detect`` / ``attribute``.

One file, no network: every image is a base64 ``data:`` URI (thumbnails at
most 256 px a side, neighbours at most 128 px), the CSS is inline, there is no
script, and every text that comes from a record or a file name is escaped. Per
image it shows the thumbnail, the verdict or label with its scores, the k
neighbours (thumbnail — or a placeholder when the gallery's source file is not
on this machine — label, similarity, path), the SHA-256, the model and gallery
fingerprints, the time, and optionally the LIME map returned by ``explain``.

No torch here: only PIL, numpy and the standard library.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from pathlib import Path
from typing import Callable, Iterable

from aidetect import __version__
from aidetect.data.images import load_image
from aidetect.fileio import atomic_write_bytes

REPORT_FILE = "report.html"
THUMB_SIZE = 256
NEIGHBOUR_THUMB_SIZE = 128

# Fields shown in this order; any other scalar field of a record is shown after them.
# Both tasks print one decision (aidetect.gallery.classifier.decide); they differ in what leads.
_DECISION_FIELDS = (
    "p_ai", "ai_vote_share", "ai_similarity_gap", "p_ai_from", "threshold", "threshold_on", "reason", "vote_share", "margin", "tie",
    "runner_up", "runner_up_share", "nearest_label", "nearest_in_class_similarity", "unknown_threshold",
)
_DETECT_FIELDS = ("verdict", "label") + _DECISION_FIELDS
_ATTRIBUTE_FIELDS = ("label", "verdict") + _DECISION_FIELDS
_COMMON_FIELDS = ("k", "vote")
_NOT_SCORES = {"path", "sha256", "model_fingerprint", "gallery_fingerprint", "neighbors", "error"}
_FIELD_NAMES = {
    "verdict": "verdict",
    "p_ai": "P(AI-generated), calibrated",
    "ai_vote_share": "AI vote share (not a probability)",
    "ai_similarity_gap": "mean similarity to the k nearest AI-generated minus to the k nearest real",
    "p_ai_from": "P(AI) computed from",
    "threshold": "threshold",
    "threshold_on": "threshold applies to",
    "reason": "why inconclusive",
    "vote_share": "vote share of the label",
    "margin": "margin to the runner-up",
    "tie": "tie",
    "runner_up_share": "runner-up vote share",
    "nearest_label": "nearest class",
    "label": "label",
    "nearest_in_class_similarity": "similarity to nearest in class (class-mean rule: to its mean)",
    "unknown_threshold": "unknown threshold",
    "runner_up": "runner-up",
    "k": "k",
    "vote": "vote",
}

_CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d8dee4; --bg:#f6f8fa; --card:#ffffff;
        --ai:#b42318; --ai-bg:#fde8e6; --real:#1a7f37; --real-bg:#e3f6e8; --unk:#6e4a00; --unk-bg:#fff3cd;
        --lab:#0b5cad; --lab-bg:#e3efff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif; }
main { max-width:1120px; margin:0 auto; padding:24px 20px 48px; }
h1 { font-size:24px; margin:0 0 4px; }
h2 { font-size:17px; margin:0 0 6px; word-break:break-all; }
h3 { font-size:14px; margin:14px 0 8px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.sub { color:var(--muted); margin:0 0 16px; }
.meta { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; background:var(--card);
        border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin-bottom:16px; }
.meta dt { color:var(--muted); }
.meta dd { margin:0; }
code, .mono { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size:13px; }
.hash { word-break:break-all; }
table.summary { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line);
                border-radius:8px; overflow:hidden; margin-bottom:24px; }
table.summary th, table.summary td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
table.summary th { background:#eef1f4; font-size:13px; color:var(--muted); }
table.summary td.file { word-break:break-all; }
a { color:var(--lab); text-decoration:none; }
a:hover { text-decoration:underline; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:16px; margin:0 0 20px;
        break-inside:avoid; }
.top { display:grid; grid-template-columns:minmax(140px, 260px) 1fr; gap:18px; align-items:start; }
.thumb { display:block; max-width:100%; height:auto; border-radius:6px; border:1px solid var(--line);
         image-rendering:auto; background:#fff; }
.thumb.small { image-rendering:pixelated; }
.badge { display:inline-block; padding:2px 10px; border-radius:999px; font-weight:600; font-size:14px; margin:2px 6px 8px 0; }
.badge.ai { color:var(--ai); background:var(--ai-bg); }
.badge.real { color:var(--real); background:var(--real-bg); }
.badge.unknown, .badge.error { color:var(--unk); background:var(--unk-bg); }
.badge.label { color:var(--lab); background:var(--lab-bg); }
table.scores { border-collapse:collapse; margin:4px 0 8px; }
table.scores th { text-align:left; font-weight:normal; color:var(--muted); padding:2px 14px 2px 0; }
table.scores td { padding:2px 0; font-variant-numeric:tabular-nums; }
.facts dl { display:grid; grid-template-columns:max-content 1fr; gap:2px 12px; margin:6px 0 0; font-size:13px; }
.facts dt { color:var(--muted); }
.facts dd { margin:0; }
.warn { color:var(--ai); font-weight:600; }
.error-text { color:var(--ai); background:var(--ai-bg); padding:8px 10px; border-radius:6px; word-break:break-word; }
.neighbours { display:grid; grid-template-columns:repeat(auto-fill, minmax(136px, 1fr)); gap:12px; }
.nb { margin:0; font-size:12px; }
.nb .thumb, .nb .missing { width:128px; height:128px; object-fit:contain; }
.nb figcaption { margin-top:4px; }
.nb .lab { font-weight:600; }
.nb .file { display:block; word-break:break-all; }
.nb .path { color:var(--muted); word-break:break-all; display:block; max-height:4.4em; overflow:hidden; font-size:11px; }
.bar { height:6px; background:#eef1f4; border-radius:3px; margin:3px 0; width:128px; }
.bar span { display:block; height:100%; background:var(--lab); border-radius:3px; }
.missing { display:flex; align-items:center; justify-content:center; text-align:center; padding:8px;
           border:1px dashed #aab4be; border-radius:6px; color:var(--muted); font-size:11px;
           background:repeating-linear-gradient(45deg, #f6f8fa, #f6f8fa 8px, #eef1f4 8px, #eef1f4 16px); }
.query .missing { width:256px; height:256px; max-width:100%; }
.lime img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:6px; }
footer { color:var(--muted); font-size:12px; margin-top:24px; }
@media print { body { background:#fff; } .card { border-color:#bbb; } }
"""


def _text(value: object) -> str:
    """Escaped text; undecodable bytes of file names (surrogate escapes) become \\xNN."""
    text = str(value)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return html.escape(text, quote=True)


def _number(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def image_data_uri(path: str | os.PathLike, max_side: int = THUMB_SIZE) -> tuple[str, bool] | None:
    """(``data:`` URI of a thumbnail at most ``max_side`` px, whether it was enlarged-small) or None if unreadable."""
    from PIL import Image


    try:
        image = load_image(path)
    except Exception:  # noqa: BLE001 - any unreadable file becomes a placeholder
        return None
    small = max(image.size) < 96
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if image.size[0] * image.size[1] <= 128 * 128:
        image.save(buffer, format="PNG", optimize=True)
        mime = "image/png"
    else:
        image.save(buffer, format="JPEG", quality=85, optimize=True)
        mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}", small


def _png_data_uri(path: Path) -> str:
    data = Path(path).read_bytes()
    mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg" if data[:3] == b"\xff\xd8\xff" else None
    if mime is None:
        from PIL import Image

        buffer = io.BytesIO()
        with Image.open(io.BytesIO(data)) as image:
            image.convert("RGB").save(buffer, format="PNG")
        data, mime = buffer.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class _Thumbs:
    """Thumbnails by (path, size), so a neighbour shared by many records is read once. A gallery
    row's stored thumbnail is used first, so the evidence shows on any machine; else the file."""

    def __init__(self, gallery=None) -> None:
        self.cache: dict[tuple[str, int], tuple[str, bool] | None] = {}
        self.gallery = gallery

    def get(self, path: str | None, size: int, row: int | None = None):
        if self.gallery is not None and row is not None and 0 <= row < len(self.gallery):
            stored = self.gallery.thumbnail(row)
            if stored is not None:
                return "data:image/png;base64," + base64.b64encode(stored).decode("ascii"), True
        if not path:
            return None
        key = (path, size)
        if key not in self.cache:
            self.cache[key] = image_data_uri(path, size)
        return self.cache[key]


def _img(thumb, alt: str, size: int) -> str:
    if thumb is None:
        return f'<div class="missing" role="img" aria-label="{alt}">image not available on this machine</div>'
    uri, small = thumb
    if small:  # tiny images are shown enlarged, pixels kept sharp
        return f'<img class="thumb small" src="{uri}" alt="{alt}" width="{size}" height="{size}">'
    return f'<img class="thumb" src="{uri}" alt="{alt}">'


def _badge(record: dict, task: str) -> str:
    if record.get("error"):
        return '<span class="badge error">not processed</span>'
    if task == "detect":
        verdict = str(record.get("verdict", ""))
        cls = "ai" if verdict == "ai" else "real" if verdict == "real" else "unknown"
        words = {"ai": "AI-generated", "real": "real", "inconclusive": "inconclusive"}.get(verdict, verdict)
        return f'<span class="badge {cls}">{_text(words)}</span>'
    label = str(record.get("label", ""))
    cls = "unknown" if label == "unknown" else "real" if label == "real" else "label"
    return f'<span class="badge {cls}">{_text(label)}</span>'


def _headline(record: dict, task: str) -> tuple[str, str]:
    """(verdict or label, main score) for the summary table."""
    if record.get("error"):
        return "not processed", "–"
    score = record.get("p_ai") if record.get("p_ai") is not None else record.get("ai_vote_share")
    if task == "detect":
        return str(record.get("verdict", "")), _number(score)
    return str(record.get("label", "")), _number(record.get("vote_share"))


def _scores_table(record: dict, task: str) -> str:
    order = list(_DETECT_FIELDS if task == "detect" else _ATTRIBUTE_FIELDS) + list(_COMMON_FIELDS)
    extra = [k for k, v in record.items() if k not in order and k not in _NOT_SCORES and (v is None or isinstance(v, (str, int, float, bool)))]
    rows = []
    for key in order + extra:
        if key not in record:
            continue
        rows.append(f"<tr><th>{_text(_FIELD_NAMES.get(key, key.replace('_', ' ')))}</th><td>{_text(_number(record[key]))}</td></tr>")
    analysed = record.get("analysed") or {}
    if analysed:
        text = f"{analysed.get('area_fraction', 0) * 100:.1f} % of the image in {analysed.get('tiles')} tile(s); {analysed.get('rule', '')}"
        if "tiles_ai" in analysed:
            text += f"; {analysed['tiles_ai']} tile(s) look AI-generated on their own"
        rows.append(f"<tr><th>analysed</th><td>{_text(text)}</td></tr>")
    conditions = record.get("conditions") or {}
    if conditions.get("container"):
        text = f"{conditions['container']} {conditions.get('width')}×{conditions.get('height')}"
        if conditions.get("jpeg_quality") is not None:
            text += f", JPEG quality {'' if conditions.get('jpeg_quality_exact') else '≈'}{conditions['jpeg_quality']}"
        for note in conditions.get("notes") or []:
            text += f"; {note}"
        rows.append(f"<tr><th>input conditions</th><td>{_text(text)}</td></tr>")
    return '<table class="scores">' + "".join(rows) + "</table>" if rows else ""


def _figure(neighbour: dict, title: str, thumbs: _Thumbs, alt: str | None = None, css: str = "nb") -> str:
    """One gallery image as evidence: its thumbnail, ``title``, cosine, spread bar and path."""
    path = neighbour.get("path") or ""
    similarity = neighbour.get("similarity")
    units = neighbour.get("distance_in_class_spreads")
    # The bar shows closeness in units of the class's own spread (full at 0, empty at 3 or more):
    # raw cosines all sit near 1 and would fill every bar.
    try:
        width = max(0.0, 1.0 - float(units) / 3.0) * 100 if units is not None else 0.0
    except (TypeError, ValueError):
        width = 0.0
    thumb = thumbs.get(path, NEIGHBOUR_THUMB_SIZE, neighbour.get("row"))
    return (
        f'<figure class="{css}">'
        + _img(thumb, _text(alt or title), NEIGHBOUR_THUMB_SIZE)
        + f'<figcaption><span class="lab">{_text(title)}</span> · cosine {_text(_number(similarity))}'
        + (f" · {_text(_number(units))} spreads from its class" if units is not None else "")
        + (f'<div class="bar"><span style="width:{width:.1f}%"></span></div>' if units is not None else "")
        + f'<span class="file mono" title="{_text(path)}">{_text(_name_of(path))}</span>'
        + f'<span class="path mono" title="{_text(path)}">{_text(_folder_of(path))}</span></figcaption></figure>'
    )


def _neighbours(record: dict, thumbs: _Thumbs) -> str:
    items = [_figure(n, f"{rank}. {n.get('label', '')}", thumbs, alt=f"neighbour {rank}: {n.get('label', '')}")
             for rank, n in enumerate(record.get("neighbors") or [], start=1)]
    if not items:
        return ""
    return f"<h3>{len(items)} nearest gallery images</h3><div class=\"neighbours\">" + "".join(items) + "</div>"


def _gap_sides(record: dict, thumbs: _Thumbs) -> str:
    """For a verdict resting on the similarity gap: the nearest AI-generated and the nearest real
    gallery image and each side's mean, the two numbers the gap is the difference of."""
    gap = record.get("similarity_gap")
    if not gap or record.get("p_ai_from") != "ai_similarity_gap":
        return ""
    items = [_figure(gap["nearest_ai"], f"nearest AI-generated: {gap['nearest_ai'].get('label', '')}", thumbs, css="nb side"),
             _figure(gap["nearest_real"], "nearest real", thumbs, css="nb side")]
    text = (f"P(AI) rests on the similarity gap: mean cosine to the {gap['k']} nearest AI-generated gallery images "
            f"{_number(gap['ai_mean'])} minus that to the {gap['k']} nearest real ones {_number(gap['real_mean'])}.")
    return f"<h3>What the gap compares</h3><p>{_text(text)}</p><div class=\"neighbours\">" + "".join(items) + "</div>"


def _name_of(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or path


def _folder_of(path: str) -> str:
    parts = path.replace("\\", "/").rstrip("/").rsplit("/", 1)
    return parts[0] + "/" if len(parts) == 2 else ""


def _lime(path: str, explain: Callable[[str], Path]) -> str:
    try:
        png = explain(path)
        uri = _png_data_uri(Path(png))
    except Exception as exc:  # noqa: BLE001 - one failed explanation must not lose the report
        reason = " ".join(str(exc).split()) or exc.__class__.__name__
        return f'<h3>LIME map</h3><p class="error-text">explanation failed: {_text(reason)}</p>'
    return f'<h3>LIME map</h3><div class="lime"><img src="{uri}" alt="LIME explanation of {_text(Path(path).name)}"></div>'


def _card(index: int, record: dict, task: str, thumbs: _Thumbs, model_fp: str, gallery_fp: str, when: str, explain) -> str:
    path = str(record.get("path", ""))
    name = Path(path).name or path
    thumb = thumbs.get(path, THUMB_SIZE)
    facts = [f"<h2>{_text(name)}</h2>", _badge(record, task)]
    if record.get("error"):
        facts.append(f'<p class="error-text">{_text(record["error"])}</p>')
    else:
        facts.append(_scores_table(record, task))
    record_model = record.get("model_fingerprint") or model_fp
    record_gallery = record.get("gallery_fingerprint") or gallery_fp
    model_note = "" if record_model == model_fp else ' <span class="warn">(differs from the report’s model)</span>'
    gallery_note = "" if record_gallery == gallery_fp else ' <span class="warn">(differs from the report’s gallery)</span>'
    facts.append(
        "<dl>"
        f'<dt>path</dt><dd class="mono hash">{_text(path)}</dd>'
        f'<dt>SHA-256</dt><dd class="mono hash">{_text(record.get("sha256") or "– (file not read)")}</dd>'
        f'<dt>model</dt><dd class="mono">{_text(record_model)}{model_note}</dd>'
        f'<dt>gallery</dt><dd class="mono">{_text(record_gallery)}{gallery_note}</dd>'
        f"<dt>reported</dt><dd>{_text(when)}</dd>"
        "</dl>"
    )
    body = [
        f'<section class="card" id="r{index}">',
        '<div class="top">',
        f'<div class="query">{_img(thumb, _text(name), THUMB_SIZE)}</div>',
        f'<div class="facts">{"".join(facts)}</div>',
        "</div>",
    ]
    if not record.get("error"):
        body.append(_neighbours(record, thumbs))
        body.append(_gap_sides(record, thumbs))
        if explain is not None:
            body.append(_lime(path, explain))
    body.append("</section>")
    return "\n".join(body)


def render_html_report(
    records: Iterable[dict],
    *,
    task: str,
    model_fingerprint: str,
    gallery_fingerprint: str,
    explain: Callable[[str], Path] | None = None,
    generated: _dt.datetime | None = None,
    gallery=None,
) -> str:
    """The report as one HTML string (see :func:`write_html_report`); ``gallery``: where the
    neighbours' stored thumbnails come from."""
    records = list(records)
    if task not in ("detect", "attribute"):
        raise ValueError(f"task must be 'detect' or 'attribute', not {task!r}")
    when = (generated or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    thumbs = _Thumbs(gallery)
    failed = sum(1 for r in records if r.get("error"))
    counts: dict[str, int] = {}
    for record in records:
        headline = _headline(record, task)[0]
        counts[headline] = counts.get(headline, 0) + 1
    tally = ", ".join(f"{_text(name)}: {n}" for name, n in sorted(counts.items())) or "–"
    rows = []
    for i, record in enumerate(records, start=1):
        headline, score = _headline(record, task)
        rows.append(
            f'<tr><td><a href="#r{i}">{i}</a></td><td class="file mono">{_text(record.get("path", ""))}</td>'
            f"<td>{_text(headline)}</td><td>{_text(score)}</td></tr>"
        )
    calibrated = any(r.get("p_ai") is not None for r in records)
    score_name = ("P(AI)" if calibrated else "AI vote share") if task == "detect" else "vote share"
    column = "verdict" if task == "detect" else "label"
    cards = [_card(i, r, task, thumbs, model_fingerprint, gallery_fingerprint, when, explain) for i, r in enumerate(records, start=1)]
    title = f"aidetect {task} report"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_text(title)}</title>",
            f"<style>{_CSS}</style></head><body><main>",
            f"<h1>{_text(title)}</h1>",
            f'<p class="sub">{len(records)} image{"s" if len(records) != 1 else ""} · {tally}'
            + (f" · {failed} could not be processed" if failed else "")
            + "</p>",
            '<dl class="meta">',
            f"<dt>generated</dt><dd>{_text(when)}</dd>",
            f'<dt>model fingerprint</dt><dd class="mono">{_text(model_fingerprint)}</dd>',
            f'<dt>gallery fingerprint</dt><dd class="mono">{_text(gallery_fingerprint)}</dd>',
            f"<dt>task</dt><dd>{_text(task)}</dd>",
            f"<dt>software</dt><dd>aidetect {_text(__version__)}</dd>",
            "</dl>",
            f'<table class="summary"><thead><tr><th>#</th><th>file</th><th>{column}</th><th>{score_name}</th></tr></thead><tbody>',
            *rows,
            "</tbody></table>",
            *cards,
            "<footer>Thumbnails are at most 256 px; neighbours are the gallery images nearest to each image by cosine "
            "similarity of their embeddings. Scores and fields are described in aidetect's docs/output-schema.md.</footer>",
            "</main></body></html>",
        ]
    )


def write_html_report(
    records: list[dict],
    out_dir: str | os.PathLike,
    *,
    task: str,
    model_fingerprint: str,
    gallery_fingerprint: str,
    explain: Callable[[str], Path] | None = None,
    gallery=None,
) -> Path:
    """Write ``out_dir/report.html`` (atomically) for the JSON records of ``detect`` or ``attribute``.

    ``explain(path)``, when given, is called once per processed image and
    returns a PNG (e.g. :func:`aidetect.explain.make_explainer`) that is
    embedded as the image's LIME map; a failure is shown in place of the map.
    Returns the path of the report.
    """
    document = render_html_report(
        records, task=task, model_fingerprint=model_fingerprint, gallery_fingerprint=gallery_fingerprint, explain=explain,
        gallery=gallery,
    )
    out = Path(out_dir) / REPORT_FILE
    atomic_write_bytes(out, document.encode("utf-8"))
    return out
