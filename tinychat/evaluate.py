"""`tinychat eval QUESTIONS.yaml`: measure whether answers come from the knowledge.

Each question is answered exactly as the chat answers it. Reported, averaged over questions:
- retrieval hit@1 / hit@3: the right file among the top 1 / 3 sources (and line hit@1);
- keyword recall: share of the question's keywords found as whole words in the answer;
- all keywords: share of answers holding every keyword;
- token F1 against the reference answer;
- bits per character of the reference answer given the retrieved context, no context,
  and a wrong document: how much the model actually reads its context;
- the same keyword recall and F1 for "answer = the retriever's top sentence verbatim",
  the baseline the model has to beat.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from tinychat.chat import ChatSession
from tinychat.errors import TinychatError
from tinychat.prompt import build_prompt
from tinychat.vocab import NEWLINE_ID, encode

TOKEN = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")
REQUIRED = ("q", "source", "answer")
SCALAR = (str, int, float)  # what a question's text fields and keywords may be: never a list
MAX_QUESTIONS_BYTES = 16 << 20
OPTIONAL = ("line", "keywords")  # without them, line hit@1 / keyword measures skip that question


@dataclass(frozen=True)
class Question:
    q: str
    source: str  # a file in the knowledge folder, relative to it
    answer: str  # the reference answer
    line: int | None = None  # the line that answers it, 1-based
    keywords: tuple[str, ...] = ()  # words a correct answer must contain


def load_questions(path: Path) -> list[Question]:
    """Read and check a questions file: a YAML list of {q, source, line, answer, keywords}.

    `line` and `keywords` may be left out; other keys are ignored with one warning, so a file
    written for another tool still runs.
    """
    from tinychat.config import read_yaml
    from tinychat.weights import notice

    items = read_yaml(path, MAX_QUESTIONS_BYTES, "questions file")
    if not isinstance(items, list) or not items:
        raise TinychatError(f"{path}: expected a non-empty YAML list of questions with keys {', '.join(REQUIRED + OPTIONAL)}")
    questions, ignored = [], set()
    for number, item in enumerate(items, start=1):
        missing = [key for key in REQUIRED if not isinstance(item, dict) or item.get(key) in (None, "")]
        if missing:
            raise TinychatError(f"{path}: question {number} has no {', '.join(missing)}; each needs q, source and answer")
        line, keywords = item.get("line"), item.get("keywords", [])
        if isinstance(keywords, (str, int, float)):
            keywords = [keywords]  # `keywords: velmora` means one keyword
        if not (line is None or (type(line) is int and line >= 1)) or not isinstance(keywords, list):
            raise TinychatError(f"{path}: question {number}: line must be a whole number from 1 and keywords a list")
        # Checked before str() is called on them: an alias bomb would expand to billions of items.
        values = [*(item[key] for key in REQUIRED), *keywords]
        if not all(isinstance(value, SCALAR) for value in values):
            raise TinychatError(f"{path}: question {number}: q, source, answer and each keyword"
                                " must be text or a number")
        ignored |= set(item) - set(REQUIRED + OPTIONAL)
        questions.append(Question(str(item["q"]), str(item["source"]).replace("\\", "/"), str(item["answer"]),
                                  line, tuple(str(k).lower() for k in keywords)))  # fmt: skip
    if ignored:
        notice(f"{path}: ignoring keys {', '.join(sorted(map(str, ignored)))} (known: {', '.join(REQUIRED + OPTIONAL)})")
    return questions


def matching_files(source: str, files: list[str]) -> list[str]:
    """Knowledge files a question's `source` may mean: the exact path, else those whose path ends
    like it ("velmora.txt" or "knowledge/velmora.txt" for "velmora.txt"), else same name without suffix."""
    source = source.strip("/")
    exact = [f for f in files if f == source]
    by_end = [f for f in files if f.endswith("/" + source) or source.endswith("/" + f)]
    by_stem = [f for f in files if PurePosixPath(f).stem == PurePosixPath(source).stem]
    return exact or by_end or by_stem


def resolve_sources(questions: list[Question], files: list[str], folder: Path) -> list[Question]:
    """Each question with its source replaced by the one knowledge file it names."""
    resolved = []
    for question in questions:
        candidates = matching_files(question.source, files)
        if len(candidates) != 1:
            where = f"matches {', '.join(candidates[:3])} in" if candidates else "is not in"
            raise TinychatError(f"question {question.q!r}: source {question.source!r} {where} {folder}; "
                                "give its path relative to the knowledge folder")  # fmt: skip
        resolved.append(dataclasses.replace(question, source=candidates[0]))
    return resolved


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def keyword_recall(answer: str, keywords: tuple[str, ...]) -> float:
    """Share of keywords present as whole words (case-insensitive)."""
    if not keywords:
        return 1.0
    found = set(tokens(answer))
    return sum(all(part in found for part in tokens(k)) for k in keywords) / len(keywords)


def token_f1(answer: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bag of words, lower case)."""
    predicted, expected = tokens(answer), tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum(min(predicted.count(t), expected.count(t)) for t in set(predicted))
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def bits_per_char(session: ChatSession, context: list[str], query: str, reference: str) -> float:
    """Bits per character the model needs to write `reference` (and its ending newline) after the prompt."""
    config = session.model.config
    prompt = build_prompt(context, query, config.window, session.config.generation.max_answer_chars)
    runtime = session.runtime
    runtime.reset()
    for token in encode(prompt.text):
        probs = runtime.step(int(token))
    total = 0.0
    targets = [*encode(reference).tolist(), NEWLINE_ID]
    for position, token in enumerate(targets):
        total -= math.log2(max(float(probs[token]), 1e-12))
        if position + 1 < len(targets):
            probs = runtime.step(int(token))
    return total / len(targets)


def evaluate(session: ChatSession, questions: list[Question]) -> dict[str, Any]:
    """Answer every question as the chat would and average the measures.

    A measure a question cannot give (line hit@1 without `line`, keyword measures without
    `keywords`) leaves that question out of its average; with no question to average it is None.
    """
    files = sorted(session.knowledge.files)
    questions = resolve_sources(questions, files, session.knowledge.folder)
    rows = []
    for question in questions:
        answer = session.ask(question.q)
        ranked = session.retrieve(question.q)
        paths = [hit.chunk.path for hit in ranked]
        top_line = ranked[0].chunk if ranked else None
        top_text = top_line.text if top_line else ""
        context = [hit.chunk.text for hit in answer.sources]
        wrong_file = files[(files.index(question.source) + 1) % len(files)]
        wrong = [c.text for c in session.knowledge.files[wrong_file].chunks][: max(1, session.top_k)]
        has_keywords = bool(question.keywords)
        rows.append({
            "hit1": float(paths[:1] == [question.source]),
            "hit3": float(question.source in paths[:3]),
            "line_hit1": None if question.line is None else
                         float(top_line is not None and top_line.path == question.source
                               and top_line.line <= question.line <= top_line.end_line),
            "keyword_recall": keyword_recall(answer.text, question.keywords) if has_keywords else None,
            "all_keywords": float(keyword_recall(answer.text, question.keywords) == 1.0) if has_keywords else None,
            "token_f1": token_f1(answer.text, question.answer),
            "bpc_context": bits_per_char(session, context, question.q, question.answer),
            "bpc_no_context": bits_per_char(session, [], question.q, question.answer),
            "bpc_wrong_document": bits_per_char(session, wrong, question.q, question.answer),
            "baseline_keyword_recall": keyword_recall(top_text, question.keywords) if has_keywords else None,
            "baseline_token_f1": token_f1(top_text, question.answer),
            "looped": float(len(answer.text) >= session.config.generation.max_answer_chars),
        })  # fmt: skip
    summary = {}
    for key in rows[0]:
        values = [row[key] for row in rows if row[key] is not None]
        summary[key] = round(float(np.mean(values)), 4) if values else None
    return {"questions": len(rows), **summary}


LABELS = {
    "hit1": "retrieval hit@1 (file)",
    "hit3": "retrieval hit@3 (file)",
    "line_hit1": "retrieval hit@1 (line)",
    "keyword_recall": "keyword recall",
    "all_keywords": "answers with every keyword",
    "token_f1": "token F1",
    "bpc_context": "bits/char of answer, retrieved context",
    "bpc_no_context": "bits/char of answer, no context",
    "bpc_wrong_document": "bits/char of answer, wrong document",
    "baseline_keyword_recall": "baseline (top sentence) keyword recall",
    "baseline_token_f1": "baseline (top sentence) token F1",
    "looped": "answers cut at max length",
}


def format_table(report: dict[str, Any]) -> str:
    """The report as an aligned two-column table."""
    lines = [f"{'questions':<42} {report['questions']}"]
    lines += [f"{LABELS[key]:<42} " + ("n/a" if report[key] is None else f"{report[key]:.3f}") for key in LABELS]
    return "\n".join(lines)
