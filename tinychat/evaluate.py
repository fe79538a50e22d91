"""`tinychat eval QUESTIONS.yaml`: measure whether answers come from the knowledge.

Each question is answered exactly as the chat answers it. Reported, averaged over questions:
- retrieval hit@1 / hit@3: the right file among the top 1 / 3 sources (and line hit@1);
- keyword recall: share of the question's keywords found as whole words in the answer;
- all keywords: share of answers holding every keyword;
- token F1 against the reference answer;
- bits per character of the reference answer given the retrieved context, no context,
  and a wrong document: how much the model actually reads its context;
- the same keyword recall and F1 for "answer = the first [CONTEXT] line verbatim" (the
  retriever's top sentence, or the two that tie), the baseline the model has to beat.
"""

from __future__ import annotations

import dataclasses
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from tinychat.chat import Answer, ChatSession
from tinychat.errors import TinychatError
from tinychat.sentences import Chunk
from tinychat.retrieval import Hit
from tinychat.terminal import printable
from tinychat.prompt import build_prompt
from tinychat.vocab import NEWLINE_ID, encode

TOKEN = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")
# 4,812 and 07700 and 7:45 and 1.5: what must be copied exactly
NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
REQUIRED = ("q", "source", "answer")
# without line / keywords those measures skip the question
OPTIONAL = ("line", "keywords", "paraphrased")
UNANSWERABLE = ("answerable", "missing")  # `answerable: false` with `missing: fact | subject`
MISSING_KINDS = ("fact", "subject")  # the subject is in the notes but the fact is not | nothing is
SCALAR = (str, int, float)  # what a question's text fields and keywords may be: never a list
MAX_QUESTIONS_BYTES = 16 << 20


@dataclass(frozen=True)
class Question:
    q: str
    source: str = ""  # a file in the knowledge folder, relative to it ("" when no note is about it)
    answer: str = ""  # the reference answer
    line: int | None = None  # the line that answers it, 1-based
    keywords: tuple[str, ...] = ()  # words a correct answer must contain
    answerable: bool = True
    missing: str = ""  # for an unanswerable question: "fact" or "subject" (MISSING_KINDS)


@dataclass(frozen=True)
class Conversation:
    """Questions asked one after another; later ones may refer back ("how tall is it?")."""

    turns: tuple[Question, ...]
    switch: bool = False  # a later turn names a new subject of its own


def load_questions(path: Path) -> list[Question]:
    """The questions of a questions file (see `load_items`); conversations are left out."""
    return [item for item in load_items(path) if isinstance(item, Question)]


def load_items(path: Path) -> "list[Question | Conversation]":
    """Read and check a questions file: a YAML list of questions {q, source, line, answer,
    keywords}, unanswerable questions {q, answerable: false, missing: fact | subject} and
    conversations {turns: [question, question, ...]}.

    `line` and `keywords` may be left out; other keys are ignored with one warning, so a file
    written for another tool still runs.
    """
    from tinychat.config import read_yaml
    from tinychat.startup import notice

    items = read_yaml(path, MAX_QUESTIONS_BYTES, "questions file")
    if not isinstance(items, list) or not items:
        keys = ", ".join(REQUIRED + OPTIONAL)
        raise TinychatError(f"{path}: expected a non-empty YAML list of questions with keys {keys}")
    loaded: list[Question | Conversation] = []
    ignored: set[str] = set()
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict) and "turns" in item:
            turns = item["turns"]
            if not isinstance(turns, list) or len(turns) < 2:
                raise TinychatError(
                    f"{path}: conversation {number}: turns must be a list of at least two questions"
                )
            questions = tuple(
                _question(turn, f"{path}: conversation {number} turn {i}", ignored)
                for i, turn in enumerate(turns, start=1)
            )
            loaded.append(Conversation(questions, bool(item.get("switch", False))))
        else:
            loaded.append(_question(item, f"{path}: question {number}", ignored))
    if ignored:
        known = REQUIRED + OPTIONAL + UNANSWERABLE
        names = ", ".join(sorted(map(str, ignored)))
        notice(f"{path}: ignoring keys {names} (known: {', '.join(known)})")
    return loaded


def _question(item: Any, where: str, ignored: set[str]) -> Question:
    """One question entry, checked; unknown keys are added to `ignored`."""
    if isinstance(item, dict) and item.get("answerable") is False:
        if (
            item.get("missing") not in MISSING_KINDS
            or item.get("q") in (None, "")
            or not all(isinstance(item.get(key, ""), SCALAR) for key in ("q", "source"))
        ):
            raise TinychatError(
                f"{where}: an unanswerable question needs q and missing: fact or missing: subject"
            )
        ignored |= set(map(str, item)) - set(REQUIRED + OPTIONAL + UNANSWERABLE)
        return Question(
            str(item["q"]),
            str(item.get("source") or "").replace("\\", "/"),
            answerable=False,
            missing=item["missing"],
        )
    missing = [key for key in REQUIRED if not isinstance(item, dict) or item.get(key) in (None, "")]
    if missing:
        raise TinychatError(f"{where} has no {', '.join(missing)}; each needs q, source and answer")
    line, keywords = item.get("line"), item.get("keywords", [])
    if isinstance(keywords, str):
        keywords = [keywords]  # `keywords: velmora` means one keyword; `keywords: 5` is refused
    if isinstance(keywords, list) and any(isinstance(k, bool) for k in keywords):
        keywords = None  # `yes` read as true: not a word the answer could hold
    if not (line is None or (type(line) is int and line >= 1)) or not isinstance(keywords, list):
        raise TinychatError(f"{where}: line must be a whole number from 1 and keywords a list")
    # Checked before str() is called on them: an alias bomb would expand to billions of items.
    if not all(
        isinstance(value, SCALAR) for value in [*(item[key] for key in REQUIRED), *keywords]
    ):
        raise TinychatError(f"{where}: q, source, answer and each keyword must be text or a number")
    ignored |= set(map(str, item)) - set(REQUIRED + OPTIONAL + UNANSWERABLE)
    return Question(
        str(item["q"]),
        str(item["source"]).replace("\\", "/"),
        str(item["answer"]),
        line,
        tuple(str(k).lower() for k in keywords),
    )


def matching_files(source: str, files: list[str]) -> list[str]:
    """Knowledge files a question's `source` may mean: the exact path, else those whose path ends
    like it ("velmora.txt" or "knowledge/velmora.txt" for "velmora.txt"), else the same name
    without its suffix."""
    source = source.strip("/")
    exact = [f for f in files if f == source]
    by_end = [f for f in files if f.endswith("/" + source) or source.endswith("/" + f)]
    by_stem = [f for f in files if PurePosixPath(f).stem == PurePosixPath(source).stem]
    return exact or by_end or by_stem


def resolve_sources(questions: list[Question], files: list[str], folder: Path) -> list[Question]:
    """Each question with its source replaced by the one knowledge file it names.

    An answerable question must name exactly one file; an unanswerable one keeps its source
    as written when it matches none (it is only used to read the report)."""
    resolved = []
    for question in questions:
        candidates = matching_files(question.source, files) if question.source else []
        if len(candidates) != 1 and question.answerable:
            where = f"matches {', '.join(candidates[:3])} in" if candidates else "is not in"
            raise TinychatError(
                f"question {printable(question.q)!r}: source {printable(question.source)!r} {where}"
                f" {folder}; give its path relative to the knowledge folder"
            )
        resolved.append(
            dataclasses.replace(question, source=candidates[0])
            if len(candidates) == 1
            else question
        )
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
    """Bits per character the model needs to write `reference` (and its ending newline) after
    the prompt."""
    config = session.checkpoint.config
    prompt = build_prompt(context, query, config.window, session.config.generation.max_answer_chars)
    runtime = session.runtime
    ids = encode(prompt.text)
    runtime.prefill(ids[:-1])
    probs = runtime.step(int(ids[-1]))
    total = 0.0
    targets = [*encode(reference).tolist(), NEWLINE_ID]
    for position, token in enumerate(targets):
        total -= math.log2(max(float(probs[token]), 1e-12))
        if position + 1 < len(targets):
            probs = runtime.step(int(token))
    return total / len(targets)


def answers_line(chunk: Chunk | None, question: Question) -> bool:
    """Whether `chunk` is the sentence that answers `question` (it spans the question's line)."""
    return (
        chunk is not None
        and question.line is not None
        and chunk.path == question.source
        and chunk.line <= question.line <= chunk.end_line
    )


def retrieval_measures(
    question: Question, ranked: list[Hit], context: list[Chunk]
) -> dict[str, float | None]:
    """Did retrieval find the answering file and sentence (first, among three, in [CONTEXT])?"""
    paths = [hit.chunk.path for hit in ranked]
    no_line = question.line is None
    return {
        "hit1": float(paths[:1] == [question.source]),
        "hit3": float(question.source in paths[:3]),
        "line_hit1": None
        if no_line
        else float(answers_line(ranked[0].chunk if ranked else None, question)),
        "in_context": None
        if no_line
        else float(any(answers_line(chunk, question) for chunk in context)),
    }


def answer_measures(
    question: Question, answer: str, context: list[Chunk], top_sentence: str
) -> dict[str, float | None]:
    """How good the written answer is, beside the no-model baseline "copy the first context
    line"."""
    has_keywords = bool(question.keywords)
    return {
        "keyword_recall": keyword_recall(answer, question.keywords) if has_keywords else None,
        "all_keywords": float(keyword_recall(answer, question.keywords) == 1.0)
        if has_keywords
        else None,
        "token_f1": token_f1(answer, question.answer),
        "exact_numbers": exact_numbers(answer, " ".join(chunk.text for chunk in context)),
        "baseline_keyword_recall": keyword_recall(top_sentence, question.keywords)
        if has_keywords
        else None,
        "baseline_token_f1": token_f1(top_sentence, question.answer),
    }


def holds_answer(question: Question, answer: Answer) -> bool:
    """Whether `answer` holds the answer: every keyword, or without keywords the answering line
    among its sources."""
    if question.keywords:
        return keyword_recall(answer.text, question.keywords) == 1.0
    return any(answers_line(hit.chunk, question) for hit in answer.sources[:2])


def exact_numbers(answer: str, context: str) -> float | None:
    """1.0 when every number or code in `answer` stands, character for character, in `context`;
    None when the answer holds no number (a copy slip such as 1112 -> 112 is a number absent
    from it)."""
    numbers = NUMBER.findall(answer)
    if not numbers:
        return None
    present = set(NUMBER.findall(context))
    return float(all(number in present for number in numbers))


def evaluate(
    session: ChatSession, items: "list[Question | Conversation]", bits: bool = True
) -> dict[str, Any]:
    """Answer every question as the chat would and average the measures.

    A measure a question cannot give (line hit@1 without `line`, keyword measures without
    `keywords`) leaves that question out of its average; with no question to average it is None.
    `bits=False` skips the bits-per-character measures (three extra passes of the model each).
    """
    files = sorted(session.knowledge.files)
    questions = resolve_sources(
        [item for item in items if isinstance(item, Question)], files, session.knowledge.folder
    )
    per_question: list[dict[str, Any]] = []
    rows = []
    for question in questions:
        if question.answerable:
            row, answer = _measure(session, question, files, bits)
            rows.append(row)
            per_question.append(question_record(question, answer))
    summary = _average(rows)
    for kind in MISSING_KINDS:
        unanswerable = [q for q in questions if not q.answerable and q.missing == kind]
        answers = [session.ask(q.q) for q in unanswerable]
        per_question += [question_record(q, a) for q, a in zip(unanswerable, answers)]
        declined = [float(answer.abstained) for answer in answers]
        marked = [float(bool(answer.weak)) for answer in answers]
        summary[f"abstained_{kind}"] = round(float(np.mean(declined)), 4) if declined else None
        summary[f"weak_{kind}"] = round(float(np.mean(marked)), 4) if marked else None
    conversations = [item for item in items if isinstance(item, Conversation)]
    if conversations:
        summary |= follow_up_measures(session, conversations, files, per_question)
    return {
        "questions": len(rows),
        "unanswerable": sum(not q.answerable for q in questions),
        "conversations": len(conversations),
        **summary,
        "per_question": per_question,
    }


def question_record(
    question: Question, answer: Answer, earlier: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One question's outcome for `eval --json` and `--show-failures`: what was asked, the
    answer, the source and line expected, the top source and line, and whether (and why) it
    missed. `earlier` holds the questions asked before it in a conversation."""
    top = answer.sources[0].chunk if answer.sources else None
    record: dict[str, Any] = {
        "q": question.q,
        "answer": answer.text,
        "answerable": question.answerable,
        "source": question.source,
        "line": question.line,
        "top_source": top.path if top else None,
        "top_line": top.line if top else None,
        "abstained": answer.abstained,
    }
    if earlier:
        record["after"] = list(earlier)
    record["missed"] = why_missed(question, answer, top)
    return record


def why_missed(question: Question, answer: Answer, top: Chunk | None) -> str:
    """Why the answer misses ('' when it does not): declined, answered though the notes do not
    say, from the wrong file or line, or without a keyword."""
    if not question.answerable:
        return "" if answer.abstained else "answered, but the notes do not hold the answer"
    if answer.abstained:
        return "declined"
    if top is None or top.path != question.source:
        return "answered from another file"
    if question.line is not None and not answers_line(top, question):
        return "answered from another line"
    if keyword_recall(answer.text, question.keywords) < 1.0:
        found = set(tokens(answer.text))
        lacking = [k for k in question.keywords if not all(p in found for p in tokens(k))]
        return f"the answer lacks {', '.join(lacking)}"
    return ""


def follow_up_measures(
    session: ChatSession,
    conversations: list[Conversation],
    files: list[str],
    per_question: list[dict[str, Any]] | None = None,
) -> dict:
    """The last turn of each conversation, answered after the earlier ones (as the REPL follows a
    conversation) and alone: its line hit@1 and keyword recall both ways. Each last turn asked
    after the earlier ones is added to `per_question`."""
    rows = {"follow": [], "alone": []}
    follow_up = session.follow_up
    try:
        for conversation in conversations:
            turns = resolve_sources(list(conversation.turns), files, session.knowledge.folder)
            for mode in rows:
                session.follow_up = mode == "follow"
                session.conversation.reset()
                for turn in turns[:-1] if mode == "follow" else []:
                    session.ask(turn.q)
                last = turns[-1]
                answer = session.ask(last.q)
                top = answer.sources[0].chunk if answer.sources and not answer.abstained else None
                if mode == "follow" and per_question is not None:
                    earlier = tuple(turn.q for turn in turns[:-1])
                    per_question.append(question_record(last, answer, earlier))
                rows[mode].append(
                    {
                        "line_hit1": float(answers_line(top, last)) if last.line else None,
                        "keyword_recall": keyword_recall(answer.text, last.keywords)
                        if last.keywords
                        else None,
                    }
                )
    finally:
        session.follow_up = follow_up
        session.conversation.reset()
    follow, alone = _average(rows["follow"]), _average(rows["alone"])
    return {
        "follow_up_line_hit1": follow.get("line_hit1"),
        "follow_up_keyword_recall": follow.get("keyword_recall"),
        "alone_line_hit1": alone.get("line_hit1"),
        "alone_keyword_recall": alone.get("keyword_recall"),
    }


def _measure(
    session: ChatSession, question: Question, files: list[str], bits: bool
) -> tuple[dict[str, float | None], Answer]:
    answer = session.ask(question.q)
    ranked = session.retrieve(question.q)
    context = [hit.chunk for hit in answer.sources]
    row = retrieval_measures(question, ranked, context)
    # The no-model baseline shares everything but the model: it declines where the chat declines.
    # It copies the first [CONTEXT] line: the top sentence, or the two that tie (context.py).
    top_sentence = answer.text if answer.abstained else answer.context[0] if answer.context else ""
    row |= answer_measures(question, answer.text, context, top_sentence)
    row["abstained"] = float(answer.abstained)
    # the weak-match marker, and whether the answers it marked held the answer all the same
    row["weak"] = float(bool(answer.weak))
    row["weak_right"] = float(holds_answer(question, answer)) if answer.weak else None
    row["looped"] = float(len(answer.text) >= session.config.generation.max_answer_chars)
    if bits:
        wrong_file = files[(files.index(question.source) + 1) % len(files)]
        wrong = [c.text for c in session.knowledge.files[wrong_file].chunks][
            : max(1, session.top_k)
        ]
        texts = [chunk.text for chunk in context]
        row["bpc_context"] = bits_per_char(session, texts, question.q, question.answer)
        row["bpc_no_context"] = bits_per_char(session, [], question.q, question.answer)
        row["bpc_wrong_document"] = bits_per_char(session, wrong, question.q, question.answer)
    return row, answer


def _average(rows: list[dict[str, float | None]]) -> dict[str, float | None]:
    summary: dict[str, float | None] = {}
    for key in rows[0] if rows else []:
        values = [row[key] for row in rows if row[key] is not None]
        summary[key] = round(float(np.mean(values)), 4) if values else None
    return summary


LABELS = {
    "hit1": "retrieval hit@1 (file)",
    "hit3": "retrieval hit@3 (file)",
    "line_hit1": "retrieval hit@1 (line)",
    "in_context": "answering sentence in [CONTEXT]",
    "keyword_recall": "keyword recall",
    "all_keywords": "answers with every keyword",
    "token_f1": "token F1 (against the reference answer)",
    "exact_numbers": "numbers and codes copied exactly",
    "abstained": "false abstention (answerable, declined)",
    "abstained_fact": "abstention: subject in notes, fact not",
    "abstained_subject": "abstention: subject not in notes",
    "weak": "answerable, marked as a weak match",
    "weak_right": "of those, answers that held the answer",
    "weak_fact": "unanswerable (fact), marked as a weak match",
    "weak_subject": "unanswerable (subject), marked as a weak match",
    "follow_up_line_hit1": "follow-up, last turn line hit@1",
    "follow_up_keyword_recall": "follow-up, last turn keyword recall",
    "alone_line_hit1": "same turn asked alone: line hit@1",
    "alone_keyword_recall": "same turn asked alone: keyword recall",
    "bpc_context": "bits/char of answer, retrieved context",
    "bpc_no_context": "bits/char of answer, no context",
    "bpc_wrong_document": "bits/char of answer, wrong document",
    "baseline_keyword_recall": "baseline (first context line) keyword recall",
    "baseline_token_f1": "baseline (first context line) token F1",
    "looped": "answers cut at max length",
}


NOTE_WIDTH = 78  # the note under the table fits an 80-column terminal
BITS_NOTE = (
    "bits/char: how hard the reference answer was for the model to write, in yes-or-no guesses"
    " per character (0.1 = it gave each character 93% on average, 1 = 50%); the gap between"
    " the retrieved context and none is how much the model reads its context."
)


def format_table(report: dict[str, Any]) -> str:
    """The report as an aligned two-column table (measures the report lacks are left out), then
    what bits/char means when the report has them."""
    keys = [key for key in LABELS if key in report]
    width = max([len("questions"), *(len(LABELS[key]) for key in keys)])  # the longest label
    lines = [
        f"{'questions':<{width}} {report['questions']} answerable,"
        f" {report.get('unanswerable', 0)} not"
    ]
    lines += [
        f"{LABELS[key]:<{width}} " + ("n/a" if report[key] is None else f"{report[key]:.3f}")
        for key in keys
    ]
    if any(key.startswith("bpc_") for key in report):
        lines += ["", textwrap.fill(BITS_NOTE, width=NOTE_WIDTH)]
    return "\n".join(lines)


def format_failures(report: dict[str, Any]) -> str:
    """Each question that missed: the question, its answer, the source and line expected, the
    top source and line, and why it missed."""
    missed = [record for record in report.get("per_question", []) if record["missed"]]
    lines = [f"missed {len(missed)} of {len(report.get('per_question', []))} questions"]
    for record in missed:
        expected = _where(record["source"], record["line"]) if record["answerable"] else "none"
        top = _where(record["top_source"], record["top_line"])
        lines += [
            "",
            f"  {printable(record['q'])}",
            *(f"    after     {printable(q)}" for q in record.get("after", [])),
            f"    answer    {printable(record['answer'])}",
            f"    expected  {expected}",
            f"    top       {top}",
            f"    missed    {record['missed']}",
        ]
    return "\n".join(lines)


def _where(path: str | None, line: int | None) -> str:
    if not path:
        return "none"
    return printable(f"{path}:{line}" if line is not None else path)
