"""Retrieval at scale: index build time and per-query latency at 1k, 10k and 100k chunks.

    python bench/retrieval.py [--sizes 1000 10000 100000] [--retriever tfidf]

Chunks are invented sentences (bench/synthetic.py). Prints, per size, the build time and
the median query latency, and how each grows from one size to the next (x10 chunks).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import facts, invented_name  # noqa: E402
from tinychat.sentences import Chunk  # noqa: E402
from tinychat.retrieval import build_retriever  # noqa: E402
from tinychat.vocab import VOCAB_SIZE  # noqa: E402


def synthetic_chunks(count: int, seed: int = 0) -> tuple[list[Chunk], list[str]]:
    """`count` invented sentences as chunks (8 per file), and a question about each of 200 of
    them."""
    rng = np.random.default_rng(seed)
    chunks, questions = [], []
    while len(chunks) < count:
        name = invented_name(rng)
        path = f"{name.lower()}_{len(chunks)}.txt"
        for line, (sentence, question, _) in enumerate(facts(rng, name, 8), start=1):
            chunks.append(Chunk(path, line, line, sentence))
            if len(questions) < 200:
                questions.append(question)
    return chunks[:count], questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--retriever", default="tfidf", choices=["tfidf", "embedding", "hybrid"])
    args = parser.parse_args()

    table = np.random.default_rng(0).normal(size=(VOCAB_SIZE, 16)).astype(np.float32)
    results = []
    for size in args.sizes:
        chunks, questions = synthetic_chunks(size)
        start = time.perf_counter()
        index = build_retriever(args.retriever, chunks, table)
        build = time.perf_counter() - start
        latencies = []
        for question in questions:
            start = time.perf_counter()
            index.search(question, 3)
            latencies.append(time.perf_counter() - start)
        results.append((size, build, statistics.median(latencies), max(latencies)))

    print(f"retriever {args.retriever}")
    print(f"{'chunks':>8} {'build s':>9} {'query ms (median)':>18} {'query ms (max)':>15}")
    for size, build, median, worst in results:
        print(f"{size:>8} {build:>9.2f} {median * 1000:>18.2f} {worst * 1000:>15.2f}")
    for (small, b1, q1, _), (large, b2, q2, _) in zip(results, results[1:]):
        growth = f"build x{b2 / b1:.1f}, query x{q2 / q1:.1f}"
        print(f"{small} -> {large} chunks (x{large / small:.0f}): {growth}")


if __name__ == "__main__":
    main()
