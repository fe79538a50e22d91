"""The [CONTEXT] lines: the retriever's sentences, best first, and two that tie on one line.

The model answers by copying its first context line. When the question's words pick no single
sentence of a note ("what do the hens sleep on?" over a note where nothing says "sleep"), the
note's best two sentences score (nearly) the same, and the first is a coin toss. Such a tie is one
line, so the answer holds both sentences and the reader sees which one answers:

    [CONTEXT]
    Their coop is cleaned out every Sunday. The bedding is hemp, never straw.
    A bale of hemp bedding costs £9.

Only sentences of the same note tie (a tie across notes is two subjects, not one answer), and
only when the joined line fits the window whole and is no longer than an answer may be
(`generation.max_answer_chars`); otherwise each stays a line of its own. Two sentences that
share a run of characters ("... 3.15 to 4pm" and "... 3.15 to 4.30pm") stay apart too: copying
the second, the model can lose its place in the run and carry on from the first ("September
2026, at 41,4" for "September 2027").
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from tinychat import rules
from tinychat.prompt import CONTEXT_MARKER, Prompt, build_prompt, one_line
from tinychat.retrieval import Hit

STOPS = (".", "!", "?")  # how a sentence ends; a joined sentence without one gains a "."
# Scores this close say the same about the question (a sentence scores 0 to about 2). Measured
# (README): 0.05 adds keyword recall on every set without costing F1; 0.1 costs invented F1.
TIE = 0.05
# Joined sentences sharing this many characters in a row were miscopied (README): the blind3
# set's garbled answers at window 640 shared 11 to 36 ("3.15 to 4", " collected ").
SHARED_RUN = 10


@dataclass(frozen=True)
class Line:
    """One [CONTEXT] line: one sentence, or two of one note that tie, and the hits behind it
    (none for a line made up in training)."""

    sentences: tuple[str, ...]
    hits: tuple[Hit, ...] = ()

    @property
    def text(self) -> str:
        """The sentences joined, each ending in a stop ("Library: Tue to Sat 9 to 5" gains one,
        so two labelled lines do not run into each other)."""
        if len(self.sentences) == 1:
            return self.sentences[0]
        return " ".join(
            s if s.rstrip().endswith(STOPS) else s.rstrip() + "." for s in self.sentences
        )


def context_lines(hits: list[Hit], one_thing: bool = True) -> list[Line]:
    """The hits as context lines, best first: the best two on one line when they tie and say
    one thing (`one_thing`, which retrieval judges: the same subject, the same kind of answer)."""
    lines = [Line((hit.chunk.text,), (hit,)) for hit in hits]
    if len(hits) >= 2 and one_thing and rules.active("ties") and ties(hits[0], hits[1]):
        lines[:2] = [Line((hits[0].chunk.text, hits[1].chunk.text), (hits[0], hits[1]))]
    return lines


def ties(best: Hit, second: Hit) -> bool:
    """Whether two sentences of the same note match the question equally well, and can share a
    line without the copy mixing them up."""
    return (
        best.chunk.path == second.chunk.path
        and best.score - second.score <= TIE
        and longest_shared_run(best.chunk.text, second.chunk.text) < SHARED_RUN
    )


def longest_shared_run(a: str, b: str) -> int:
    """The length of the longest run of characters `a` and `b` both hold."""
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match().size


def fit(
    lines: list[Line], query: str, window: int, max_answer_chars: int
) -> tuple[Prompt, list[Line]]:
    """The prompt for `lines` and the lines it holds. A joined line that would have to be cut to
    fit, or that is longer than an answer may be, is split into its sentences again: half a
    second sentence helps nobody."""
    prompt = build_prompt([line.text for line in lines], query, window, max_answer_chars)
    joined = lines and len(lines[0].sentences) > 1
    if joined and (
        not whole_first_line(prompt, lines[0]) or len(one_line(lines[0].text)) >= max_answer_chars
    ):
        first = lines[0]
        lines = [
            Line((sentence,), first.hits[i : i + 1]) for i, sentence in enumerate(first.sentences)
        ] + lines[1:]
        prompt = build_prompt([line.text for line in lines], query, window, max_answer_chars)
    return prompt, lines[: prompt.context_used]


def whole_first_line(prompt: Prompt, line: Line) -> bool:
    """Whether `prompt` holds `line` as its first context line, uncut."""
    return prompt.context_used > 0 and prompt.text.startswith(
        CONTEXT_MARKER + one_line(line.text) + "\n"
    )
