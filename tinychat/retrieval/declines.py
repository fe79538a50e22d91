"""Whether the notes hold the answer: decline only on strong evidence, else flag a weak match.

Refusing a question the notes answer is worse than a cited guess: the reader can check a cited
sentence, but not one that was never shown. So the notes "don't say" only when nothing in them is
about what the question asks of:
- nothing in the notes shares a word with the question;
- no word that says what the question is about is in any note ("who wrote pride and prejudice?"
  over notes that never mention either). Words that shape a question ("how many", "what time"),
  chatter ("please", "exactly") and attribute words ("number", "code") say what is asked, not of
  what, and a misspelling of a note's word is that word;
- it asks for a label the notes never write after a word they label ("bed 5" over notes about
  beds 1 to 4, "aunt beatrice" over aunts Verity and Rosalind).
Otherwise the best sentence answers, and the answer is marked as a weak match when the evidence
for it is thin: half the words saying what the question is about are in no note ("the
plumber's number" over notes without a plumber), or the best sentence matches little of the
question, or it lacks the kind of answer asked for (no time for "what time ...?"). Measured:
`bench/RESULTS.md`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinychat import rules

# a best score under this is a weak match (a sentence scores 0 to about 2)
FLOOR = 0.25


@dataclass(frozen=True)
class Evidence:
    """What retrieval found for a question: the best sentence's match and the question's words."""

    score: float  # the best sentence's score (0 when nothing matched)
    subject: float  # the share of the question's words its note's subject holds
    about: tuple[str, ...] = ()  # the question's words that say what it is about
    absent: tuple[str, ...] = ()  # those of them that no note holds, in any form
    label: str = ""  # a label the notes never write after a word they label ("bed 5")
    stranger: str = ""  # a word in a name's place that no note holds ("kelby" of "the kelby ferry")
    kind_missing: str = ""  # the kind of answer asked for that the best sentence lacks ("time")


@dataclass(frozen=True)
class Verdict:
    """Decline, answer, or answer and say the match is weak; each reason in a few words."""

    declined: str = ""  # why the notes do not hold the answer ("" to answer)
    weak: str = ""  # why the best sentence may not answer ("" for a good match)


def judge(evidence: Evidence | None) -> Verdict:
    """Whether to answer "the notes don't say", answer, or answer with a weak-match marker
    (None: the retriever found nothing at all)."""
    if evidence is None or evidence.score <= 0:
        return Verdict(declined="nothing in the notes matches the question")
    if rules.active("decline_unknown") and evidence.about and evidence.absent == evidence.about:
        return Verdict(declined=f"no note mentions {_words(evidence.absent)}")
    if rules.active("decline_label") and evidence.label:
        return Verdict(declined=f'no note mentions "{evidence.label}"')
    return Verdict(weak=why_weak(evidence))


def why_weak(evidence: Evidence) -> str:
    """Why the best sentence may not answer the question, in a few words; "" if nothing says so."""
    if rules.active("weak_stranger") and evidence.stranger:
        return f'no note mentions "{evidence.stranger}"'
    # one word of several ("my friend asked ...") is often only another way of saying it
    if rules.active("weak_absent") and 2 * len(evidence.absent) >= len(evidence.about) > 0:
        return f"no note mentions {_words(evidence.absent)}"
    if rules.active("weak_score") and evidence.score < FLOOR:
        return "the closest sentence matches little of the question"
    if rules.active("weak_kind") and evidence.kind_missing:
        return f"the closest sentence holds no {evidence.kind_missing}"
    return ""


def _words(words: tuple[str, ...]) -> str:
    """'"plumber"', '"pride" or "prejudice"', '"a", "b" or "c"'."""
    quoted = [f'"{word}"' for word in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
