"""``aidetect gallery list|remove|verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aidetect.cli.common import (
    EXIT_INPUT_ERRORS,
    GalleryOption,
    JsonOption,
    ModelOption,
    print_json,
    user_errors,
)

app = typer.Typer(help="Inspect a gallery, undo an enrollment, check a gallery and its change log.", no_args_is_help=True)


def _gallery_path(model, gallery, for_writing=False):
    from aidetect.home import resolve_gallery_path
    from aidetect.session import open_model_config, writable_gallery_path

    config, choice = open_model_config(model)
    if for_writing:
        return writable_gallery_path(choice, config, gallery), config
    return resolve_gallery_path(choice, config.fingerprint, gallery), config


@app.command("list")
def list_classes(model: ModelOption = None, gallery: GalleryOption = None, as_json: JsonOption = False) -> None:
    """Classes and counts, the enrollments (ids for `gallery remove --enrollment`), and the change log."""
    with user_errors():
        from aidetect.gallery import Gallery

        path, config = _gallery_path(model, gallery)
        gal = Gallery.load(path, expected_model_fingerprint=config.fingerprint)
        document = {"gallery": str(path), "fingerprint": gal.fingerprint, "model_fingerprint": gal.model_fingerprint,
                    "classes": gal.classes(), "enrollments": gal.enrollments(), "thumbnails": gal.thumbnail_count,
                    "source_roots": gal.source_roots, "log": gal.log}
        if as_json:
            print_json(document)
            return
        from rich.table import Table

        from aidetect.console import markup_safe as safe
        from aidetect.console import out

        # Class names, sources and paths are user text: escaped (markup, control characters).
        table = Table(title=f"{safe(path)} ({len(gal)} embeddings)")
        table.add_column("class")
        table.add_column("images", justify="right")
        for name, count in gal.classes().items():
            table.add_row(safe(name), str(count))
        out.print(table)
        left = gal.enrollments()
        log = Table(title="change log (undo one enrollment: aidetect gallery remove --enrollment ID)")
        for column in ("time", "action", "class", "count", "source", "enrollment", "rows left"):
            log.add_column(column)
        for entry in gal.log:
            eid = entry.get("enrollment")
            rows_left = str(left.get(eid, "")) if entry.get("action") == "add" and isinstance(eid, str) else ""
            log.add_row(*(safe(entry.get(c, "")) for c in ("time", "action", "class", "count", "source", "enrollment")),
                        rows_left)
        out.print(log)


@app.command("remove")
def remove(
    name: Annotated[Optional[str], typer.Argument(help="Class to remove (every image of it).")] = None,
    enrollment: Annotated[Optional[str], typer.Option("--enrollment", "-e", help="Undo exactly one enrollment: its id, from `aidetect gallery list`.")] = None,
    model: ModelOption = None,
    gallery: GalleryOption = None,
) -> None:
    """Remove every image of a class, or exactly the images one enrollment added; logged."""
    with user_errors():
        from aidetect.console import markup_safe as safe
        from aidetect.console import out
        from aidetect.errors import AidetectError
        from aidetect.gallery import update_gallery

        if (name is None) == (enrollment is None):
            raise AidetectError("name a class to remove (aidetect gallery remove NAME) or an enrollment to undo "
                                "(--enrollment ID, from `aidetect gallery list`), not both and not neither")
        path, config = _gallery_path(model, gallery, for_writing=True)
        removed = {}

        def drop(gal):
            if enrollment is not None:
                removed.update(gal.remove_enrollment(enrollment, source="aidetect gallery remove --enrollment"))
            else:
                removed[name.lower()] = gal.remove_class(name.lower(), source="aidetect gallery remove")

        update_gallery(path, config.fingerprint, config.architecture.output_dim, drop)
        what = ", ".join(f"{count} of {safe(label)}" for label, count in removed.items())
        if enrollment is not None:
            out.print(f"removed enrollment {safe(enrollment.strip().lower())} ({what} images) from {safe(path)}", highlight=False)
        else:
            out.print(f"removed {removed[name.lower()]} images of {safe(name)} from {safe(path)}", highlight=False)


@app.command("verify")
def verify(
    file: Annotated[Optional[Path], typer.Argument(help="Gallery file to check (the same as --gallery).")] = None,
    model: ModelOption = None,
    gallery: GalleryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a gallery file and its change log; exit 1 when problems are found."""
    with user_errors():
        from aidetect.console import markup_safe as escape
        from aidetect.console import out
        from aidetect.errors import AidetectError
        from aidetect.gallery import Gallery

        if file is not None and gallery is not None and Path(file) != Path(gallery):
            raise AidetectError(f"two galleries named ({file} and --gallery {gallery}); name one")
        path, _ = _gallery_path(model, file if file is not None else gallery)
        report = Gallery.check_file(path)
        problems, notes = report["problems"], report["notes"]
        if as_json:
            print_json({"gallery": str(path), "ok": not problems, "problems": problems, "notes": notes})
        else:
            for problem in problems:
                out.print(f"[red]problem:[/red] {escape(problem)}", highlight=False)
            for note in notes:
                out.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
            if not problems:
                out.print(f"{escape(str(path))}: ok", highlight=False)
        if problems:
            raise typer.Exit(EXIT_INPUT_ERRORS)
