"""``aidetect``: the Typer application. Commands import the library lazily so ``--help`` stays fast."""

from __future__ import annotations

import typer

from aidetect import __version__
from aidetect.cli import (
    config_cmd,
    evaluate_cmd,
    explain_cmd,
    gallery_cmd,
    inference_cmd,
    inspect_cmd,
    train_cmd,
)

app = typer.Typer(
    name="aidetect",
    help="Detect AI-generated images and attribute them to their generator (contrastive encoder + k-NN gallery).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        print(f"aidetect {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Results go to stdout, progress and errors to stderr. Set AIDETECT_DEBUG=1 for tracebacks."""


train_cmd.register(app)
inference_cmd.register(app)
evaluate_cmd.register(app)
inspect_cmd.register(app)
explain_cmd.register(app)
app.add_typer(gallery_cmd.app, name="gallery")
config_cmd.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
