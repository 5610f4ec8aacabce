"""The one place where output goes: results on stdout, progress and logs on stderr.

And the rules that make any user-supplied string safe to output (docs/promises.md, "Names and
paths in output"):

* :func:`printable` / :func:`markup_safe` for what a person reads (tables, messages): control
  characters become ``\\n``-style escapes (a newline never splits a table row), bytes of a file
  name that are not UTF-8 (Python's surrogateescape characters ``\\udc80``–``\\udcff``) become
  ``\\xNN``, and :func:`markup_safe` escapes rich markup too (a class named ``[/x]`` is text).
* :func:`for_output` for what a program reads (``--json``, ``--csv``): a string holding such
  bytes is written with each of them as ``\\xNN`` and each backslash doubled, and its record
  carries ``"<key>_escaped": true``; :func:`unescape_path` gives the original back.
"""

from __future__ import annotations

import codecs
import os
from typing import Any

from rich.console import Console
from rich.markup import escape

#: Results (tables, JSON) go to stdout so they can be piped.
out = Console(soft_wrap=True)
#: Progress bars, warnings and errors go to stderr.
err = Console(stderr=True, soft_wrap=True)


def warn(message: str) -> None:
    """One line on stderr; used for bad input files so a batch can go on."""
    err.print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)


def note(message: str) -> None:
    """One line on stderr that changes nothing (e.g. what a folder held that is not an image)."""
    err.print(f"[dim]note:[/dim] {markup_safe(message)}", markup=True, highlight=False)


def printable(text: object) -> str:
    """``text`` as one printable line: control characters escaped (``\\n``, ``\\t``, ``\\x1b``),
    undecodable file-name bytes as ``\\xNN``. For people; see :func:`for_output` for programs."""
    text = os.fspath(text) if isinstance(text, os.PathLike) else str(text)
    if text.isprintable():
        return text
    parts = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            parts.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            parts.append(ch)
        elif code < 0x100:
            parts.append(ch.encode("unicode_escape").decode("ascii"))
        elif code <= 0xFFFF:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(f"\\U{code:08x}")
    return "".join(parts)


def markup_safe(text: object) -> str:
    """:func:`printable`, then rich markup escaped: safe inside an f-string given to rich."""
    return escape(printable(text))


def escape_surrogates(text: str) -> tuple[str, bool]:
    """``(text, False)`` when ``text`` is valid Unicode; else the text with each undecodable byte
    (surrogateescape) as ``\\xNN``, any other lone surrogate as ``\\uXXXX``, every backslash
    doubled, and True."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        pass
    parts = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            parts.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:
            parts.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(ch)
    return "".join(parts), True


def unescape_path(text: str) -> str:
    """The path a ``*_escaped`` string stands for (as :func:`os.fsdecode` gives it: use
    :func:`os.fsencode` for its bytes)."""
    return os.fsdecode(codecs.escape_decode(text.encode("utf-8"))[0])


def for_output(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, strings, paths) that encodes as UTF-8 everywhere: each string
    with undecodable bytes is escaped (:func:`escape_surrogates`) and, as a dict value, flagged
    by a ``"<key>_escaped": true`` beside it."""
    if isinstance(obj, os.PathLike):
        obj = os.fspath(obj)
    if isinstance(obj, str):
        return escape_surrogates(obj)[0]
    if isinstance(obj, dict):
        result: dict = {}
        for key, value in obj.items():
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            name = escape_surrogates(key)[0] if isinstance(key, str) else key
            if isinstance(value, str):
                text, escaped = escape_surrogates(value)
                result[name] = text
                if escaped:
                    result[f"{name}_escaped"] = True
            else:
                result[name] = for_output(value)
        return result
    if isinstance(obj, (list, tuple)):
        return [for_output(value) for value in obj]
    return obj
