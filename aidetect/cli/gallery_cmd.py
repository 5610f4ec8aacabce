"""``aidetect gallery list|remove|verify``."""

from __future__ import annotations

from typing import Annotated

import typer

from aidetect.cli.common import EXIT_INPUT_ERRORS, GalleryOption, JsonOption, ModelOption, print_json, user_errors

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
    """Classes and counts, and the change log."""
    with user_errors():
        from aidetect.gallery import Gallery

        path, config = _gallery_path(model, gallery)
        gal = Gallery.load(path, expected_model_fingerprint=config.fingerprint)
        document = {"gallery": str(path), "fingerprint": gal.fingerprint, "model_fingerprint": gal.model_fingerprint,
                    "classes": gal.classes(), "log": gal.log}
        if as_json:
            print_json(document)
            return
        from rich.table import Table

        from aidetect.console import out

        table = Table(title=f"{path} ({len(gal)} embeddings)")
        table.add_column("class")
        table.add_column("images", justify="right")
        for name, count in gal.classes().items():
            table.add_row(name, str(count))
        out.print(table)
        log = Table(title="change log")
        for column in ("time", "action", "class", "count", "source"):
            log.add_column(column)
        for entry in gal.log:
            log.add_row(*(str(entry.get(c, "")) for c in ("time", "action", "class", "count", "source")))
        out.print(log)


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Class to remove.")], model: ModelOption = None, gallery: GalleryOption = None) -> None:
    """Remove every image of a class (undo an enrollment); logged."""
    with user_errors():
        from aidetect.console import out
        from aidetect.gallery import update_gallery

        path, config = _gallery_path(model, gallery, for_writing=True)
        removed = {}

        def drop(gal):
            removed["n"] = gal.remove_class(name.lower(), source="aidetect gallery remove")

        update_gallery(path, config.fingerprint, config.architecture.output_dim, drop)
        out.print(f"removed {removed['n']} images of {name} from {path}")


@app.command("verify")
def verify(model: ModelOption = None, gallery: GalleryOption = None, as_json: JsonOption = False) -> None:
    """Check a gallery file and its change log; exit 1 when problems are found."""
    with user_errors():
        from aidetect.console import out
        from aidetect.gallery import Gallery

        path, _ = _gallery_path(model, gallery)
        problems = Gallery.verify_file(path)
        if as_json:
            print_json({"gallery": str(path), "ok": not problems, "problems": problems})
        elif problems:
            for problem in problems:
                out.print(f"[red]problem:[/red] {problem}", highlight=False)
        else:
            out.print(f"{path}: ok")
        if problems:
            raise typer.Exit(EXIT_INPUT_ERRORS)
