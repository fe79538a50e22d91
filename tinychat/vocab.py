"""Characters <-> ids: the model's whole vocabulary.

The vocabulary is the newline, the 95 printable ASCII characters (space to '~') and one
id for every other character. Before encoding, text is folded towards ASCII so that
accented letters, curly quotes and dashes keep their meaning ("café" -> "cafe");
what still falls outside ("£", "€", "°") becomes the unknown id. An answer shows the
character the model copied there (`restore_unknown`); other decoding shows U+FFFD.
The prompt markers ([CONTEXT], [QUERY], [ANSWER]) are plain characters, not special ids.
"""

from __future__ import annotations

import unicodedata

import numpy as np

CHARS = "\n" + "".join(chr(code) for code in range(32, 127))  # 96 characters
UNKNOWN_ID = len(CHARS)
UNKNOWN_CHAR = "\ufffd"  # how the unknown id is shown
VOCAB_SIZE = len(CHARS) + 1  # 97
NEWLINE_ID = 0

_ID_OF = {char: index for index, char in enumerate(CHARS)}
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


def restore_unknown(context: str, written: str, longest: int = 16) -> str:
    """The character the model copied where it wrote the unknown id. The model reads "£", "€" or
    "°" as one unknown id and can only write that id back; the character it copied is the one
    that follows, in `context`, the longest end of the answer `written` so far (up to `longest`
    characters): "at " over "... at £2.40 ..." -> "£". Only a printable character is restored:
    a control character copied from a note (an escape sequence) stays U+FFFD, so an answer can
    never drive the terminal. U+FFFD too when the context holds no such character."""
    text = normalize(context)
    for size in range(min(longest, len(written)), -1, -1):
        tail = written[len(written) - size :]
        start = text.find(tail)
        while start >= 0:
            after = start + size
            if after < len(text) and text[after] not in _ID_OF:
                return text[after] if text[after].isprintable() else UNKNOWN_CHAR
            start = text.find(tail, start + 1)
    return UNKNOWN_CHAR


def id_to_char(token: int) -> str:
    """One id's character."""
    return CHARS[token] if 0 <= token < len(CHARS) else UNKNOWN_CHAR
