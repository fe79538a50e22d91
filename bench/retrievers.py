"""Retrieval alone, compared: each retriever and chunk size on a questions file.

    python bench/retrievers.py --knowledge bench/invented/knowledge \\
        --questions bench/invented/questions.yaml --checkpoint STATE/model.weights.h5

Prints file hit@1, file hit@3 and line hit@1 for the seed's embedding retriever, TF-IDF
and the hybrid, at several chunk sizes. The embedding retrievers use the checkpoint's
trained character embeddings (a random table would say nothing about them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinychat import checkpoint  # noqa: E402
from tinychat.config import RETRIEVERS, KnowledgeConfig  # noqa: E402
from tinychat.evaluate import load_questions  # noqa: E402
from tinychat.index_cache import build_index  # noqa: E402
from tinychat.knowledge import Knowledge  # noqa: E402


def hit_rates(index, questions) -> tuple[float, float, float]:
    file1 = file3 = line1 = 0
    for question in questions:
        hits = index.search(question.q, 3)
        paths = [hit.chunk.path for hit in hits]
        file1 += paths[:1] == [question.source]
        file3 += question.source in paths
        top = hits[0].chunk
        line1 += top.path == question.source and top.line <= question.line <= top.end_line
    return file1 / len(questions), file3 / len(questions), line1 / len(questions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--chunk-chars", type=int, nargs="+", default=[100, 200, 400])
    args = parser.parse_args()

    table = checkpoint.load(args.checkpoint).arrays["token_embedding"]
    questions = load_questions(args.questions)
    print(f"{len(questions)} questions; columns: file hit@1, file hit@3, line hit@1")
    print(f"| retriever | chunk chars | chunks | file hit@1 | file hit@3 | line hit@1 |\n| --- | --- | --- | --- | --- | --- |")
    for chunk_chars in args.chunk_chars:
        knowledge = Knowledge(args.knowledge, KnowledgeConfig(chunk_chars=chunk_chars))
        knowledge.refresh()
        for kind in RETRIEVERS:
            file1, file3, line1 = hit_rates(build_index(kind, knowledge.chunks, table), questions)
            print(f"| {kind} | {chunk_chars} | {len(knowledge.chunks)} | {file1:.2f} | {file3:.2f} | {line1:.2f} |")


if __name__ == "__main__":
    main()
