"""Streamed answers on a terminal break between words, and still show each character at once."""

from __future__ import annotations

import io
import re

from hypothesis import given
from hypothesis import strategies as st

from tinychat.wrap import WordWrap

ERASE = re.compile(r"\x1b\[(\d+)D\x1b\[K")


def on_screen(written: str) -> list[str]:
    """The lines a terminal shows for `written` (cursor-back-and-clear applied; a space left at
    a line's end shows as nothing)."""
    lines = [""]
    position = 0
    while position < len(written):
        erase = ERASE.match(written, position)
        if erase:
            lines[-1] = lines[-1][: -int(erase.group(1))]
            position = erase.end()
            continue
        char = written[position]
        if char == "\n":
            lines.append("")
        else:
            lines[-1] += char
        position += 1
    return [line.rstrip(" ") for line in lines]


class Recording(io.StringIO):
    def __init__(self):
        super().__init__()
        self.flushes = 0

    def flush(self):
        self.flushes += 1


def stream(text: str, width: int | None) -> Recording:
    out = Recording()
    screen = WordWrap(out, width)
    for char in text:
        screen.write(char)
    return out


def test_a_word_that_reaches_the_edge_moves_whole_to_the_next_line():
    out = stream("Electricity supplier: Northgleam Energy.", 24)
    assert on_screen(out.getvalue()) == ["Electricity supplier:", "Northgleam Energy."]
    assert out.flushes == len("Electricity supplier: Northgleam Energy.")  # one per character


def test_a_word_longer_than_a_line_is_broken_and_no_width_means_no_breaks():
    assert on_screen(stream("ab KDW540-77812-B ok", 8).getvalue()) == [
        "ab",
        "KDW540-7",
        "7812-B",
        "ok",
    ]
    text = "Electricity supplier: Northgleam Energy."
    assert stream(text, None).getvalue() == text  # a pipe or a test: exactly as written


@given(st.text(alphabet="ab ", max_size=80), st.integers(min_value=4, max_value=30))
def test_wrapping_never_passes_the_edge_and_keeps_every_word(text, width):
    lines = on_screen(stream(text, width).getvalue())
    assert all(len(line) <= width for line in lines)
    # the same words in the same order, where no word is longer than a line
    if all(len(word) < width for word in text.split()):
        assert " ".join(lines).split() == text.split()
