"""What the retriever searches: the question, plus the subject a follow-up refers back to.

The model cannot hold a conversation, but the search can. After "where does the Ostrevane ferry
go?", the question "which family runs it?" names no subject of the notes, so it is searched
together with the subject of the last answer's note ("ostrevane ferry"). The model's prompt still
holds the question as typed. A question that names a subject of its own ("and the Kelmoor
ferry?") stands alone and becomes the new subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing import TYPE_CHECKING

from tinychat import rules
from tinychat.retrieval.terms import content_words, stem

if TYPE_CHECKING:  # the lexical index imports nothing of this module's; the hint is all
    from tinychat.retrieval.lexical import LexicalIndex

REFERS_BACK = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|there|that one|this one|he|him|his|she|her|hers|"
    r"those|these|that|this)\b|^\s*(and|also|what about|how about)\b",
    re.IGNORECASE,
)
SHORT = 2  # "how tall?", "and the price?": a question of this many words or fewer names nothing new
# "what about the Kelmoor ferry?": the same question as before, of a new subject
SAME_QUESTION = re.compile(r"^\s*(what about|how about|and)\b", re.IGNORECASE)
WORDS = re.compile(r"[a-z0-9]+", re.IGNORECASE)


@dataclass
class Conversation:
    """The subject the conversation is about so far ("" at the start, and after `/new`)."""

    subject: str = ""
    question: str = ""  # the last question searched

    def searched(self, question: str, index: LexicalIndex) -> str:
        """The text to search for `question`: with the conversation's subject when it refers back,
        or with the last question when it asks the same of a new subject ("what about X?")."""
        if not self.subject or not rules.active("follow_ups"):
            searched = question
        elif follows_up(question, self.subject, index) and not finds_alone(
            question, self.subject, index
        ):
            searched = f"{question} {self.subject}"
        elif SAME_QUESTION.search(question) and self.question and rules.active("same_question"):
            searched = f"{question} {without(self.question, self.subject)}"
        else:
            searched = question
        self.question = question
        return searched

    def remember(self, subject: str) -> None:
        """The subject of the note the last answer came from."""
        self.subject = subject

    def reset(self) -> None:
        self.subject = self.question = ""


def without(question: str, subject: str) -> str:
    """The words of `question` that are not words of `subject`: what was asked ("how long is the"),
    not of what ("heron loop"). Question words stay: they say what kind of answer is wanted."""
    subject_stems = {stem(word) for word in content_words(subject)}
    return " ".join(
        word for word in WORDS.findall(question.lower()) if stem(word) not in subject_stems
    )


def refers_back(question: str) -> bool:
    """Whether `question` points back at what was said before by a word: "it", "they",
    "there", "and ...", "what about ..."."""
    return bool(REFERS_BACK.search(question))


def finds_alone(question: str, subject: str, index: LexicalIndex) -> bool:
    """Whether a short `question` that points back at nothing finds its sentence by a word of
    its own: "where is the stopcock?" after a question about the cat is searched with the cat,
    whose sentences outscore the one sentence that says "stopcock"; it stands alone when the
    search with the subject loses every word of the question that few sentences hold."""
    if refers_back(question) or not rules.active("finds_alone"):
        return False
    rare = {stem(word) for word in index.rare_words(question)}
    hits = index.search(f"{question} {subject}", 1)
    held = {stem(word) for word in content_words(hits[0].chunk.text)} if hits else set()
    return bool(rare) and not rare & held


def follows_up(question: str, subject: str, index: LexicalIndex) -> bool:
    """Whether `question` refers back to `subject`: it says "it", "they", "there", "and ..." or is
    a few words long ("how tall?"), and it names no other subject of the notes."""
    pointed = refers_back(question)
    short = len(WORDS.findall(question)) <= SHORT + 2  # + 2 for "how", "is"
    if not pointed and not (short and rules.active("short_follow_ups")):
        return False
    # A short question that points back at nothing ("what is keras?" after a question about
    # parameters) names a subject with any word of a note's name or heading, even one many
    # sentences hold; one that says "it" or "and ..." only with a rarer one ("what does he do
    # for work?" stays with its subject although work.txt is a note).
    return not index.names_a_subject(question, besides=subject, loosely=not pointed)
