"""``aidetect embed``, ``enroll``, ``detect`` and ``attribute``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from aidetect.cli.common import (
    EXIT_INPUT_ERRORS,
    BatchOption,
    DeviceOption,
    GalleryOption,
    JsonOption,
    ModelOption,
    PathsArgument,
    PixelCacheOption,
    ThreadsOption,
    WorkersOption,
    apply_threads,
    print_json,
    refuse_folder_as_file,
    report_input_errors,
    user_errors,
)
from aidetect.config import EXPLAIN_SAMPLES

CsvOption = Annotated[Optional[Path], typer.Option("--csv", help="Also write the results as CSV to this file.")]
KOption = Annotated[Optional[int], typer.Option("--k", min=1, help="Neighbours in the vote, and shown as evidence (default: 11, or 3 for galleries of <= 20 per class; the centroid vote reads class means, not k).")]
VoteOption = Annotated[Optional[str], typer.Option("--vote", help="weighted, majority, balanced (the weighted vote with each neighbour divided by its class's size) or centroid (each class votes once, by its mean embedding): the last two for a class enrolled from ~50 images beside larger ones (default: the model's calibrated choice).")]


def embed(
    paths: PathsArgument,
    out: Annotated[Path, typer.Option("--out", help="Output .npz file.")],
    model: ModelOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = 0,
    pixel_cache: PixelCacheOption = None,
) -> None:
    """Embed images with the model; write embeddings, paths, SHA-256s and the model fingerprint to an .npz."""
    with user_errors():
        apply_threads(threads)
        import numpy as np

        from aidetect.console import err, markup_safe
        from aidetect.devices import resolve_device
        from aidetect.embedding import embed_files
        from aidetect.errors import AidetectError
        from aidetect.fileio import atomic_writer, write_error
        from aidetect.inference import NO_IMAGES, collect_files
        from aidetect.session import open_model

        if out.suffix != ".npz":
            out = out.with_suffix(".npz")
        refuse_folder_as_file(out, "--out")
        torch_device = resolve_device(device)
        loaded, _ = open_model(model, torch_device)
        files, problems = collect_files(paths)
        if not files and not problems:
            raise AidetectError(NO_IMAGES)
        cache = None
        if pixel_cache is not None:
            from aidetect.data.pixel_cache import PixelCache, announce, cache_form

            cache = PixelCache(pixel_cache)
            announce(cache, files, cache_form(loaded.config.preprocess, train=False))
        result = embed_files(
            loaded.encoder, loaded.config.preprocess, files, batch_size=batch_size, workers=workers, device=torch_device,
            pixel_cache=cache,
        )
        if cache is not None:
            cache.commit_pending()
        try:
            with atomic_writer(out) as handle:
                np.savez(
                    handle,
                    embeddings=result.embeddings.astype(np.float32),
                    paths=np.array(result.paths, dtype=str),
                    sha256=np.array(result.sha256, dtype=str),
                    model_fingerprint=np.array(loaded.config.fingerprint),
                )
        except OSError as exc:
            raise write_error(out, exc, "use --out to write elsewhere") from None
        records = [{"error": reason} for _, reason in result.errors + problems]
        code = report_input_errors(records)
        err.print(f"wrote {len(result.paths)} embeddings to {markup_safe(out)}", highlight=False)
        if code:
            raise typer.Exit(code)


def enroll(
    paths: PathsArgument,
    generator: Annotated[str, typer.Option("--generator", help="Class name to enroll the images under (new or existing).")],
    max_images: Annotated[int, typer.Option("--max", min=1, help="Use at most this many images (a seeded sample).")] = 50,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    model: ModelOption = None,
    gallery: GalleryOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    batch_size: BatchOption = None,
    workers: WorkersOption = 0,
    as_json: JsonOption = False,
    no_thumbnails: Annotated[bool, typer.Option("--no-thumbnails", help="Do not keep a small lossless thumbnail (~8 KB) per image in the gallery.")] = False,
) -> None:
    """Add images of a (new) generator to the gallery, without retraining."""
    with user_errors():
        apply_threads(threads)
        from aidetect.console import err, out
        from aidetect.inference import enroll as enroll_images
        from aidetect.session import open_session

        # for_writing: the bundled model's gallery is copied into the aidetect home first (said on stderr).
        session = open_session(model, gallery, device, create_gallery=True, for_writing=True)
        result = enroll_images(session, generator, paths, max_images=max_images, seed=seed, batch_size=batch_size, workers=workers,
                               store_thumbnails=not no_thumbnails)
        k_change = _k_rule_change(result, session.rules.k, session.rules.vote)
        size_note = _small_class_note(result, session.rules.vote)
        document = {
            "gallery": str(result.gallery_path),
            "class": result.label,
            "added": result.added,
            "skipped_duplicates": result.skipped_duplicates,
            "duplicates_in": result.duplicates_in,
            "enrollment": result.enrollment,
            "considered": result.considered,
            "errors": [{"path": p, "error": r} for p, r in result.errors],
            "classes": result.classes,
            "k_rule_change": k_change,
            "small_class_note": size_note,
        }
        if as_json:
            print_json(document)
        else:
            from aidetect.console import markup_safe as safe

            where = ", ".join(f"{n} in {safe(name)}" for name, n in sorted(result.duplicates_in.items()))
            skipped = f"{result.skipped_duplicates} already in the gallery ({where}), skipped" if result.skipped_duplicates else "no duplicates"
            out.print(
                f"enrolled {result.added} images as [bold]{safe(result.label)}[/bold] into {safe(result.gallery_path)} "
                f"({skipped}); {safe(result.label)} now has {result.classes.get(result.label, 0)} images",
                highlight=False,
            )
            if result.enrollment and result.added:
                out.print(f"undo with: aidetect gallery remove --enrollment {safe(result.enrollment)}", highlight=False)
            if k_change:
                out.print(f"[yellow]note:[/yellow] {safe(k_change['reason'])}", highlight=False)
            if size_note:
                out.print(f"[yellow]note:[/yellow] {safe(size_note)}", highlight=False)
        code = report_input_errors([{"error": r} for _, r in result.errors])
        if code:
            err.print(f"{len(result.errors)} inputs could not be read")
            raise typer.Exit(code)


#: An enrolled class this many times smaller than the median of the others gets the note below
#: (the README's demo: 50 beside 664, where the balanced vote recognised more; docs/inference.md).
SMALL_CLASS_RATIO = 4


def _small_class_note(result, vote: str) -> str | None:
    """When the class just enrolled into is much smaller than the gallery's other classes and the
    model's vote counts rows (not ``balanced``, not ``centroid``, where each class counts once), say
    so and name the vote that weighs classes by their size. Not for
    a class of 20 or fewer: the balanced vote would give each of its rows the weight of dozens of
    another class's, so one or two stray neighbours could decide, and that is not measured."""
    import statistics

    from aidetect.gallery.knn import SMALL_GALLERY_MAX

    size = result.classes.get(result.label, 0)
    others = [n for name, n in result.classes.items() if name != result.label and n > 0]
    if vote in ("balanced", "centroid") or not result.added or not others or size <= SMALL_GALLERY_MAX:
        return None
    median = statistics.median(others)
    if size * SMALL_CLASS_RATIO > median:
        return None
    return (f"{result.label} has {size} images beside classes of {median:g} (the median): the {vote} vote counts gallery "
            f"rows, so a larger class near its images can outvote it; `--vote balanced` on detect and attribute "
            f"weighs each class by its size, which recognises more of {result.label} and also gives it some of its "
            f"neighbours' images (measured: docs/inference.md)")


def _k_rule_change(result, fixed_k: int | None, vote: str = "weighted") -> dict | None:
    """When this enrollment moved the default k (aidetect.gallery.knn.choose_k: 11, or 3 when the
    smallest class has <= 20 images), what it was, what it is, and why: every later query of the
    gallery votes with the new k. None when k is unchanged (or fixed in the model's config)."""
    from aidetect.gallery.knn import choose_k

    if fixed_k is not None or not result.added:
        return None
    after = {name: n for name, n in result.classes.items() if n > 0}
    before = dict(after)
    before[result.label] = before.get(result.label, 0) - result.added
    before = {name: n for name, n in before.items() if n > 0}
    if not before:
        return None
    k_before, k_after = choose_k(before), choose_k(after)
    if k_before == k_after:
        return None
    smallest = min(after, key=lambda name: (after[name], name))
    # the centroid vote does not read k: only the neighbours shown (and a gap calibrated without its own k) do
    what = (f"the neighbours shown as evidence are now the {k_after} nearest instead of {k_before} (this model votes by "
            "class means, which k does not change)" if vote == "centroid" else
            f"every query of this gallery now votes with k = {k_after} instead of {k_before}")
    return {
        "from": k_before, "to": k_after,
        "reason": (f"{what}: its smallest class "
                   f"({smallest}) has {after[smallest]} images (the k rule: 11, or 3 when the smallest class has <= 20); "
                   f"enroll more images of {smallest} or pass --k to detect and attribute"),
    }


NoMetadataOption = Annotated[bool, typer.Option("--no-metadata", help="Do not read the files' provenance metadata (C2PA, XMP, EXIF, PNG text).")]
TopOption = Annotated[Optional[int], typer.Option("--top", min=1, help="Neighbours to show as evidence (default k).")]
TilesOption = Annotated[Optional[int], typer.Option("--tiles", min=1, help="At most this many tiles cover each image at native resolution (1 = the centre window only; default: a megapixel's worth, 16 tiles of 256 px or 64 of 128 px).")]
ReportOption = Annotated[Optional[Path], typer.Option("--report", help="Also write a self-contained HTML evidence report into this folder.")]
ExplainOption = Annotated[bool, typer.Option("--explain", help="Add a LIME map of each image to the --report (about 30 s an image on a CPU: see docs/explain.md).")]
SamplesOption = Annotated[int, typer.Option("--samples", min=2, help="LIME samples per image with --explain (more: a steadier map, slower).")]

_DOCS = {
    "detect": "Real or AI-generated? Verdict, score = P(AI-generated), and the neighbours as evidence.",
    "attribute": "Which generator made it (or real, or unknown)? Label, confidence, runner-up, neighbours.",
}


def _classify_command(task: str):
    """detect and attribute take the same options and differ only in the record they print."""

    def command(
        paths: PathsArgument,
        model: ModelOption = None,
        gallery: GalleryOption = None,
        device: DeviceOption = "auto",
        threads: ThreadsOption = None,
        k: KOption = None,
        vote: VoteOption = None,
        top: TopOption = None,
        tiles: TilesOption = None,
        batch_size: BatchOption = None,
        workers: WorkersOption = 0,
        as_json: JsonOption = False,
        csv_path: CsvOption = None,
        no_metadata: NoMetadataOption = False,
        report: ReportOption = None,
        explain: ExplainOption = False,
        samples: SamplesOption = EXPLAIN_SAMPLES,
    ) -> None:
        with user_errors():
            apply_threads(threads)
            from aidetect.cli.render import render_records, write_csv
            from aidetect.console import err
            from aidetect.errors import AidetectError
            from aidetect.inference import classify_paths, open_session

            if explain and report is None:
                raise AidetectError("--explain adds LIME maps to the HTML report; give --report DIR too")
            refuse_folder_as_file(csv_path, "--csv")
            if report is not None and os.path.exists(report) and not os.path.isdir(report):
                raise AidetectError(f"--report {os.fspath(report)} is a file; name a folder (it will hold report.html)")
            session = open_session(model, gallery, device)
            rules = session.rules
            from aidetect.config import VOTES

            # (a vote that is none of them is refused below, with its own one-line error)
            if vote in VOTES and vote != rules.vote and rules.calibrated and rules.detection_score == "ai_vote_share":
                err.print(f"note: this model's P(AI) was calibrated on the {rules.vote} vote's AI share; with --vote {vote} "
                          "it reads another vote's share, so treat P(AI) and the verdict as uncalibrated", highlight=False)
            records = classify_paths(
                session, paths, task=task, k=k, vote=vote, top=top, max_tiles=tiles, batch_size=batch_size, workers=workers, metadata=not no_metadata
            )
            # The results first: a CSV or report that cannot be written must not lose them.
            if as_json:
                print_json(records)
            else:
                render_records(records, task, title=task)
            if csv_path:
                write_csv(csv_path, records, task)
            if report is not None:
                from aidetect.report_html import write_html_report

                explainer = None
                if explain:
                    from aidetect.explain import make_explainer

                    explainer = make_explainer(session.model, report, samples=samples)
                written = write_html_report(
                    records, report, task=task, model_fingerprint=session.fingerprint,
                    gallery_fingerprint=session.gallery.fingerprint, explain=explainer, gallery=session.gallery,
                )
                from aidetect.console import markup_safe

                err.print(f"wrote the evidence report {markup_safe(written)}", highlight=False)
            if report_input_errors(records):
                raise typer.Exit(EXIT_INPUT_ERRORS)

    command.__name__ = task
    command.__doc__ = _DOCS[task]
    return command


detect = _classify_command("detect")
attribute = _classify_command("attribute")


def register(app: typer.Typer) -> None:
    app.command()(embed)
    app.command()(enroll)
    app.command()(detect)
    app.command()(attribute)
