"""`/save [FILE]`: the conversation so far as Markdown: each question as a heading, its answer,
and the file and line the answer came from.

Without a name the file is `tinychat-YYYY-MM-DD-HHMM.md` in the current folder, where a person
looks for what a command just wrote (as `script` writes ./typescript); the date keeps the
saves of different days apart and in order, and a second save in the same minute gets `-2`.
That folder may not be the notes folder or lie inside it: the saved answers would be read as
notes and answer questions themselves. Nothing is ever overwritten: a name that exists is
refused (the default one moves on to the next number).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from tinychat.chat import Answer
from tinychat.citation import RETRIEVED_MARK, WEAK_MARK, citation, shown_path
from tinychat.errors import TinychatError
from tinychat.terminal import printable_line

MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")  # characters that would format the text


def escaped(text: str) -> str:
    """`text` shown as written, not formatted, by Markdown."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", printable_line(" ".join(text.split())))


def markdown(turns: list[Answer], knowledge: Path, started: datetime) -> str:
    """The conversation as a Markdown document."""
    lines = [
        f"# tinychat, {started:%Y-%m-%d %H:%M}",
        "",
        f"Notes: `{shown_path(knowledge, '.')}`",
    ]
    for answer in turns:
        mark = f" {RETRIEVED_MARK}" if answer.retrieved_only and answer.text else ""
        mark += f" {WEAK_MARK}" if answer.weak else ""
        if answer.abstained:
            why = f": {answer.why_declined}" if answer.why_declined else ""
            source = f"Source: none (the notes don't hold the answer{escaped(why)})"
        else:
            where = citation(knowledge, answer)
            source = f"Source: `{where}`" if where else "Source: none"
        lines += ["", f"## {escaped(answer.query)}", "", escaped(answer.text) + mark, "", source]
    return "\n".join(lines) + "\n"


def default_path(folder: Path, moment: datetime) -> Path:
    """`tinychat-YYYY-MM-DD-HHMM.md` in `folder`, numbered on when that name is taken."""
    stem = f"tinychat-{moment:%Y-%m-%d-%H%M}"
    path, number = folder / f"{stem}.md", 1
    while os.path.lexists(path):
        number += 1
        path = folder / f"{stem}-{number}.md"
    return path


def save(text: str, name: str, knowledge: Path, moment: datetime) -> Path:
    """Write `text` to the file `name` (or the default one); returns the path written."""
    if name:
        path = Path(name).expanduser()
    else:
        here = Path.cwd().resolve()
        notes = Path(knowledge).resolve()
        if here == notes or here.is_relative_to(notes):
            raise TinychatError(
                "/save: the current folder is in the notes folder, where a saved conversation"
                " would be read as a note; give a path outside it, e.g. /save ~/chat.md"
            )
        path = default_path(Path.cwd(), moment)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, 0o644)  # O_EXCL: an existing file is never replaced
    except FileExistsError:
        raise TinychatError(f"/save {name}: {name} exists; give another name") from None
    except OSError as error:
        raise TinychatError(f"/save: cannot write {path} ({error.strerror or error})") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    return path
