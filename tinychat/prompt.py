"""Build the text the model reads: [CONTEXT] lines, then [QUERY], then [ANSWER].

    [CONTEXT]
    Keras provides a high-level API for building neural networks in TensorFlow.
    TensorFlow is a machine learning framework for building and training models.
    [QUERY]
    what is keras?
    [ANSWER]

The model writes its answer after the last line and ends it with a newline. Training
builds its examples with the same function, so the model sees at answer time exactly the
layout it learned. Everything is fitted into the model's window, leaving room for an
answer as long as the longest context line (answers are mostly copied from one).
"""

from __future__ import annotations

from dataclasses import dataclass

from tinychat.vocab import normalize

CONTEXT_MARKER = "[CONTEXT]\n"
QUERY_MARKER = "[QUERY]\n"
ANSWER_MARKER = "[ANSWER]\n"
MIN_ANSWER_ROOM = 24  # even with no context, leave the model this much room to answer


@dataclass(frozen=True)
class Prompt:
    text: str
    context_used: int  # how many of the given context lines fit


def one_line(text: str) -> str:
    """Fold all whitespace (newlines included) to single spaces, and characters to the vocabulary's
    ("…" becomes "..."), so a line's length is what the model reads: each line is one item."""
    return " ".join(normalize(text).split())


def build_prompt(context: list[str], query: str, window: int, max_answer_chars: int) -> Prompt:
    """Fit as many context lines as the window allows, best first, then the query.

    The query is cut to a quarter of the window; the first context line is cut to fit rather
    than dropped; later lines that do not fit whole are left out.
    """
    query = one_line(query)[: window // 4]
    tail = QUERY_MARKER + query + "\n" + ANSWER_MARKER
    lines: list[str] = []
    for line in map(one_line, context):
        longest = max([len(line), *map(len, lines)])
        room = max(MIN_ANSWER_ROOM, min(max_answer_chars, longest + 1))
        free = (
            window
            - room
            - len(CONTEXT_MARKER)
            - len(tail)
            - sum(len(kept) + 1 for kept in lines)
            - 1
        )
        if len(line) <= free:
            lines.append(line)
        elif not lines and free >= MIN_ANSWER_ROOM:
            lines.append(_cut(line, free))  # a shortened best line beats no context at all
        else:
            break
    text = CONTEXT_MARKER + "".join(line + "\n" for line in lines) + tail
    return Prompt(text, len(lines))


def _cut(line: str, limit: int) -> str:
    """Shorten to at most `limit` characters, at a space when one is near the end."""
    if len(line) <= limit:
        return line
    space = line.rfind(" ", limit // 2, limit + 1)
    return line[: space if space > 0 else limit]
