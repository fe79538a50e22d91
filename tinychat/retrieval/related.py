"""Everyday words that mean the same: "shut" asks about a sentence that says "closes".

People ask in their own words. "when does the library shut?" shares no word with "The library
closes at 5.", and a tiny model trained on a few notes cannot learn that the two mean the same.
So retrieval reads a small table of everyday English word groups (`related_words.txt`, one group
a line) and lets a question's word also match the other words of its groups, for less than the
word itself (`lexical.RELATED_WEIGHT`). The table is plain English, written without looking at
any question set, and is the same for every folder of notes.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tinychat import rules

TABLE = Path(__file__).with_name("related_words.txt")


@functools.cache
def groups_by_word(stem) -> dict[str, frozenset[str]]:
    """Stemmed word -> the stems of every word that shares a group with it (itself left out).

    `stem` is the retriever's stemmer, so "shuts" and "closing" meet the table as "shut" and
    "clos"."""
    related: dict[str, set[str]] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        stems = {stem(word.lower()) for word in words}
        for word in stems:
            related.setdefault(word, set()).update(stems - {word})
    return {word: frozenset(others) for word, others in related.items() if others}


def related(stemmed: str, stem) -> frozenset[str]:
    """The stems that mean the same as `stemmed` ("shut" -> {"clos"}); empty if none."""
    if not rules.active("related_words"):
        return frozenset()
    return groups_by_word(stem).get(stemmed, frozenset())
