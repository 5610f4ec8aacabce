"""Generation parameters as generator front-ends write them, wherever they are stored.

The AUTOMATIC1111 infotext (``Steps: 20, Sampler: …, Seed: …``), ComfyUI's
prompt and workflow graphs, and the JSON settings of NovelAI, InvokeAI and
Fooocus. The PNG text chunks and EXIF (``UserComment``, ``ImageDescription``,
ComfyUI's ``Make``) carry the same texts; this module turns one into a short
detail line. Nothing here reads a file.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aidetect.provenance.vocabulary import AI_GENERATED, MAX_PARSE_BYTES, Collector

#: Key: value pairs of the infotext's last line; keys are short (bounded, so no backtracking blow-up).
_A1111_FIELD = re.compile(r'\s*(\w[\w \-/()+.]{0,40}?):\s*("(?:\\.|[^\\"]){0,2000}"|[^,]*)(?:,|$)')
_A1111_MARKERS = re.compile(r"(^|\n|, )Steps: \d+")
#: Keywords whose value is a node graph (ComfyUI, InvokeAI), not an infotext.
_GRAPH_KEYS = frozenset({"prompt", "workflow", "invokeai_graph", "invokeai_workflow"})


def a1111_detail(text: str) -> str | None:
    """'A1111 parameters: model X, sampler Y, 20 steps, seed Z' from an infotext, or None."""
    if not _A1111_MARKERS.search(text):
        return None
    last = text.strip().splitlines()[-1][-4096:]
    fields = {m.group(1).strip(): m.group(2).strip().strip('"') for m in _A1111_FIELD.finditer(last) if m.group(1)}
    parts = []
    for key, form in (("Model", "model {}"), ("Model hash", "hash {}"), ("Sampler", "{}"), ("Steps", "{} steps"), ("Seed", "seed {}")):
        if fields.get(key):
            parts.append(form.format(fields[key]))
    return "A1111 parameters" + (": " + ", ".join(parts) if parts else "")


def json_object(text: str) -> Any:
    """json.loads for a value that looks like JSON and is small enough; None otherwise."""
    stripped = text.strip()
    if not stripped.startswith(("{", "[")) or len(stripped) > MAX_PARSE_BYTES:
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return None


def comfy_detail(text: str, what: str) -> str:
    """'<what>, N nodes: model X' for a ComfyUI prompt graph or editor workflow."""
    graph = json_object(text)
    if not isinstance(graph, dict):
        return f"{what} (not parsed: not JSON or over {MAX_PARSE_BYTES // 1024} KiB)"
    models: list[str] = []
    nodes = graph.get("nodes") if isinstance(graph.get("nodes"), list) else list(graph.values())
    for node in nodes:
        if not isinstance(node, dict):
            continue
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        for key in ("ckpt_name", "unet_name", "model_name"):
            if isinstance(inputs.get(key), str):
                models.append(inputs[key])
        widgets = node.get("widgets_values")
        if "checkpoint" in str(node.get("type", "")).lower() and isinstance(widgets, list) and widgets and isinstance(widgets[0], str):
            models.append(widgets[0])
    models = list(dict.fromkeys(models))
    detail = f"{what}, {len(nodes)} nodes"
    if models:
        detail += ": model " + ", ".join(models[:3])
    return detail


def settings_json_detail(text: str) -> str | None:
    """'generation settings: sampler X, 28 steps, seed N' for NovelAI/InvokeAI/Fooocus-style JSON."""
    data = json_object(text)
    if not isinstance(data, dict):
        return None
    keys = {k.lower().replace(" ", "_"): v for k, v in data.items() if isinstance(k, str)}
    if not ({"steps", "sampler", "seed", "cfg_scale", "scale", "uc"} & keys.keys()):
        return None
    parts = []
    for key in ("model", "base_model", "sampler", "scheduler", "steps", "seed"):
        value = keys.get(key)
        if isinstance(value, dict):
            value = value.get("name") or value.get("model_name")
        if isinstance(value, (str, int, float)) and str(value):
            parts.append(f"{key.replace('_', ' ')} {value}")
    return "generation settings" + (": " + ", ".join(parts) if parts else "")


def generator_text(col: Collector, source: str, fld: str, text: str, what: str) -> None:
    """A value known to be written by a generator front-end: an ai-generated finding with its detail."""
    if fld.lower() in _GRAPH_KEYS:
        detail = comfy_detail(text, what) if text.lstrip().startswith("{") else f"{what}? (plain text, not a JSON graph)"
    else:
        detail = a1111_detail(text) or settings_json_detail(text) or what
    col.add(source, fld, text, AI_GENERATED, detail)
