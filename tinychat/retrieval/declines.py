"""When the notes do not hold the answer: decline with one fixed line instead of answering.

Decided from retrieval, by rules measured on the three question sets (README, "Declining"):
- nothing in the notes shares a word with the question ("???", "what is the capital of france?"
  over notes that never mention France): no sentence scores above 0;
- the question names no subject of the notes and half its words appear nowhere in them;
- the question names a look-alike the notes do not have: "the kelby ferry" over notes about two
  other ferries: a word the notes never use, in the place of a name, before a kind of thing the
  notes give names to; or a label the notes never write after a word they label ("bed 5" over
  notes about Beds 1 to 4);
- the best sentence matches too little of the question (its score is under `FLOOR`).
Known limit: a question about a subject the notes *do* describe, asking a fact they do not give
("who conducts the choir?" when no conductor is named), is mostly still answered: its best
sentence looks like an answer to every signal measured so far, and a model taught to write the
decline line when its context lacks the answer did not learn to tell the two apart (README).
"""

from __future__ import annotations

from dataclasses import dataclass

# a best score under this declines (how many answerable questions that declines: README)
FLOOR = 0.25
# with no subject named, this share of words found nowhere in the notes declines
UNKNOWN_SHARE = 0.5


@dataclass(frozen=True)
class Evidence:
    """What retrieval found for a question: the best sentence's score and its parts."""

    score: float  # the best sentence's score (0 when nothing matched)
    subject: float  # the share of the question's words its note's subject holds
    unknown: float  # the share of the question's words no note holds
    stranger: str = ""  # a name the notes never use, on a kind of thing they describe ("kelby")


def declines(evidence: Evidence | None) -> bool:
    """Whether to answer "the notes don't say" (None: the retriever found nothing at all)."""
    return bool(why_declined(evidence))


def why_declined(evidence: Evidence | None) -> str:
    """Why the notes do not hold the answer, in a few words for `/sources`; "" to answer."""
    if evidence is None or evidence.score <= 0:
        return "nothing in the notes matches the question"
    if evidence.subject == 0 and evidence.unknown >= UNKNOWN_SHARE:
        return "it names no subject of the notes, and most of its words are in none of them"
    if evidence.stranger:
        return f'no note mentions "{evidence.stranger}"'
    if evidence.score < FLOOR:
        return "the closest sentence matches too little of it"
    return ""
