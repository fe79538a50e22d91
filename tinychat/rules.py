"""The named rules that read notes and questions, each of which can be switched off to measure it.

Every English rule of retrieval (and of the chunking and context it relies on) is named here with
what it does. The code of a rule asks `active(name)`; a benchmark runs a question set
`without(name)` and compares (`bench/results.py` writes what each rule changes to
`bench/RESULTS.md`). A rule that does not pay on notes it was not written from is deleted, not
left switched off. Rules that shape the index (how sentences are cut and counted) apply to
indexes built while they are switched off: measure them on a fresh state folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

RULES: dict[str, str] = {
    "subjects": "a note's subject (file name, headings, first sentence) ranks all its sentences",
    "attributes": "'number', 'code', 'time' say which fact is asked, not which note is meant",
    "related_words": "a question's word also matches words of the same meaning (related_words.txt)",
    "opening_twice": "a sentence's first content words count twice: it is about what it opens with",
    "misspellings": "a long word one slip from a word of the notes is that word ('univeristy')",
    "item_labels": "a list item's label ('Babysitter: Freya. She charges ...') ranks its sentences",
    "follow_ups": "a question saying 'it' is searched with the subject of the last answer",
    "short_follow_ups": "so is a question of a few words that names no subject of its own",
    "finds_alone": "a short follow-up stands alone when the subject hides its rare words",
    "same_question": "'what about X?' asks the last question again, of X",
    "decline_unknown": "decline when no word saying what the question is about is in the notes",
    "decline_label": "decline 'bed 5' over notes about beds 1 to 4: a label the notes never write",
    "weak_stranger": "weak match: a word in a name's place that no note holds ('the kelby ferry')",
    "weak_absent": "weak match: half the words saying what the question is about are in no note",
    "weak_score": "weak match: the best sentence matches little of the question",
    "weak_kind": "weak match: the best sentence lacks the kind of answer asked for",
    "ties": "two sentences of one note that score the same share one context line",
}

# Each kind of answer a question may ask for (retrieval/answer_kinds.py) is a rule of its own.
RULES |= {
    f"kind_{name}": f"a sentence holding a {noun} ranks up when a question asks for one"
    for name, noun in (
        ("price", "price"), ("colour", "colour"), ("material", "material"),
        ("phone", "phone number"), ("code", "code"), ("time", "time of day"),
        ("frequency", "frequency"), ("year", "year"), ("date", "date or day"),
        ("temperature", "temperature"), ("length", "length"), ("weight", "weight"),
        ("duration", "duration"), ("size", "size"), ("count", "number"), ("person", "name"),
        ("place", "place"),
    )
}  # fmt: skip

_switched_off: set[str] = set()


def active(name: str) -> bool:
    """Whether rule `name` is on (every rule is, except inside `without`)."""
    assert name in RULES, f"unknown rule {name}"
    return name not in _switched_off


@contextmanager
def without(*names: str) -> Iterator[None]:
    """Switch rules off for a measurement, e.g. `with without("related_words"): evaluate(...)`."""
    unknown = set(names) - set(RULES)
    if unknown:
        raise ValueError(f"unknown rules {sorted(unknown)}; known: {', '.join(RULES)}")
    before = set(_switched_off)
    _switched_off.update(names)
    try:
        yield
    finally:
        _switched_off.clear()
        _switched_off.update(before)
