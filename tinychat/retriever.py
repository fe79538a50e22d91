"""Rank knowledge chunks for a query: which sentences go into [CONTEXT].

Three retrievers, chosen by `retrieval.retriever`:
- `tfidf` (the default, in `lexical.py`): the note the question is about, then the sentence
  its other words match, by term counts weighted by rarity (BM25, a TF-IDF weighting).
- `embedding` (the original): a chunk's vector is the mean of the model's own character
  embeddings; chunks are ranked by cosine similarity to the query's vector.
- `hybrid`: both rankings fused by reciprocal rank (each chunk scores sum 1/(60 + rank)).

This module holds what they share: hits, ranking, term counts, and the two seed-era indexes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from tinychat.sentences import Chunk
from tinychat.vocab import encode

RRF_K = 60  # the usual reciprocal-rank-fusion constant: dampens the weight of the very top ranks


@dataclass(frozen=True)
class Hit:
    """A chunk and how well it matches the query (higher is better)."""

    chunk: Chunk
    score: float


class Index(Protocol):
    def search(self, query: str, k: int) -> list[Hit]: ...


class Scorer(Protocol):
    """An index that scores every chunk (`lexical.LexicalIndex`): what the hybrid fuses."""

    def scores(self, query: str) -> np.ndarray: ...


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


# ---------------------------------------------------------------------------- embedding (seed)


class EmbeddingIndex:
    """The original retriever: mean of the model's character embeddings, cosine similarity."""

    def __init__(
        self, chunks: list[Chunk], embedding_table: np.ndarray, vectors: np.ndarray | None = None
    ):
        self.chunks = chunks
        self.table = embedding_table  # (V, D) from the checkpoint
        if vectors is None:
            vectors = (
                np.stack([self.embed(c.searchable) for c in chunks])
                if chunks
                else np.zeros((0, embedding_table.shape[1]))
            )
        self.vectors = vectors.astype(np.float32)  # (N, D), unit length

    def embed(self, text: str) -> np.ndarray:
        """Unit-length mean of the characters' embedding rows (zeros for empty text)."""
        ids = encode(text.lower())
        if len(ids) == 0:
            return np.zeros(self.table.shape[1], np.float32)
        mean = self.table[ids].mean(axis=0)
        return mean / (np.linalg.norm(mean) + 1e-9)

    def search(self, query: str, k: int) -> list[Hit]:
        return ranked_hits(self.chunks, self.vectors @ self.embed(query), k)


# ---------------------------------------------------------------------------- term counts


STOPWORDS = frozenset(
    """a about above after again all also an and any are as at be been before being below between
    both but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how i if in into is it its itself just me more most my no nor
    not now of off on once only or other our out over own same she should so some such than that
    the their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours""".split()
)


@dataclass
class TermCounts:
    """Sparse term counts of texts: row i has terms cols[row_ptr[i]:row_ptr[i+1]] (ids into
    `terms`)."""

    terms: list[str]
    row_ptr: np.ndarray  # (N+1,) int64
    cols: np.ndarray  # (nnz,) int32
    counts: np.ndarray  # (nnz,) int32


def count_terms(
    texts: list[str],
    analyzer: Callable[[str], Counter[str]],
    terms: list[str] | None = None,
    term_ids: dict[str, int] | None = None,
) -> TermCounts:
    """Count each text's terms as `analyzer` finds them. New terms are appended to `terms` and
    `term_ids` in place when given (a cache's vocabulary grows without being copied or
    re-hashed), else to new ones."""
    vocabulary = terms if terms is not None else []
    if term_ids is None:
        term_ids = {term: i for i, term in enumerate(vocabulary)}
    row_ptr, cols, counts = [0], [], []
    for text in texts:
        for term, count in analyzer(text).items():
            if term not in term_ids:
                term_ids[term] = len(vocabulary)
                vocabulary.append(term)
            cols.append(term_ids[term])
            counts.append(count)
        row_ptr.append(len(cols))
    return TermCounts(
        vocabulary,
        np.array(row_ptr, np.int64),
        np.array(cols, np.int32),
        np.array(counts, np.int32),
    )


class HybridIndex:
    """Reciprocal rank fusion of the lexical (BM25) and embedding rankings."""

    def __init__(self, chunks: list[Chunk], lexical: Scorer, embedding: EmbeddingIndex):
        self.chunks, self.lexical, self.embedding = chunks, lexical, embedding

    def search(self, query: str, k: int) -> list[Hit]:
        fused = np.zeros(len(self.chunks), np.float32)
        for scores in (
            self.lexical.scores(query),
            self.embedding.vectors @ self.embedding.embed(query),
        ):
            ranks = np.empty(len(scores), np.int64)
            ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
            fused += 1.0 / (RRF_K + ranks)
        return ranked_hits(self.chunks, fused, k)
