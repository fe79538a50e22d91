"""An answer streamed to a terminal, its lines broken between words.

A terminal breaks a long line wherever its edge falls ("Northgleam En|ergy"). The model writes
one character at a time and each is shown at once, so a word's length is not known while it is
being written. When a word reaches the edge, the part already shown is erased and written again
at the start of the next line: the answer still streams character by character, and only the
screen sees the breaks (the answer's text keeps its spaces).
"""

from __future__ import annotations

import shutil
import textwrap
from typing import TextIO

ERASE_BACK = "\x1b[{}D\x1b[K"  # cursor back n columns, then clear to the end of the line


class WordWrap:
    """Writes characters to `out` and flushes after each; with a `width`, breaks lines between
    words at that many columns (without one, as a pipe or a test wants: no breaks)."""

    def __init__(self, out: TextIO, width: int | None):
        self.out, self.width = out, width
        self.column = 0  # where the next character goes
        self.word = ""  # the current word's characters on this line

    def write(self, text: str) -> None:
        for char in text:
            self._put(char)
        self.out.flush()

    def _put(self, char: str) -> None:
        if self.width is None:
            self.out.write(char)
            return
        if char == " ":
            self.word = ""
            if self.column >= self.width:  # a space at the edge becomes the line break
                self.out.write("\n")
                self.column = 0
            else:
                self.out.write(" ")
                self.column += 1
            return
        if self.column >= self.width:
            if 0 < len(self.word) < self.column:  # move the word begun here to the next line
                self.out.write(ERASE_BACK.format(len(self.word)) + "\n" + self.word)
                self.column = len(self.word)
            else:  # a word as long as the line: break it
                self.out.write("\n")
                self.column, self.word = 0, ""
        self.out.write(char)
        self.column += 1
        self.word += char


def fill_lines(text: str, width: int, indent: int = 0) -> str:
    """Each line of `text` broken between words at `width` columns, its later lines indented by
    `indent` spaces; a word longer than the line (a path) is kept whole. For text printed all at
    once (`tinychat info`, `tinychat log`) on a terminal, which would break it mid-word."""
    return "\n".join(
        textwrap.fill(
            line,
            width=width,
            subsequent_indent=" " * indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        if line.strip()
        else line
        for line in text.splitlines()
    )


def terminal_width(out: TextIO) -> int | None:
    """The width to wrap `out` at, or None when it is not a terminal (a pipe gets no breaks)."""
    if not out.isatty():
        return None
    return max(20, shutil.get_terminal_size().columns - 1)
