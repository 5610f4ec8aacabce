"""``aidetect inspect``: what each file says about its own origin (C2PA, XMP, PNG text, EXIF)."""

from __future__ import annotations

from typing import Annotated

import typer

from aidetect.cli.common import (
    EXIT_INPUT_ERRORS,
    JsonOption,
    PathsArgument,
    print_json,
    report_input_errors,
    user_errors,
)

#: Characters of a value shown in the text view (--json has the whole, capped, value).
SHOWN_CHARS = 160

_COLOURS = {"ai-generated": "red", "edited": "yellow", "camera": "green", "unknown": "dim"}


def inspect(
    paths: PathsArgument,
    no_c2pa: Annotated[bool, typer.Option("--no-c2pa", help="Do not read C2PA Content Credentials.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Provenance metadata of each image: C2PA Content Credentials, IPTC digital source type, generator PNG chunks, EXIF.

    Metadata can be stripped or forged: read it as evidence next to the model's answer, not instead of it.
    """
    with user_errors():
        from aidetect.console import printable
        from aidetect.errors import AidetectError
        from aidetect.inference import NO_IMAGES, collect_inputs
        from aidetect.provenance import read_provenance

        entries = collect_inputs(paths)
        if not entries:
            raise AidetectError(NO_IMAGES)
        records: list[dict] = []
        for file, reason in entries:  # input order, errors in place
            if reason is not None:
                records.append({"path": file, "error": reason})
                continue
            provenance = read_provenance(file, c2pa=not no_c2pa)
            record = {"path": file, **provenance.to_dict()}
            if provenance.error:
                record["error"] = f"{printable(file)}: {provenance.error}"
            records.append(record)
        if as_json:
            print_json(records)
        else:
            _render(records)
        if report_input_errors(records):
            raise typer.Exit(EXIT_INPUT_ERRORS)


def _render(records: list[dict]) -> None:
    from rich.table import Table

    from aidetect.console import markup_safe as escape
    from aidetect.console import out

    for index, record in enumerate(records):
        if index:
            out.print()
        path = escape(record["path"])
        if record.get("error"):
            out.print(f"[bold]{path}[/bold]  [red]error[/red]: {escape(record['error'])}", highlight=False)
            continue
        colour = _COLOURS.get(record["suggests"], "dim")
        out.print(f"[bold]{path}[/bold]  [{colour}]{escape(record['suggests'])}[/{colour}]  {escape(record['summary'])}", highlight=False)
        if record["findings"]:
            table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
            table.add_column("where", no_wrap=True)
            table.add_column("suggests", no_wrap=True)
            table.add_column("value", overflow="fold")
            for finding in record["findings"]:
                value = " ".join(finding["value"].split())
                if len(value) > SHOWN_CHARS:
                    value = value[: SHOWN_CHARS - 1] + "…"
                text = escape(value)
                if finding["detail"]:
                    text += f"\n[dim]{escape(finding['detail'])}[/dim]"
                shade = _COLOURS.get(finding["suggests"], "dim")
                table.add_row(
                    f"  {escape(finding['source'])} {escape(finding['field'])}",
                    f"[{shade}]{escape(finding['suggests'])}[/{shade}]",
                    text,
                )
            out.print(table)
        c2pa = record.get("c2pa")
        if c2pa:
            for failure in c2pa.get("failures") or []:
                out.print(f"  [dim]c2pa check failed: {escape(str(failure.get('code')))} — {escape(str(failure.get('explanation') or ''))}[/dim]", highlight=False)
        for note in record["notes"]:
            out.print(f"  [dim]note: {escape(note)}[/dim]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(inspect)
