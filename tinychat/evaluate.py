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

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinychat.chat import ChatSession
from tinychat.errors import TinychatError
from tinychat.prompt import build_prompt
from tinychat.vocab import NEWLINE_ID, encode

TOKEN = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")
FIELDS = ("q", "source", "line", "answer", "keywords")


@dataclass(frozen=True)
class Question:
    q: str
    source: str
    line: int
    answer: str
    keywords: tuple[str, ...]


def load_questions(path: Path) -> list[Question]:
    """Read and check a questions file: a YAML list of {q, source, line, answer, keywords}."""
    import yaml

    try:
        items = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TinychatError(f"{path}: questions file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise TinychatError(f"{path}: cannot read questions ({type(error).__name__}); it must be a YAML list") from None
    if not isinstance(items, list) or not items:
        raise TinychatError(f"{path}: expected a non-empty YAML list of questions with keys {', '.join(FIELDS)}")
    questions = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or set(item) != set(FIELDS):
            got = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise TinychatError(f"{path}: question {number} must have exactly the keys {', '.join(FIELDS)}; got {got}")
        keywords = item["keywords"]
        if not isinstance(keywords, list) or not isinstance(item["line"], int):
            raise TinychatError(f"{path}: question {number}: keywords must be a list and line a whole number")
        questions.append(Question(str(item["q"]), str(item["source"]), item["line"], str(item["answer"]),
                                  tuple(str(k).lower() for k in keywords)))  # fmt: skip
    return questions


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
    """Answer every question as the chat would and average the measures."""
    files = sorted(session.knowledge.files)
    missing = sorted({q.source for q in questions} - set(files))
    if missing:
        raise TinychatError(f"questions name files not in {session.knowledge.folder}: {', '.join(missing[:3])}")
    rows = []
    for question in questions:
        answer = session.ask(question.q)
        ranked = session.retrieve(question.q)
        paths = [hit.chunk.path for hit in ranked]
        top_line = ranked[0].chunk if ranked else None
        context = [hit.chunk.text for hit in answer.sources]
        wrong_file = files[(files.index(question.source) + 1) % len(files)]
        wrong = [c.text for c in session.knowledge.files[wrong_file].chunks][: max(1, session.top_k)]
        rows.append({
            "hit1": float(paths[:1] == [question.source]),
            "hit3": float(question.source in paths[:3]),
            "line_hit1": float(top_line is not None and top_line.path == question.source
                               and top_line.line <= question.line <= top_line.end_line),
            "keyword_recall": keyword_recall(answer.text, question.keywords),
            "all_keywords": float(keyword_recall(answer.text, question.keywords) == 1.0),
            "token_f1": token_f1(answer.text, question.answer),
            "bpc_context": bits_per_char(session, context, question.q, question.answer),
            "bpc_no_context": bits_per_char(session, [], question.q, question.answer),
            "bpc_wrong_document": bits_per_char(session, wrong, question.q, question.answer),
            "baseline_keyword_recall": keyword_recall(top_line.text if top_line else "", question.keywords),
            "baseline_token_f1": token_f1(top_line.text if top_line else "", question.answer),
            "looped": float(len(answer.text) >= session.config.generation.max_answer_chars),
        })  # fmt: skip
    summary = {key: round(float(np.mean([row[key] for row in rows])), 4) for key in rows[0]}
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
    lines += [f"{LABELS[key]:<42} {report[key]:.3f}" for key in LABELS]
    return "\n".join(lines)
