"""`/open`: a note in the user's editor ($VISUAL, else $EDITOR) at the line an answer came from.

The editor is started as `EDITOR +LINE FILE`, which vi, vim, nano, emacs, micro and kak
understand. VS Code (and its builds) reads `+12` as a file name: it is given `--wait --goto
FILE:LINE` instead, so that it opens the line and tinychat waits for the file to be closed. The
REPL re-indexes the note when the editor returns.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Mapping

from tinychat.errors import TinychatError

GOTO_EDITORS = ("code", "code-insiders", "codium")  # take --goto FILE:LINE, not +LINE


def chosen_editor(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The editor command from $VISUAL or $EDITOR, split as a shell would ("code --wait");
    empty when neither is set."""
    for name in ("VISUAL", "EDITOR"):
        value = environ.get(name, "").strip()
        if value:
            try:
                return shlex.split(value)
            except ValueError as error:  # an unclosed quote
                raise TinychatError(f"${name}={value!r}: {error}; fix the variable") from None
    return []


def editor_command(editor: list[str], path: Path, line: int) -> list[str]:
    """The command that opens `path` at `line` in `editor`."""
    program = Path(editor[0]).name
    if program in GOTO_EDITORS:
        wait = [] if {"--wait", "-w"} & set(editor) else ["--wait"]  # else it returns at once
        return [*editor, *wait, "--goto", f"{path}:{line}"]
    return [*editor, f"+{line}", str(path)]


def open_at(editor: list[str], path: Path, line: int) -> int:
    """Run the editor on `path` at `line` in this terminal and wait for it; its exit code."""
    command = editor_command(editor, path, line)
    try:
        return subprocess.call(command)
    except OSError as error:
        variable = "VISUAL" if os.environ.get("VISUAL", "").strip() else "EDITOR"
        raise TinychatError(
            f"${variable}: cannot start {editor[0]} ({error.strerror or error});"
            f" set ${variable} to an editor on your PATH"
        ) from None
