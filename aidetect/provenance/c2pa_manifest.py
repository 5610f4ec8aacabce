"""C2PA Content Credentials, read through the optional ``c2pa-python`` package.

``pip install 'aidetect[c2pa]'``. The manifest store is read with remote
manifest fetching and OCSP off (nothing is ever fetched); the active manifest
is summarised (claim generator, signer, actions, digital source types,
ingredients) and its signature state worked out from the validation results.
Extra trust anchors come from ``$AIDETECT_C2PA_TRUST_ANCHORS``. Without the
package the first file read prints one warning and every result says
``c2pa_status: "not-installed"``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

from aidetect.labels import UNKNOWN
from aidetect.provenance.vocabulary import EDITED, Collector, classify_software, classify_source_type, one_line

#: PEM file of extra C2PA trust anchors (root certificates). Without it no signer
#: is "trusted": a valid signature then only proves the manifest is intact.
TRUST_ANCHORS_ENV = "AIDETECT_C2PA_TRUST_ANCHORS"
#: C2PA actions that change the picture (c2pa.created/opened say nothing by themselves).
C2PA_EDIT_ACTIONS = frozenset(
    {
        "c2pa.edited", "c2pa.color_adjustments", "c2pa.cropped", "c2pa.drawing", "c2pa.filtered",
        "c2pa.orientation", "c2pa.resized", "c2pa.placed", "c2pa.removed", "c2pa.redacted",
        "c2pa.deleted", "c2pa.enhanced",
    }
)

_C2PA_LOCK = threading.Lock()
_C2PA_WARNED = False
_C2PA_CONTEXT: list = []  # [(module, settings key, Context)]: one, rebuilt when either changes
_C2PA_FORMATS = {
    "PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "TIFF": "image/tiff",
    "GIF": "image/gif", "AVIF": "image/avif", "HEIF": "image/heif", "MPO": "image/jpeg",
}
C2PA_MISSING = "C2PA Content Credentials are not checked: c2pa-python is not installed (pip install 'aidetect[c2pa]')"


def _import_c2pa():
    """The c2pa module, or (None, reason)."""
    try:
        import c2pa  # noqa: PLC0415 - here, not at the top: optional, and its native library is slow to load
    except Exception as exc:  # noqa: BLE001 - ImportError, or OSError from the native library
        return None, f"{type(exc).__name__}: {exc}"
    return c2pa, ""


def c2pa_available() -> bool:
    """Whether c2pa-python can be imported (the ``c2pa`` extra)."""
    return _import_c2pa()[0] is not None


def _c2pa_missing_once(reason: str) -> None:
    global _C2PA_WARNED
    with _C2PA_LOCK:
        if _C2PA_WARNED:
            return
        _C2PA_WARNED = True
    # Here, not at the top: aidetect.console imports rich (~0.1 s), needed only for this one warning.
    from aidetect.console import warn  # noqa: PLC0415

    message = C2PA_MISSING
    if reason and not reason.startswith(("ModuleNotFoundError", "ImportError: import of c2pa halted")):
        message += f" ({reason})"
    warn(message)


def _c2pa_settings() -> tuple[dict, list[str]]:
    """Reader settings: never fetch anything over the network; optional extra trust anchors."""
    settings: dict = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    notes: list[str] = []
    anchors = os.environ.get(TRUST_ANCHORS_ENV)
    if anchors:
        try:
            pem = Path(anchors).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            notes.append(f"${TRUST_ANCHORS_ENV}={anchors} could not be read ({exc}); no extra trust anchors")
        else:
            if "-----BEGIN CERTIFICATE-----" in pem:
                settings["trust"] = {"trust_anchors": pem}
            else:
                notes.append(f"${TRUST_ANCHORS_ENV}={anchors} holds no PEM certificate; no extra trust anchors")
    return settings, notes


def _c2pa_context(module, settings: dict):
    key = json.dumps(settings, sort_keys=True)
    with _C2PA_LOCK:
        if _C2PA_CONTEXT and _C2PA_CONTEXT[0][0] is module and _C2PA_CONTEXT[0][1] == key:
            return _C2PA_CONTEXT[0][2]
        context = module.Context.from_dict(settings)
        _C2PA_CONTEXT[:] = [(module, key, context)]
        return context


def read_c2pa_store(path: Path, fmt: str | None) -> tuple[str, dict | None, str, list[str]]:
    """The boundary to c2pa-python: (status, manifest store, remote url, notes). Never raises."""
    module, reason = _import_c2pa()
    if module is None:
        _c2pa_missing_once(reason)
        return "not-installed", None, "", []
    settings, notes = _c2pa_settings()
    try:
        context = _c2pa_context(module, settings)
        with open(path, "rb") as fh:
            reader = module.Reader.try_create(_C2PA_FORMATS.get(fmt or "", None), fh, context=context)
            if reader is None:
                return "none", None, "", notes
            try:
                store = json.loads(reader.json())
            finally:
                close = getattr(reader, "close", None)
                if close:
                    close()
    except Exception as exc:  # noqa: BLE001 - C2paError and friends; never fatal
        message = str(exc)
        lowered = message.lower()
        if "remote" in lowered and "http" in lowered:
            url = re.search(r"https?://\S+", message)
            return "remote", None, url.group(0).rstrip(").,'\"") if url else "", notes
        if "notsupported" in lowered.replace(" ", "") or "unsupported" in lowered:
            return "unsupported", None, "", notes
        if "manifestnotfound" in lowered.replace(" ", "") or "no jumbf" in lowered:
            return "none", None, "", notes
        notes.append(f"C2PA manifest could not be read: {one_line(message, 200)}")
        return "error", None, "", notes
    if not isinstance(store, dict):
        notes.append("C2PA reader returned something other than a manifest store")
        return "error", None, "", notes
    return "found", store, "", notes


def _claim_generator(manifest: dict) -> str:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        first = info[0]
        return f"{first['name']} {first.get('version', '')}".strip()
    generator = manifest.get("claim_generator")
    return str(generator) if generator else ""


def _agent_name(agent: Any) -> str:
    if isinstance(agent, dict):
        return f"{agent.get('name', '')} {agent.get('version', '')}".strip()
    return str(agent) if agent else ""


def _c2pa_actions(manifest: dict) -> list[dict]:
    actions = []
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict) or not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            if not isinstance(action, dict):
                continue
            params = action.get("parameters") if isinstance(action.get("parameters"), dict) else {}
            actions.append(
                {
                    "action": str(action.get("action", "")),
                    "digitalSourceType": str(action.get("digitalSourceType") or params.get("digitalSourceType") or ""),
                    "softwareAgent": _agent_name(action.get("softwareAgent")),
                    "description": str(action.get("description") or ""),
                }
            )
    return actions


def _iptc_assertion_types(manifest: dict) -> list[str]:
    """Digital source types in a stds.iptc(.photo-metadata) assertion, if any."""
    found = []
    for assertion in manifest.get("assertions") or []:
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("stds.iptc"):
            data = assertion.get("data")
            if isinstance(data, dict):
                for key, value in data.items():
                    if key.lower().endswith("digitalsourcetype") and isinstance(value, str):
                        found.append(value)
    return found


_NOT_A_BREAK = {"signingCredential.untrusted"}


def _signature_state(store: dict) -> tuple[str, list[dict]]:
    """('trusted'|'valid'|'invalid'|'unknown', failures) from the validation results."""
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [f for f in results.get("failure") or [] if isinstance(f, dict)]
    successes = {s.get("code") for s in results.get("success") or [] if isinstance(s, dict)}
    if not results and isinstance(store.get("validation_status"), list):
        failures = [f for f in store["validation_status"] if isinstance(f, dict)]  # older stores: failures only
    breaking = [f for f in failures if f.get("code") not in _NOT_A_BREAK]
    state = str(store.get("validation_state") or "")
    if breaking:
        return "invalid", failures
    if state == "Trusted" or "signingCredential.trusted" in successes:
        return "trusted", failures
    if state == "Invalid" and not failures:
        return "invalid", failures  # invalid for a reason not listed under the active manifest
    if state in ("Valid", "Invalid") or "claimSignature.validated" in successes:
        return "valid", failures  # Invalid with only "untrusted" failures: intact but unknown signer
    return "unknown", failures


def c2pa_findings(col: Collector, store: dict) -> dict:
    """Findings from a manifest store; returns the summary that becomes :attr:`Provenance.c2pa`."""
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) if isinstance(manifests.get(active_label), dict) else {}
    generator = _claim_generator(active)
    signer = active.get("signature_info") if isinstance(active.get("signature_info"), dict) else {}
    signature, failures = _signature_state(store)
    actions = _c2pa_actions(active)
    if generator:
        col.software("c2pa", "claim_generator", generator)
    for i, action in enumerate(actions):
        _c2pa_action_finding(col, f"actions[{i}]", action)
    for value in _iptc_assertion_types(active):
        suggests, meaning = classify_source_type(value)
        col.add("c2pa", "stds.iptc DigitalSourceType", value, suggests, meaning)
    ingredients = []
    for ingredient in active.get("ingredients") or []:
        if not isinstance(ingredient, dict):
            continue
        label = ingredient.get("active_manifest")
        ingredients.append(
            {"title": str(ingredient.get("title", "")), "relationship": str(ingredient.get("relationship", "")), "manifest": label}
        )
        parent = manifests.get(label) if isinstance(manifests.get(label), dict) else None
        if parent:
            title = ingredient.get("title") or label
            for i, action in enumerate(_c2pa_actions(parent)):
                if action["digitalSourceType"]:
                    _c2pa_action_finding(col, f"ingredient {title!s}: actions[{i}]", action)
    signer_text = ", ".join(str(signer[k]) for k in ("issuer", "common_name") if signer.get(k))
    col.add(
        "c2pa",
        "signature",
        f"{signature}" + (f" ({signer_text})" if signer_text else ""),
        UNKNOWN,
        {
            "trusted": "manifest intact; signer chains to a configured trust anchor",
            "valid": "manifest intact and signed, but the signer is not on a trust list: anyone can make such a signature",
            "invalid": "manifest or image changed after signing, or the signature is broken",
        }.get(signature, "signature not validated"),
    )
    return {
        "active_manifest": active_label,
        "claim_generator": generator,
        "title": active.get("title"),
        "signer": {k: signer.get(k) for k in ("issuer", "common_name", "alg", "time") if signer.get(k)},
        "signature": signature,
        "validation_state": store.get("validation_state"),
        "failures": [{"code": f.get("code"), "explanation": f.get("explanation")} for f in failures],
        "actions": actions,
        "digital_source_types": sorted({a["digitalSourceType"] for a in actions if a["digitalSourceType"]}),
        "ingredients": ingredients,
        "manifests": len(manifests),
    }


def _c2pa_action_finding(col: Collector, fld: str, action: dict) -> None:
    name, source_type = action["action"], action["digitalSourceType"]
    value = name + (f" ({source_type})" if source_type else "") + (f" by {action['softwareAgent']}" if action["softwareAgent"] else "")
    if source_type:
        suggests, meaning = classify_source_type(source_type)
    elif name in C2PA_EDIT_ACTIONS:
        suggests, meaning = EDITED, "the picture was changed"
    else:
        suggests, meaning = UNKNOWN, ""
    if suggests == UNKNOWN and action["softwareAgent"]:
        by_agent, agent = classify_software(action["softwareAgent"])
        if by_agent != UNKNOWN:
            suggests, meaning = by_agent, f"software agent {agent}"
    col.add("c2pa", fld, value, suggests, meaning)
