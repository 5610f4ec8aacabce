"""``aidetect config``: the settings kept in the aidetect home (``$AIDETECT_HOME/config.toml``).

One setting so far, ``data``: the data root ``train``, ``evaluate`` and ``sweep`` read when
``--data`` is not given and ``$AIDETECT_DATA`` is not set (aidetect.home.resolve_data_root).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aidetect.cli.common import JsonOption, print_json, user_errors

app = typer.Typer(
    help="Settings kept in the aidetect home ($AIDETECT_HOME/config.toml, default ~/.aidetect): "
    "`aidetect config data ROOT` once, then train/evaluate/sweep need no --data.",
    no_args_is_help=True,
)


@app.command("data")
def data(
    root: Annotated[Optional[Path], typer.Argument(help="The data root to remember (GenImage, ForenSynths or one folder per class); stored absolute.")] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Forget the stored data root.")] = False,
) -> None:
    """Set (ROOT), forget (--unset) or print the data root train, evaluate and sweep use without --data."""
    with user_errors():
        import os

        from aidetect.console import err, out
        from aidetect.errors import AidetectError
        from aidetect.home import DATA_ENV, configured_data_root, update_user_config

        if root is not None and unset:
            raise AidetectError("give ROOT to set the data root or --unset to forget it, not both")
        if unset:
            previous, path = update_user_config("data", None)
            out.print(f"data root unset (was {previous}) in {path}" if previous else f"no data root was set in {path}",
                      highlight=False, markup=False)
        elif root is not None:
            absolute = Path(os.path.abspath(root.expanduser()))
            if not absolute.exists():
                raise AidetectError(f"{absolute} does not exist; give the folder that holds your images")
            if not absolute.is_dir():
                raise AidetectError(f"{absolute} is a file, not a folder; give the folder that holds your images")
            _, path = update_user_config("data", str(absolute))
            out.print(f"data root {absolute} saved in {path}", highlight=False, markup=False)
            _describe_layout(absolute)
        else:
            choice = configured_data_root()
            if choice is None:
                from aidetect.home import NO_DATA_ROOT

                raise AidetectError(NO_DATA_ROOT)
            out.print(f"{choice.root}", highlight=False, markup=False)
            err.print(f"(from {choice.describe()})", highlight=False, markup=False)
            return
        env = os.environ.get(DATA_ENV)
        if env:
            err.print(f"note: ${DATA_ENV}={env} is set in this shell and comes before the stored root",
                      highlight=False, markup=False)


@app.command("show")
def show(as_json: JsonOption = False) -> None:
    """Every setting, its value and where it comes from ($AIDETECT_DATA or the config file); a command's --data comes before both."""
    with user_errors():
        import os

        from aidetect.console import out
        from aidetect.home import (
            USER_KEYS,
            aidetect_home,
            read_user_config,
            user_config_path,
        )

        path = user_config_path()
        stored = read_user_config(path)
        values = {}
        for key, env_name in USER_KEYS.items():
            env = os.environ.get(env_name) or None
            value, source = (env, f"${env_name}") if env else (stored.get(key), "config file" if key in stored else None)
            values[key] = {"value": value, "source": source, "env": env, "file": stored.get(key)}
        document = {"home": str(aidetect_home()), "file": str(path), "file_exists": path.is_file(), "values": values}
        if as_json:
            print_json(document)
            return
        out.print(f"aidetect home  {document['home']}", highlight=False, markup=False)
        out.print(f"config file    {path}{'' if document['file_exists'] else ' (not written yet)'}", highlight=False, markup=False)
        for key, entry in values.items():
            if entry["value"] is None:
                line = f"not set (give --{key}, set ${USER_KEYS[key]} or run `aidetect config {key} ROOT`)"
            else:
                line = f"{entry['value']}  (from {entry['source']}"
                if entry["env"] and entry["file"]:
                    line += f", which comes before the config file's {entry['file']}"
                line += ")"
            out.print(f"{key:<14} {line}", highlight=False, markup=False)


def _describe_layout(root: Path) -> None:
    """One stderr line: the layout and classes found at the new root, or why none was recognised."""
    from aidetect.console import err, warn
    from aidetect.data.discovery import probe_classes
    from aidetect.errors import AidetectError

    try:
        layout, classes = probe_classes(root)
    except AidetectError as exc:
        warn(f"no dataset recognised there yet: {exc}")
        return
    err.print(f"{layout} layout: {', '.join(classes) or 'no classes'}", highlight=False, markup=False)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="config")
