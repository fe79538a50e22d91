"""The seed's retriever: a sentence's vector is the mean of the model's own character embeddings.

Chosen with `retrieval.retriever: embedding`; `hybrid` fuses its ranking with the lexical one by
reciprocal rank (each sentence scores the sum of 1/(60 + rank)). Both need trained weights: until
there are some, the lexical ranking answers.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from tinychat.retrieval.hits import Hit, ranked_hits
from tinychat.sentences import Chunk
from tinychat.vocab import encode

RRF_K = 60  # the usual reciprocal-rank-fusion constant: dampens the weight of the very top ranks


class Scorer(Protocol):
    """An index that scores every chunk (`lexical.LexicalIndex`): what the hybrid fuses."""

    def scores(self, query: str) -> np.ndarray: ...


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
