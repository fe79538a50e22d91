"""Characters <-> ids: the model's whole vocabulary.

The vocabulary is the newline, the 95 printable ASCII characters (space to '~') and one
id for every other character. Before encoding, text is folded towards ASCII so that
accented letters, curly quotes and dashes keep their meaning ("café" -> "cafe");
what still falls outside ("£", "€", "°") becomes the unknown id. An answer shows what the
model copied as the note writes it (`Spelling`): "Inês" and "£", not "Ines" and the unknown
id; other decoding shows U+FFFD.
The prompt markers ([CONTEXT], [QUERY], [ANSWER]) are plain characters, not special ids.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

CHARS = "\n" + "".join(chr(code) for code in range(32, 127))  # 96 characters
UNKNOWN_ID = len(CHARS)
UNKNOWN_CHAR = "\ufffd"  # how the unknown id is shown
VOCAB_SIZE = len(CHARS) + 1  # 97
NEWLINE_ID = 0

_ID_OF = {char: index for index, char in enumerate(CHARS)}
# Zero-width space, non-joiner, joiner, word joiner and a byte-order mark inside text: common in
# text pasted from web pages, they split a word for the retriever ("zor\u200bblax") and show as
# the unknown character in an answer, and they carry no text. Dropped from notes and questions.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def without_invisible(text: str) -> str:
    """`text` without zero-width characters (see _INVISIBLE); line numbers are unchanged."""
    return text.translate(_INVISIBLE)

# Characters NFKD cannot fold to ASCII but whose meaning survives as ASCII.
_FOLD = str.maketrans(
    {
        "\t": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u2022": "-",
        "\u00a0": " ",
        "\u00d7": "x",
        "\u00df": "ss",
        "\u00e6": "ae",
        "\u00f8": "o",
        "\u0153": "oe",
        "\r": None,
    }
)


def normalize(text: str) -> str:
    """Fold `text` towards the vocabulary: ASCII look-alikes replace what has one."""
    text = text.translate(_FOLD)
    if text.isascii():
        return text
    folded = unicodedata.normalize("NFKD", text)
    return "".join(char for char in folded if not unicodedata.combining(char))


def encode(text: str) -> np.ndarray:
    """Ids of `text` after `normalize`; characters outside the vocabulary become UNKNOWN_ID."""
    return np.array([_ID_OF.get(char, UNKNOWN_ID) for char in normalize(text)], dtype=np.int32)


def decode(ids: "np.ndarray | list[int]") -> str:
    """Text of `ids`; the unknown id becomes U+FFFD."""
    return "".join(id_to_char(int(i)) for i in ids)


# An ordinary character takes the note's spelling only where at least this many characters
# of the answer, ending with it, stand in the context: a lone "e" could be any "e" (or "ê").
SURE_MATCH = 3


@dataclass(frozen=True)
class Spelling:
    """A context as the model reads it, and the note's own characters behind it.

    The model reads "Inês" as "Ines" and "£" as the unknown id, so it can only write those
    back. `shown` finds where the answer so far stands in the context (its longest end, up to
    `longest` characters, as a copy would) and gives the character the note has there.
    """

    folded: str  # normalize(context), with every character outside the vocabulary as U+FFFD
    origin: tuple[str, ...]  # for each folded character, the note's

    @staticmethod
    def of(context: str) -> "Spelling":
        folded: list[str] = []
        origin: list[str] = []
        for char in unicodedata.normalize("NFC", context):
            parts = normalize(char)
            # one note character a character of the answer: "ae" for "æ" and "..." for "…"
            # stay as folded, so the answer keeps one character for each one the model wrote
            for part in parts:
                folded.append(part if part in _ID_OF else UNKNOWN_CHAR)
                origin.append(char if len(parts) == 1 else part)
        return Spelling("".join(folded), tuple(origin))

    def shown(self, copied: str, longest: int = 16) -> str:
        """How to show the last character of `copied` (what the model wrote so far, U+FFFD for
        the unknown id). Only a printable character of the note is shown: a control character
        (an escape sequence) stays U+FFFD, so an answer can never drive the terminal."""
        last = copied[-1]
        # an answer's first characters are matched at a line's start, where a copy begins
        text = copied if len(copied) >= SURE_MATCH else "\n" + copied
        for size in range(min(longest, len(text)), 0, -1):
            start = self.folded.find(text[-size:])
            if start < 0:
                continue
            note = self.origin[start + size - 1]
            if last == UNKNOWN_CHAR:
                return note if note.isprintable() else UNKNOWN_CHAR
            sure = size >= min(SURE_MATCH, len(text))
            return note if sure and note.isprintable() else last
        return last


def id_to_char(token: int) -> str:
    """One id's character."""
    return CHARS[token] if 0 <= token < len(CHARS) else UNKNOWN_CHAR
