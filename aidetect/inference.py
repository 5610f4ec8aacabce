"""The analyst's daily calls as a library: embed, enroll, detect, attribute.

Each function takes a :class:`~aidetect.session.Session` (a model opened with its
gallery, :func:`open_session`), reads images
tolerantly (a bad file becomes a record with ``error``, the rest go on) and
returns plain dicts, so the CLI only renders them and a notebook can use them
as they are. The record schema is documented in docs/output-schema.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence


from aidetect.data.conditions import read_conditions
from aidetect.data.images import SkippedInputs, display_path, iter_image_paths
from aidetect.data.sampling import sample_rows
from aidetect.embedding import embed_tiled
from aidetect.errors import AidetectError
from aidetect.gallery import update_gallery
from aidetect.gallery.thumbnails import thumbnails_for
from aidetect.gallery.classifier import TASKS, classifier_for, decide, detection_value, is_ai
from aidetect.gallery.knn import Neighbor, Prediction
from aidetect.labels import REAL, UNKNOWN
from aidetect.models.model_dir import scope_line
from aidetect.provenance import read_provenance
from aidetect.session import Session, open_session  # noqa: F401  (open_session: the library's entry point, re-exported)

DEFAULT_ENROLL_MAX = 50
NO_IMAGES = ("no images found in the given paths; give image files or folders that hold them "
             "(.jpg .jpeg .png .webp .bmp .tif .tiff .gif)")


def collect_inputs(paths: Iterable[str | Path]) -> list[tuple[str, str | None]]:
    """Every input in order, as given: ``(path, None)`` for an image file, ``(path, reason)`` for
    one that could not be listed. What folders held that is not an image (other files, empty
    folders) is said in one note on stderr (docs/promises.md, "Bad input")."""
    entries: list[tuple[str, str | None]] = []
    skipped = SkippedInputs()
    for path in iter_image_paths(paths, on_error=lambda p, reason: entries.append((p, f"{display_path(p)}: {reason}")),
                                 on_skip=skipped.add):
        entries.append((path, None))
    if skipped:
        from aidetect.console import note

        note(skipped.note())
    return entries


def collect_files(paths: Iterable[str | Path]) -> tuple[list[str], list[tuple[str, str]]]:
    """Image files under ``paths`` (recursively) and the inputs that could not be listed."""
    entries = collect_inputs(paths)
    return [p for p, reason in entries if reason is None], [(p, reason) for p, reason in entries if reason is not None]


def _neighbors(prediction: Prediction, classifier) -> list[dict]:
    """The evidence: each neighbour's class, raw cosine, and its distance in units of that class's
    spread (median distance between the class's own members), which separates classes where raw
    cosines all sit near 1."""
    spreads = classifier.class_spreads
    out = []
    for n in prediction.neighbors:
        spread = spreads.get(n.label)
        units = None if spread is None else round((1.0 - n.similarity) / spread, 3)
        out.append(_neighbour_fields(n, distance_in_class_spreads=units))
    return out


def _neighbour_fields(n: Neighbor, **extra) -> dict:
    """A gallery row as records name it: its class, cosine to the image, ``extra``, path and row."""
    return {"label": n.label, "similarity": round(n.similarity, 6), **extra, "path": n.path, "row": n.index}


def _gap_evidence(prediction: Prediction) -> dict | None:
    """What ``ai_similarity_gap`` is made of: each side's mean over its k nearest, and its nearest
    image, so the number can be checked against the gallery (the neighbours shown are the k nearest
    overall, which need not include any real image)."""
    sides = prediction.gap_sides
    if sides is None:
        return None
    return {"k": sides.k, "ai_mean": round(sides.ai_mean, 6), "real_mean": round(sides.real_mean, 6),
            "nearest_ai": _neighbour_fields(sides.nearest_ai), "nearest_real": _neighbour_fields(sides.nearest_real)}


def _error_record(path: str, reason: str, session: Session) -> dict:
    return {
        "path": path,
        "sha256": None,
        "error": reason,
        "model_fingerprint": session.fingerprint,
        "gallery_fingerprint": session.gallery.fingerprint,
    }


def classify_paths(
    session: Session,
    paths: Iterable[str | Path],
    *,
    task: str,
    k: int | None = None,
    vote: str | None = None,
    top: int | None = None,
    max_tiles: int | None = None,
    batch_size: int | None = None,
    workers: int = 0,
    progress: str | None = "embedding",
    metadata: bool = True,
) -> list[dict]:
    """One record per input file, errors included, in input order (docs/output-schema.md).

    ``detect`` and ``attribute`` get the same record, from one decision
    (aidetect.gallery.classifier.decide); ``task`` only chooses what the CLI shows first.
    Each image is analysed as tiles covering it at native resolution (at most ``max_tiles``;
    1 = the centre window only; None = as many as config.TILE_PIXEL_BUDGET allows). With
    ``metadata``, each record also carries the file's ``provenance`` (aidetect.provenance):
    shown beside the model's verdict, never changing it.
    ``workers`` is accepted for the CLI's sake; tiled embedding reads one file at a time.
    """
    if task not in TASKS:
        raise AidetectError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    entries = collect_inputs(paths)
    files = [p for p, reason in entries if reason is None]
    if not entries:
        raise AidetectError(NO_IMAGES)
    rules = session.rules
    classifier = classifier_for(session.gallery, rules, k=k, vote=vote)
    if task == "detect" and REAL not in session.gallery.classes():
        raise AidetectError(
            f"the gallery {session.gallery_path} has no 'real' class, so real and AI cannot be told apart; "
            "enroll real photographs with `aidetect enroll --generator real DIR`"
        )
    config = session.model.config
    embedded = embed_tiled(session.model.encoder, config.preprocess, files, max_tiles=max_tiles,
                           batch_size=batch_size, device=session.device, progress=progress)
    predictions = classifier.predict(embedded.embeddings, top=top)
    scope = scope_line(session.model.folder, config)
    by_path: dict[str, dict] = {}
    for i, (path, digest, prediction) in enumerate(zip(embedded.paths, embedded.sha256, predictions)):
        tile_predictions = classifier.predict(embedded.tile_embeddings[i], top=0) if len(embedded.tile_boxes[i]) > 1 else []
        tile_values = [detection_value(p, rules) for p in tile_predictions]
        tile_ai = [v is not None and is_ai(v, rules) for v in tile_values] or None
        decision = decide(prediction, classifier, rules, tile_ai)
        record = {
            "path": path,
            "sha256": digest,
            "model_fingerprint": session.fingerprint,
            "gallery_fingerprint": session.gallery.fingerprint,
            "k": classifier.k,
            "vote": classifier.vote,
            **decision.to_dict(),
            "analysed": _analysed(embedded.tile_boxes[i], embedded.covered[i], tile_predictions, tile_ai, config),
            "conditions": read_conditions(path, config.preprocess.image_size),
            "neighbors": _neighbors(prediction, classifier),
            "similarity_gap": _gap_evidence(prediction),
        }
        if metadata:
            record.update(_provenance_fields(path, record))
        record["scope"] = scope
        record["error"] = None
        by_path[path] = record
    failures = dict(embedded.errors)
    records = []
    for path, reason in entries:  # input order, errors in place
        if reason is not None:
            records.append(_error_record(path, reason, session))
        else:
            records.append(by_path.get(path) or _error_record(path, failures.get(path, "not processed"), session))
    return records


def _analysed(boxes, covered: float, tile_predictions, tile_ai, config) -> dict:
    """Which part of the image the verdict rests on, and how its tiles voted."""
    info = {
        "tiles": len(boxes),
        "area_fraction": round(covered, 4),
        "boxes": [list(b) for b in boxes],
        "rule": "mean of the tiles' embeddings; each tile also classified on its own",
    }
    if config.preprocess.mode == "resize":
        info["rule"] = "the whole image resampled to the model's input (one tile)"
    if config.architecture.learned_crop:
        info["learned_part_sees"] = f"the centre {config.architecture.learned_crop} px of each tile (the spectrum sees the whole tile)"
    if tile_predictions:
        info["tiles_ai"] = int(sum(tile_ai))
        info["tile_labels"] = [p.label for p in tile_predictions]
    return info


def _provenance_fields(path: str, record: dict) -> dict:
    """The file's own account of itself, and whether it disagrees with the model (saying what it says)."""
    provenance = read_provenance(path)
    model_says_ai = record.get("verdict") == "ai"
    model_says_real = record.get("verdict") == REAL
    suggests = provenance.suggests()
    summary = provenance.summary()
    conflict = None
    if suggests == "ai-generated" and not model_says_ai:
        conflict = f"the file's metadata says AI-generated ({summary}); the model's verdict is {record.get('verdict')}"
    elif suggests == "camera" and model_says_ai:
        conflict = f"the file's metadata names a camera ({summary}); the model says AI-generated"
    elif suggests == "camera" and not model_says_real and record.get("label") not in (REAL, UNKNOWN):
        conflict = f"the file's metadata names a camera ({summary}); the model's nearest class is {record.get('label')}"
    return {"provenance": provenance.to_dict() | {"summary": summary}, "metadata_conflict": conflict}


#: The longest class name ``enroll`` accepts (table columns and file names stay readable).
MAX_CLASS_NAME = 64


def check_class_name(name: str) -> str:
    """The class name ``enroll`` stores for ``name``: surrounding spaces dropped, lower-cased; refused
    (one line) when empty, longer than 64 characters, holding a control, format or other
    non-printable character (a newline, a tab, a bidirectional override, bytes that are not
    UTF-8), or ``unknown`` (the verdict for none of the classes)."""
    label = name.strip().lower()
    shown = repr(label)  # one ASCII-safe line whatever the name holds
    if not label:
        raise AidetectError("--generator is empty; name the class, e.g. --generator sd15")
    if label == UNKNOWN:
        raise AidetectError(f"--generator {shown} cannot name a class (it is the verdict for none of them); choose another name")
    if len(label) > MAX_CLASS_NAME:
        raise AidetectError(f"--generator {shown[:40]}… is {len(label)} characters long; a class name has at most {MAX_CLASS_NAME}")
    if not label.isprintable():
        raise AidetectError(f"--generator {shown} holds a control or non-printable character; "
                            "a class name is one line of printable characters")
    return label


@dataclass
class EnrollResult:
    gallery_path: Path
    label: str
    added: int
    skipped_duplicates: int
    considered: int
    errors: list[tuple[str, str]]
    classes: dict[str, int]
    #: where the skipped duplicates already live: class → how many of them
    duplicates_in: dict[str, int] = field(default_factory=dict)
    #: the id ``aidetect gallery remove --enrollment ID`` undoes this enrollment with
    enrollment: str | None = None


def _common_root(paths: Sequence[str]) -> str | None:
    """The folder the enrolled files share, stored as the paths' named root (so the gallery does
    not depend on where it was built); None when they share none."""
    try:
        root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths]) if paths else None
    except ValueError:
        return None
    return root if root and root != os.sep else None


def _classes_holding(gallery, digests: list[str]) -> dict[str, int]:
    """For the files already in ``gallery`` (by SHA-256), how many sit in each class."""
    wanted = {d for d, present in zip(digests, gallery.contains_sha256(digests)) if present}
    if not wanted:
        return {}
    labels = gallery.labels()
    found: dict[str, int] = {}
    for row, digest in enumerate(gallery.sha256s):
        if digest in wanted:
            found[str(labels[row])] = found.get(str(labels[row]), 0) + 1
            wanted.discard(digest)
            if not wanted:
                break
    return found


def enroll(
    session: Session,
    label: str,
    paths: Iterable[str | Path],
    *,
    max_images: int | None = DEFAULT_ENROLL_MAX,
    seed: int = 0,
    batch_size: int | None = None,
    workers: int = 0,
    progress: str | None = "enrolling",
    store_thumbnails: bool = True,
) -> EnrollResult:
    """Add images of ``label`` to the session's gallery, under a file lock, atomically.

    With more than ``max_images`` files, a seeded sample is taken. Files already
    in the gallery (same SHA-256, any class) are skipped and counted, by the class that holds
    them. Each image is embedded as a query is (the mean of tiles covering it); ``workers`` is
    accepted for the CLI's sake, tiled embedding reads one file at a time. With
    ``store_thumbnails`` each new row keeps a small lossless thumbnail (about 8 KB), so evidence
    reports show it on any machine; paths are stored relative to the files' common folder.
    """
    label = check_class_name(label)
    files, problems = collect_files(paths)
    if not files:
        raise AidetectError(NO_IMAGES)
    if max_images is not None and len(files) > max_images:
        files = [files[i] for i in sample_rows(len(files), max_images, seed, "enroll")]
    # Embedded exactly as detect and attribute embed a query (the mean of tiles covering the whole
    # image), so an enrolled row and a later query of the same generator are the same reading: the
    # centre window alone had put them apart (for the Welch spectrum most: docs/zoo-benchmark.md).
    embedded = embed_tiled(session.model.encoder, session.model.config.preprocess, files, batch_size=batch_size,
                           device=session.device, progress=progress)
    counts: dict[str, int] = {}

    duplicates_in: dict[str, int] = {}
    enrollment: list[str | None] = []

    thumbnails = thumbnails_for(embedded.paths) if store_thumbnails else None
    root = _common_root(embedded.paths)

    def add(gallery) -> None:
        duplicates_in.update(_classes_holding(gallery, list(embedded.sha256)))
        result = gallery.add(embedded.embeddings, label, embedded.paths, embedded.sha256, source="aidetect enroll",
                             thumbnails=thumbnails, source_root=root)
        added, skipped = result
        counts.update(added=added, skipped=skipped)
        enrollment.append(result.enrollment)

    if len(embedded.paths):
        model = session.model
        session.gallery = update_gallery(session.gallery_path, model.config.fingerprint, model.config.architecture.output_dim, add)
    else:
        counts.update(added=0, skipped=0)
    return EnrollResult(
        session.gallery_path,
        label,
        counts["added"],
        counts["skipped"],
        len(files),
        list(embedded.errors) + problems,
        session.gallery.classes(),
        duplicates_in,
        enrollment[0] if enrollment else None,
    )
