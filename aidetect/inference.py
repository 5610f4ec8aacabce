"""The analyst's daily calls as a library: embed, enroll, detect, attribute.

Each function takes a :class:`~aidetect.session.Session` (a model opened with its
gallery, :func:`open_session`), reads images
tolerantly (a bad file becomes a record with ``error``, the rest go on) and
returns plain dicts, so the CLI only renders them and a notebook can use them
as they are. The record schema is documented in docs/output-schema.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from aidetect.config import DEFAULT_MAX_TILES
from aidetect.data.conditions import read_conditions
from aidetect.data.images import iter_image_files
from aidetect.embedding import embed_files, embed_tiled
from aidetect.errors import AidetectError
from aidetect.gallery import update_gallery
from aidetect.gallery.classifier import TASKS, classifier_for, decide, is_ai
from aidetect.gallery.knn import Prediction
from aidetect.labels import REAL, UNKNOWN
from aidetect.models.model_dir import scope_line
from aidetect.provenance import read_provenance
from aidetect.session import Session, open_session  # noqa: F401  (open_session: the library's entry point, re-exported)

DEFAULT_ENROLL_MAX = 50


def collect_files(paths: Iterable[str | Path]) -> tuple[list[str], list[tuple[str, str]]]:
    """Image files under ``paths`` (recursively) and the inputs that could not be listed."""
    problems: list[tuple[str, str]] = []
    files = [
        str(p) for p in iter_image_files(paths, on_error=lambda path, reason: problems.append((str(path), f"{path}: {reason}")))
    ]
    return files, problems


def embed_paths(session: Session, files: Sequence[str], *, batch_size: int | None = None, workers: int = 0, progress: str | None = "embedding"):
    return embed_files(
        session.model.encoder,
        session.model.config.preprocess,
        list(files),
        batch_size=batch_size,
        workers=workers,
        device=session.device,
        progress=progress,
    )


def _neighbors(prediction: Prediction, classifier) -> list[dict]:
    """The evidence: each neighbour's class, raw cosine, and its distance in units of that class's
    spread (median distance between the class's own members), which separates classes where raw
    cosines all sit near 1."""
    spreads = classifier.class_spreads
    out = []
    for n in prediction.neighbors:
        spread = spreads.get(n.label)
        units = None if spread is None else round((1.0 - n.similarity) / spread, 3)
        out.append({"label": n.label, "similarity": round(n.similarity, 6), "distance_in_class_spreads": units, "path": n.path})
    return out


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
    max_tiles: int = DEFAULT_MAX_TILES,
    batch_size: int | None = None,
    workers: int = 0,
    progress: str | None = "embedding",
    metadata: bool = True,
) -> list[dict]:
    """One record per input file, errors included, in input order (docs/output-schema.md).

    ``detect`` and ``attribute`` get the same record, from one decision
    (aidetect.gallery.classifier.decide); ``task`` only chooses what the CLI shows first.
    Each image is analysed as tiles covering it at native resolution (at most ``max_tiles``;
    1 = the centre window only). With ``metadata``, each record also carries the file's
    ``provenance`` (aidetect.provenance): shown beside the model's verdict, never changing it.
    ``workers`` is accepted for the CLI's sake; tiled embedding reads one file at a time.
    """
    if task not in TASKS:
        raise AidetectError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    files, problems = collect_files(paths)
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
        tile_ai = [p.score_ai is not None and is_ai(p.score_ai, rules) for p in tile_predictions] or None
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
        }
        if metadata:
            record.update(_provenance_fields(path, record))
        record["scope"] = scope
        record["error"] = None
        by_path[path] = record
    failures = {path: reason for path, reason in list(embedded.errors) + problems}
    records = []
    for path in files:
        records.append(by_path.get(path) or _error_record(path, failures.get(path, "not processed"), session))
    records.extend(_error_record(path, reason, session) for path, reason in problems if path not in by_path)
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


@dataclass
class EnrollResult:
    gallery_path: Path
    label: str
    added: int
    skipped_duplicates: int
    considered: int
    errors: list[tuple[str, str]]
    classes: dict[str, int]


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
) -> EnrollResult:
    """Add images of ``label`` to the session's gallery, under a file lock, atomically.

    With more than ``max_images`` files, a seeded sample is taken. Files already
    in the gallery (same SHA-256, any class) are skipped and counted.
    """
    label = label.strip().lower()
    if not label or label == UNKNOWN:
        raise AidetectError(f"--generator {label!r} cannot name a class; choose another name")
    files, problems = collect_files(paths)
    if not files:
        raise AidetectError("no image files found in the given paths; give image files or folders that hold them")
    if max_images is not None and len(files) > max_images:
        rng = np.random.default_rng(seed)
        files = [files[i] for i in np.sort(rng.choice(len(files), max_images, replace=False))]
    embedded = embed_paths(session, files, batch_size=batch_size, workers=workers, progress=progress)
    counts: dict[str, int] = {}

    def add(gallery) -> None:
        added, skipped = gallery.add(embedded.embeddings, label, embedded.paths, embedded.sha256, source="aidetect enroll")
        counts.update(added=added, skipped=skipped)

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
    )
