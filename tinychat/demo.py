"""The questions `tinychat demo` asks when given none: what a person new to the notes would ask.

For the bundled notes, three fixed ones. Elsewhere, one about each of a few subjects spread
over the folder, a subject being a note's first heading (when it is a name, not a sentence)
or else its file name. A subject is asked about as a person would: a name as the notes write
it ("what is Keras?"), a plural ("what are the useful numbers?"), anything else with "what
about" ("what about the ferry?", "what about mum's banana bread?"). A heading's aside after a
comma, colon, dash or bracket ("Lisbon trip, October") is left out of the question.
"""

from __future__ import annotations

import re

from tinychat.knowledge import Knowledge
from tinychat.locations import is_bundled
from tinychat.sentences import subject_of

# What a newcomer asks of the bundled notes (each answered by the sentence it names).
BUNDLED_QUESTIONS = (
    "what is keras?",
    "how many attention heads does tinychat use?",
    "what does temperature 0 mean?",
)
SUBJECT_WORDS = 4  # at most this many words in a heading used as a demo question's subject
ASIDE = re.compile(r"\s*(?:[,:;(\[]|\s[-\u2013\u2014]\s).*$")  # ", October", " - draft", " (2024)"
DETERMINERS = ("the", "a", "an", "my", "our", "your", "his", "her", "their", "this")
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def demo_questions(knowledge: Knowledge, count: int = 3) -> list[str]:
    """`count` questions about subjects spread over the folder (fixed ones for bundled notes)."""
    if is_bundled(knowledge.folder):
        return list(BUNDLED_QUESTIONS[:count])
    questions: list[str] = []
    for path, state in sorted(knowledge.files.items()):
        title = next((chunk.title for chunk in state.chunks if chunk.title), "")
        title = ASIDE.sub("", title.split(" / ")[0])  # the outermost heading, without its aside
        if len(title.split()) > SUBJECT_WORDS:  # a heading that is a sentence names no subject
            title = ""
        subject = title or subject_of(path.rsplit("/", 1)[-1])
        names = _names(" ".join(chunk.text for chunk in state.chunks))
        question = asked_about(subject, names) if subject.strip() else ""
        if question and question not in questions:
            questions.append(question)
    step = max(1, len(questions) // count)  # spread over the folder, not its first few names
    return questions[::step][:count]


def _names(text: str) -> dict[str, str]:
    """{lower case: spelling} of the words `text` always writes with a capital ("Keras")."""
    forms: dict[str, set[str]] = {}
    for word in WORD.findall(text):
        forms.setdefault(word.lower(), set()).add(word)
    return {
        lower: sorted(spellings)[0]
        for lower, spellings in forms.items()
        if all(spelling[0].isupper() for spelling in spellings)
    }


def _plural(word: str) -> bool:
    singular_endings = ("ss", "us", "is", "as", "os")  # "glass", "bus", "atlas", "kudos"
    return len(word) > 3 and word.endswith("s") and not word.endswith(singular_endings)


def asked_about(subject: str, names: dict[str, str]) -> str:
    """A question about `subject`, its words spelled as the notes spell names (`names`)."""
    words = [names.get(word.lower(), word.lower()) for word in subject.split()]
    shown = " ".join(words)
    if all(word.lower() in names for word in words):
        return f"what is {shown}?"
    if words[0] in DETERMINERS or words[0].endswith("'s"):
        return f"what about {shown}?"
    if _plural(words[-1]):
        return f"what are the {shown}?"
    return f"what about the {shown}?"
