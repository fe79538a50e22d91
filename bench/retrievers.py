"""Retrieval alone, on every question set: is the answering sentence first, and in [CONTEXT]?

    python bench/retrievers.py                       # TF-IDF on every set, no model needed
    python bench/retrievers.py --retriever hybrid --checkpoint STATE/checkpoint.h5

Each question is prepared exactly as the chat prepares it (retrieval, then the prompt fitted
to the window) and measured with `tinychat eval`'s own functions: file hit@1, line hit@1 and
"the answering sentence is in [CONTEXT]". TF-IDF needs no trained weights; the embedding and
hybrid retrievers use a checkpoint's character embeddings (a random table says nothing of them).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinychat import checkpoint  # noqa: E402
from tinychat.chat import ChatSession  # noqa: E402
from tinychat.checkpoint import Checkpoint  # noqa: E402
from tinychat.config import Config, PathsConfig, load_config  # noqa: E402
from tinychat.evaluate import load_questions, resolve_sources, retrieval_measures  # noqa: E402
from tinychat.architecture import weight_shapes  # noqa: E402

# name: (knowledge folder, questions file), relative to the repository
SETS = {
    "bundled": ("knowledge", "tests/data/knowledge_questions.yaml"),
    "invented": ("bench/invented/knowledge", "bench/invented/questions.yaml"),
    "natural": ("bench/natural/knowledge", "bench/natural/questions.yaml"),
    "holdout": ("bench/holdout/knowledge", "bench/holdout/questions.yaml"),
    "blind": ("bench/blind/knowledge", "bench/blind/questions.yaml"),
    "blind2": ("bench/blind2/knowledge", "bench/blind2/questions.yaml"),
    "blind3": ("bench/blind3/knowledge", "bench/blind3/questions.yaml"),
    "blind4": ("bench/blind4/knowledge", "bench/blind4/questions.yaml"),
    "blind5": ("bench/blind5/knowledge", "bench/blind5/questions.yaml"),
}


def random_checkpoint(config: Config) -> Checkpoint:
    """Weights of the right shapes: enough for retrieval and prompts, which TF-IDF does without."""
    rng = np.random.default_rng(0)
    shapes = weight_shapes(config.model)
    return Checkpoint(
        config.model,
        {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()},
        {},
    )


def measure(
    config: Config, model: Checkpoint, folder: Path, questions_file: Path, show_misses: bool
) -> dict:
    """Average retrieval measures over the answerable questions of one set."""
    with tempfile.TemporaryDirectory() as state:
        config = dataclasses.replace(config, paths=PathsConfig(knowledge=folder, state=Path(state)))
        session = ChatSession(config, model)
        questions = [q for q in load_questions(questions_file) if q.answerable]
        questions = resolve_sources(questions, sorted(session.knowledge.files), folder)
        rows = []
        for question in questions:
            prepared = session.prepare(question.q)
            ranked = session.retrieve(question.q)
            row = retrieval_measures(question, ranked, [hit.chunk for hit in prepared.sources])
            rows.append(row)
            if show_misses and row["line_hit1"] == 0.0:
                top = ranked[0].chunk if ranked else None
                print(
                    f"  miss: {question.q!r} wants {question.source}:{question.line};"
                    f" got {top.path}:{top.line} {top.text[:70]!r}"
                    if top
                    else "  miss: nothing"
                )
    keys = rows[0].keys()
    return {key: np.mean([r[key] for r in rows if r[key] is not None]) for key in keys} | {
        "questions": len(rows)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets",
        default="bundled,invented,natural",
        help="comma-separated: "
        + ", ".join(SETS)
        + " (holdout, blind and blind2: measure, never tune on them)",
    )
    parser.add_argument("--retriever", default="tfidf")
    parser.add_argument(
        "--checkpoint", type=Path, help="trained weights, for the embedding and hybrid retrievers"
    )
    parser.add_argument(
        "--misses", action="store_true", help="print each question whose top sentence is wrong"
    )
    args = parser.parse_args()
    config = load_config(ROOT / "tinychat.yaml")
    config = dataclasses.replace(
        config, retrieval=dataclasses.replace(config.retrieval, retriever=args.retriever)
    )
    model = checkpoint.load(args.checkpoint) if args.checkpoint else random_checkpoint(config)
    print(
        f"retriever {args.retriever}, top-k {config.retrieval.top_k}, window {config.model.window}"
    )
    print("| set | questions | file hit@1 | line hit@1 | answering sentence in [CONTEXT] |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.sets.split(","):
        folder, questions = (ROOT / part for part in SETS[name])
        if not questions.is_file():
            continue
        report = measure(config, model, folder, questions, args.misses)
        figures = " | ".join(f"{report[key]:.2f}" for key in ("hit1", "line_hit1", "in_context"))
        print(f"| {name} | {report['questions']} | {figures} |")


if __name__ == "__main__":
    main()
