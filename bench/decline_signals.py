"""How well each signal retrieval gives tells an unanswerable question from an answerable one.

    python bench/decline_signals.py                  # every question set
    python bench/decline_signals.py --sets natural,blind5

`tinychat/retrieval/declines.py` declines from these signals. For each set and each kind of unanswerable question
("fact": the subject is in the notes, the fact is not; "subject": nothing is), it prints the
AUC of each signal: the chance that a random answerable question looks more answerable by that
signal than a random unanswerable one. 0.5 is chance, 1.0 separates them perfectly. To decline
0.8 of a kind while declining at most 0.05 of the answerable questions, a signal needs an AUC
near 0.95 or more.
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

from bench.retrievers import SETS  # noqa: E402
from tinychat.chat import ChatSession  # noqa: E402
from tinychat.config import PathsConfig, load_config  # noqa: E402
from tinychat.evaluate import load_questions  # noqa: E402
from tinychat.retrieval.lexical import LexicalIndex  # noqa: E402

# signal: how to read it off the index, and whether a higher value means "answerable"
SIGNALS = {
    "best score": (lambda m, best, index, q: float(m.score()[best]), True),
    "subject share": (lambda m, best, index, q: float(m.subject[best]), True),
    "sentence match": (lambda m, best, index, q: float(m.sentence[best]), True),
    "kind held": (lambda m, best, index, q: float(m.kind[best]), True),
    "lead over 2nd": (lambda m, best, index, q: lead(m.score()), True),
    "unknown words": (lambda m, best, index, q: index.unknown_share(q), False),
}


def lead(scores: np.ndarray) -> float:
    """How far the best score is above the second."""
    top = np.sort(scores[np.isfinite(scores)])[::-1]
    return float(top[0] - top[1]) if len(top) > 1 else float(top[0]) if len(top) else 0.0


def auc(answerable: list[float], unanswerable: list[float]) -> float:
    """The chance that a random answerable value is above a random unanswerable one (ties
    count half)."""
    if not answerable or not unanswerable:
        return float("nan")
    a, u = np.asarray(answerable)[:, None], np.asarray(unanswerable)[None, :]
    return float((a > u).mean() + 0.5 * (a == u).mean())


def signals(name: str) -> dict[str, dict[str, list[float]]]:
    """kind of question ("answerable", "fact", "subject") -> signal -> one value per question."""
    folder, questions_file = (ROOT / path for path in SETS[name])
    config = load_config(ROOT / "tinychat.yaml")
    values: dict[str, dict[str, list[float]]] = {
        kind: {signal: [] for signal in SIGNALS} for kind in ("answerable", "fact", "subject")
    }
    with tempfile.TemporaryDirectory() as state:
        config = dataclasses.replace(config, paths=PathsConfig(knowledge=folder, state=Path(state)))
        index = ChatSession(config, None).retriever.lexical
        assert isinstance(index, LexicalIndex), "the decline signals are the TF-IDF index's"
        for question in load_questions(questions_file):
            match = index.match(question.q)
            best = int(np.argmax(match.score()))
            kind = "answerable" if question.answerable else question.missing
            for signal, (read, _) in SIGNALS.items():
                values[kind][signal].append(read(match, best, index, question.q))
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS)
    )
    args = parser.parse_args()
    print("AUC, answerable against unanswerable (fact / subject); 0.5 is chance")
    print("set       " + "".join(f"| {signal:>16} " for signal in SIGNALS))
    for name in args.sets.split(","):
        values = signals(name)
        cells = []
        for signal, (_, higher_answers) in SIGNALS.items():
            pair = []
            for kind in ("fact", "subject"):
                area = auc(values["answerable"][signal], values[kind][signal])
                pair.append(area if higher_answers else 1 - area)
            cells.append(f"| {f'{pair[0]:.2f} / {pair[1]:.2f}':>16} ")
        print(f"{name:<10}" + "".join(cells))


if __name__ == "__main__":
    main()
