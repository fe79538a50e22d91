"""What an answer is shown with: where it came from, as a path a person can type
(`notes/ferry.md:3`), and a mark when it is the best matching sentence rather than the model's.

The REPL shows it under each answer, `--cite` puts it after a piped answer, `/open` opens it
and `/save` writes it. A path is shown relative to the current folder when the notes lie
inside it (`notes/ferry.md`), from the home folder otherwise (`~/notes/ferry.md`), else in
full: from where tinychat runs, each can be pasted after `vi`, `less` or `grep` as it stands,
and terminals that link `file:line` open it. (`--json` and `/sources` keep the path relative
to the knowledge folder: a program reads those, and they do not change with the folder
tinychat runs in.)
"""

from __future__ import annotations

import os
from pathlib import Path

from tinychat.chat import Answer
from tinychat.retrieval import Hit
from tinychat.terminal import printable_line

# Said after an answer that is the best matching sentence, not the model's: while the first
# training runs (in the REPL, or in another process on the same folder), or with --no-train.
RETRIEVED_MARK = "(model still training: best matching sentence)"
UNTRAINED_MARK = "(no trained model yet: best matching sentence)"
WEAK_MARK = "(closest note; it may not answer this)"  # a weak match: /sources says why


def shown_path(folder: Path, relative: str, cwd: Path | None = None) -> str:
    """The note `relative` (to the knowledge `folder`) as typed from `cwd`: see the module."""
    return typed(Path(folder) / relative, cwd)


def typed(path: Path, cwd: Path | None = None) -> str:
    """`path` as a person types it from `cwd`: relative below it, else from ~, else in full."""
    path = Path(os.path.abspath(path))
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    home = Path(os.path.abspath(Path.home()))
    if path.is_relative_to(cwd):
        return path.relative_to(cwd).as_posix()
    if path.is_relative_to(home) and home != Path(home.anchor):
        return "~/" + path.relative_to(home).as_posix()
    return path.as_posix()


def lines_of(hit: Hit) -> str:
    """'12', or '12-14' for a sentence hard-wrapped over lines 12 to 14."""
    chunk = hit.chunk
    return f"{chunk.line}" + (f"-{chunk.end_line}" if chunk.end_line != chunk.line else "")


def location(folder: Path, hit: Hit, cwd: Path | None = None) -> str:
    """`notes/ferry.md:3`: the sentence's file as typed from `cwd`, and its line or lines."""
    return printable_line(f"{shown_path(folder, hit.chunk.path, cwd)}:{lines_of(hit)}")


def citation(folder: Path, answer: Answer, cwd: Path | None = None) -> str:
    """Where the answer was copied from ('notes/ferry.md:3', two sentences joined by ', ' unless
    they share a line), or '' for a declined answer or one that copied nothing."""
    return ", ".join(dict.fromkeys(location(folder, hit, cwd) for hit in answer.cited))
