"""A retrieved sentence and its score, and how a retriever turns scores into a ranking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinychat.sentences import Chunk


@dataclass(frozen=True)
class Hit:
    """A chunk and how well it matches the query (higher is better)."""

    chunk: Chunk
    score: float



def ranked_hits(
    chunks: list[Chunk], scores: np.ndarray, k: int, floor: float = -np.inf
) -> list[Hit]:
    """The k best-scoring chunks, best first, leaving out those scored `floor` or less (-inf:
    hidden; a retriever whose 0 means "nothing in common" passes 0). Scores equal to 6 decimals
    are ordered by file and line, so the order does not depend on where a chunk sits in the
    arrays: an updated index ranks exactly as a rebuilt one."""
    k = min(k, len(chunks))
    if k <= 0:
        return []
    rounded = np.round(scores, 6)
    candidates = np.flatnonzero(
        rounded >= np.partition(rounded, len(rounded) - k)[len(rounded) - k]
    )
    if (
        len(candidates) > 4 * k + 100
    ):  # a huge tie (nothing matches): keep array order, it is all score 0
        candidates = candidates[np.argsort(-rounded[candidates], kind="stable")][:k]
    order = sorted(candidates, key=lambda i: (-rounded[i], chunks[i].path, chunks[i].line))[:k]
    return [Hit(chunks[i], float(scores[i])) for i in order if scores[i] > floor]
