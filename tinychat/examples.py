"""Training examples: turn knowledge chunks into rows of character ids.

Two kinds of rows, mixed by `train.qa_share`:
- raw text: a window of the knowledge as written, so the model learns its characters;
- question/answer: a question generated from one sentence, the [CONTEXT] the retriever
  returns for that question (the same retriever as at answer time, mistakes included),
  a few distractor sentences, and the sentence itself as the answer.
Names and numbers in a QA row are swapped for invented ones, consistently in context,
question and answer, so the only way to lower the loss is to read the context and copy
from it, not to memorise the knowledge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinychat.config import Config
from tinychat.context import Line, context_lines, fit
from tinychat.prompt import build_prompt, one_line
from tinychat.retrieval import Hit, Retriever
from tinychat.retrieval.terms import STOPWORDS
from tinychat.sentences import Chunk
from tinychat.vocab import encode

WORD = re.compile(r"[A-Za-z0-9]+(?:[.,'-][A-Za-z0-9]+)*")
NUMBER = re.compile(r"^\d[\d,.]*$")
ROWS_BETWEEN_REPORTS = 256  # about a quarter of a second of row making
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


@dataclass(frozen=True)
class Rows:
    """Model inputs, next-character targets and loss weights, each (N, window)."""

    inputs: np.ndarray
    targets: np.ndarray
    weights: np.ndarray


def content_words(text: str) -> list[str]:
    """Words worth asking about: not stopwords, at least 3 letters or holding a digit."""
    return [
        w
        for w in WORD.findall(text)
        if w.lower() not in STOPWORDS and (len(w) >= 3 or any(c.isdigit() for c in w))
    ]


def make_question(sentence: str, rng: np.random.Generator) -> str:
    """A question a user might type about `sentence`, in one of several forms."""
    words = content_words(sentence) or WORD.findall(sentence) or [sentence]
    picked = [
        words[i]
        for i in sorted(
            rng.choice(len(words), size=min(len(words), int(rng.integers(1, 4))), replace=False)
        )
    ]
    topic = " ".join(picked).lower()
    form = rng.integers(5)
    if form == 0:  # keywords only
        return topic
    if form == 1:  # a wh-question template
        has_number = any(c.isdigit() for c in sentence)
        templates = [
            "what is {}?",
            "what about {}?",
            "tell me about {}",
            "which {}?",
            "who or what is {}?",
            "where is {}?",
            "explain {}",
            "what does {} do?",
            "{}?",
        ] + ["how many {}?"] * has_number
        return str(rng.choice(templates)).format(topic)
    all_words = WORD.findall(sentence)
    if form == 2 and len(all_words) > 3:  # cloze: the sentence with one content word blanked
        blank = str(rng.choice(words))
        return " ".join("___" if w == blank else w for w in all_words).lower() + "?"
    # a partial paraphrase: some of the sentence's words, in order
    keep = [w for w in all_words if rng.random() < 0.6] or all_words[:3]
    return " ".join(keep).lower() + "?"


def invented_word(rng: np.random.Generator) -> str:
    return "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4))))


def swap_names_and_numbers(
    texts: list[str], answer: str, rng: np.random.Generator
) -> tuple[list[str], str]:
    """Replace the answer's names and numbers with invented ones, the same way in every text."""
    words = WORD.findall(answer)
    candidates = {
        w
        for i, w in enumerate(words)
        if NUMBER.match(w) or (i > 0 and w[0].isupper() and len(w) > 2)
    }
    if not candidates:
        return texts, answer
    chosen = [w for w in sorted(candidates) if rng.random() < 0.7] or [sorted(candidates)[0]]
    replacement = {}
    for word in chosen:
        if NUMBER.match(word):
            replacement[word] = (
                "".join(str(rng.integers(10)) if c.isdigit() else c for c in word).lstrip("0")
                or "7"
            )
        else:
            new = invented_word(rng)
            replacement[word] = new.capitalize() if word[0].isupper() else new
    pattern = re.compile(
        r"\b(" + "|".join(map(re.escape, sorted(replacement, key=len, reverse=True))) + r")\b",
        re.IGNORECASE,
    )

    def swap(text: str) -> str:
        return pattern.sub(
            lambda m: _match_case(replacement[_key(m.group(), replacement)], m.group()), text
        )

    return [swap(t) for t in texts], swap(answer)


def _key(found: str, replacement: dict[str, str]) -> str:
    return (
        found
        if found in replacement
        else next(k for k in replacement if k.lower() == found.lower())
    )


def _match_case(new: str, old: str) -> str:
    return new.lower() if old.islower() else new


@dataclass(frozen=True)
class QAExample:
    """One question/answer example: the prompt as the chat would build it, and the answer."""

    query: str
    prompt: str
    answer: str

    @property
    def text(self) -> str:
        return self.prompt + self.answer + "\n"


def qa_example(
    chunk: Chunk, chunks: list[Chunk], index: Retriever, config: Config, rng: np.random.Generator
) -> QAExample | None:
    """An example whose answer is `chunk`, or None if the answer line does not fit the window."""
    query = make_question(chunk.text, rng)
    hits = index.search(query, config.retrieval.top_k)
    lines = context_lines(hits, index.say_one_thing(query, hits))
    if not any(chunk in (hit.chunk for hit in line.hits) for line in lines):
        # the retriever missed: put the answer in, as its lowest-ranked line
        lines = lines[:-1] + [Line((chunk.text,), (Hit(chunk, 0.0),))]
    for _ in range(int(rng.integers(0, config.train.distractors + 1))):
        lines.append(Line((chunks[int(rng.integers(len(chunks)))].text,)))
    if rng.random() < config.train.swap_share:
        sentences = [sentence for line in lines for sentence in line.sentences]
        swapped, _ = swap_names_and_numbers(sentences + [query], chunk.text, rng)
        query, swapped = swapped[-1], iter(swapped[:-1])
        lines = [Line(tuple(next(swapped) for _ in line.sentences), line.hits) for line in lines]
    prompt, used = fit(lines, query, config.model.window, config.generation.max_answer_chars)
    # the answer is the line that holds the asked sentence: the sentence, or the tie it is in,
    # folded as the model reads and writes it ("Ines", "..."), like the prompt
    answer = next((one_line(line.text) for line in used if _holds(line, chunk)), None)
    if answer is None:
        return None
    return QAExample(query, prompt.text, answer[: config.model.window - len(prompt.text) - 1])


def _holds(line: Line, chunk: Chunk) -> bool:
    return any(hit.chunk == chunk for hit in line.hits)


def synthetic_example(config: Config, rng: np.random.Generator) -> QAExample:
    """Copying practice on nonsense: context lines of invented words, a query from one, that
    line as the answer."""
    lines = [
        " ".join(invented_word(rng) for _ in range(int(rng.integers(3, 9)))) + "." for _ in range(3)
    ]
    answer = lines[int(rng.integers(len(lines)))]
    words = answer.rstrip(".").split()
    query = " ".join(
        words[i] for i in sorted(rng.choice(len(words), size=min(2, len(words)), replace=False))
    )
    prompt = build_prompt(lines, query, config.model.window, config.generation.max_answer_chars)
    return QAExample(query, prompt.text, answer)


def make_rows(
    chunks: list[Chunk],
    texts: list[str],
    index: Retriever,
    config: Config,
    count: int,
    seed: int,
    on_rows: Callable[[int], None] = lambda done: None,
) -> Rows:
    """`count` training rows from the knowledge: QA examples and raw-text windows, padded to
    the window. `on_rows(done)` is told every ROWS_BETWEEN_REPORTS rows (a progress display)."""
    rng = np.random.default_rng(seed)
    window = config.model.window
    answer_only = config.train.loss_on == "answer"
    corpus = encode("\n".join(texts))
    inputs = np.zeros((count, window), np.int32)
    targets = np.zeros((count, window), np.int32)
    weights = np.zeros((count, window), np.float32)
    for row in range(count):
        if row % ROWS_BETWEEN_REPORTS == 0:
            on_rows(row)
        ids, answer_from = None, 0
        if chunks and (answer_only or rng.random() < config.train.qa_share):
            if rng.random() < config.train.synthetic_share:
                example = synthetic_example(config, rng)
            else:
                example = qa_example(
                    chunks[int(rng.integers(len(chunks)))], chunks, index, config, rng
                )
            if example is not None and len(example.text) <= window + 1:
                ids, answer_from = encode(example.text), len(example.prompt) - 1
        if ids is None:  # raw text: any window of the knowledge (not learned from when answer-only)
            start = int(rng.integers(max(1, len(corpus) - window)))
            ids = corpus[start : start + window + 1]
            answer_from = len(ids) if answer_only else 0
        length = len(ids) - 1
        inputs[row, :length], targets[row, :length] = ids[:-1], ids[1:]
        # answer-only: from the last prompt char
        weights[row, answer_from if answer_only else 0 : length] = 1.0
    return Rows(inputs, targets, weights)
