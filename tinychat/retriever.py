"""Rank knowledge chunks for a query: which sentences go into [CONTEXT].

Three retrievers, chosen by `retrieval.retriever`:
- `embedding` (the seed's): a chunk's vector is the mean of the model's own character
  embeddings; chunks are ranked by cosine similarity to the query's vector.
- `tfidf`: character 3-grams and whole words, weighted by how rare they are (TF-IDF),
  ranked by cosine similarity through an inverted index (only chunks sharing a term with
  the query are touched).
- `hybrid`: both rankings fused by reciprocal rank (each chunk scores sum 1/(60 + rank)).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tinychat.knowledge import Chunk
from tinychat.vocab import encode, normalize

WORD = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")
RRF_K = 60  # the usual reciprocal-rank-fusion constant: dampens the weight of the very top ranks


@dataclass(frozen=True)
class Hit:
    """A chunk and how well it matches the query (higher is better)."""

    chunk: Chunk
    score: float


class Index(Protocol):
    def search(self, query: str, k: int) -> list[Hit]: ...


def _top(chunks: list[Chunk], scores: np.ndarray, k: int) -> list[Hit]:
    """The k best-scoring chunks, best first; ties keep folder order so results are stable."""
    k = min(k, len(chunks))
    if k <= 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k] if k < len(chunks) else np.arange(len(chunks))
    best = best[np.lexsort((best, -scores[best]))]
    return [Hit(chunks[i], float(scores[i])) for i in best]


# ---------------------------------------------------------------------------- embedding (seed)


class EmbeddingIndex:
    """The seed's retriever: mean of the model's character embeddings, cosine similarity."""

    def __init__(self, chunks: list[Chunk], embedding_table: np.ndarray, vectors: np.ndarray | None = None):
        self.chunks = chunks
        self.table = embedding_table  # (V, D) from the checkpoint
        if vectors is None:
            vectors = np.stack([self.embed(c.searchable) for c in chunks]) if chunks else np.zeros((0, embedding_table.shape[1]))
        self.vectors = vectors.astype(np.float32)  # (N, D), unit length

    def embed(self, text: str) -> np.ndarray:
        """Unit-length mean of the characters' embedding rows (zeros for empty text)."""
        ids = encode(text.lower())
        if len(ids) == 0:
            return np.zeros(self.table.shape[1], np.float32)
        mean = self.table[ids].mean(axis=0)
        return mean / (np.linalg.norm(mean) + 1e-9)

    def search(self, query: str, k: int) -> list[Hit]:
        return _top(self.chunks, self.vectors @ self.embed(query), k)


# ---------------------------------------------------------------------------- TF-IDF


STOPWORDS = frozenset(
    """a about above after again all also an and any are as at be been before being below between both but
    by can could did do does doing down during each few for from further had has have having he her here hers
    him his how i if in into is it its itself just me more most my no nor not now of off on once only or other
    our out over own same she should so some such than that the their them then there these they this those
    through to too under until up very was we were what when where which while who whom why will with would
    you your yours""".split()
)


def terms_of(text: str) -> Counter[str]:
    """Character 3-grams (across word boundaries, padded) and whole words of lower-cased text.

    Stopwords are left out first: question words such as "how" or "what" are rare in notes,
    so TF-IDF would otherwise rank any sentence containing them highly (measured: line hit@1
    0.77 -> 0.78 on the bundled questions, 0.93 -> 1.00 on invented development notes).
    """
    words = normalize(text).lower().split()
    kept = [w for w in words if w.strip("?!.,;:'\"()") not in STOPWORDS]
    text = " ".join(kept or words)  # a question made only of stopwords keeps them
    padded = f" {text} "
    grams = Counter(padded[i : i + 3] for i in range(len(padded) - 2))
    grams.update("w:" + word for word in WORD.findall(text))
    return grams


@dataclass
class TermCounts:
    """Sparse term counts of texts: row i has terms cols[row_ptr[i]:row_ptr[i+1]] (ids into `terms`)."""

    terms: list[str]
    row_ptr: np.ndarray  # (N+1,) int64
    cols: np.ndarray  # (nnz,) int32
    counts: np.ndarray  # (nnz,) int32


def count_terms(texts: list[str], terms: list[str] | None = None, term_ids: dict[str, int] | None = None) -> TermCounts:
    """Count each text's terms. New terms are appended to `terms` and `term_ids` in place when
    given (a cache's vocabulary grows without being copied or re-hashed), else to new ones."""
    vocabulary = terms if terms is not None else []
    if term_ids is None:
        term_ids = {term: i for i, term in enumerate(vocabulary)}
    row_ptr, cols, counts = [0], [], []
    for text in texts:
        for term, count in terms_of(text).items():
            if term not in term_ids:
                term_ids[term] = len(vocabulary)
                vocabulary.append(term)
            cols.append(term_ids[term])
            counts.append(count)
        row_ptr.append(len(cols))
    return TermCounts(vocabulary, np.array(row_ptr, np.int64), np.array(cols, np.int32), np.array(counts, np.int32))


class TfidfIndex:
    """Character n-gram + word TF-IDF with an inverted index held in numpy arrays.

    With `idf_from`, term rarity is taken from that (larger) index instead of these chunks:
    that is how a small delta index of just-edited chunks is scored on the same scale.
    """

    def __init__(self, chunks: list[Chunk], counts: TermCounts | None = None, idf_from: "TfidfIndex | None" = None):
        self.chunks = chunks
        counts = counts or count_terms([chunk.searchable for chunk in chunks])
        if idf_from is not None:  # a small index: keep only the terms its chunks use, not a whole cache's
            used = np.flatnonzero(np.bincount(counts.cols, minlength=len(counts.terms)))  # sorted term ids in use
            counts = TermCounts([counts.terms[i] for i in used], counts.row_ptr,
                                np.searchsorted(used, counts.cols).astype(np.int32), counts.counts)  # fmt: skip
        self.term_ids = {term: i for i, term in enumerate(counts.terms)}
        rows = np.repeat(np.arange(len(chunks), dtype=np.int32), np.diff(counts.row_ptr))
        cols = counts.cols
        document_frequency = np.bincount(cols, minlength=len(counts.terms))
        if idf_from is None:
            self.idf = (np.log((1 + len(chunks)) / (1 + document_frequency)) + 1.0).astype(np.float32)
        else:  # terms the big index never saw count as the rarest it knows
            rarest = float(idf_from.idf.max()) if len(idf_from.idf) else 1.0
            self.idf = np.array([idf_from.idf[idf_from.term_ids[t]] if t in idf_from.term_ids else rarest
                                 for t in counts.terms], np.float32)  # fmt: skip
        weights = (1.0 + np.log(counts.counts.astype(np.float32))) * self.idf[cols]
        norms = np.sqrt(np.bincount(rows, weights=weights**2, minlength=len(chunks)))
        weights /= norms[rows] + 1e-9
        # Postings sorted by term: the chunks holding term t are post_rows[start[t]:start[t+1]].
        order = np.argsort(cols, kind="stable")
        self.post_rows, self.post_weights = rows[order], weights[order].astype(np.float32)
        self.start = np.concatenate([[0], np.cumsum(document_frequency)]).astype(np.int64)

    def scores(self, query: str) -> np.ndarray:
        """Cosine similarity of the query to every chunk (N,)."""
        scores = np.zeros(len(self.chunks), np.float32)
        query_terms = terms_of(query)
        if not query_terms or not len(self.idf):
            return scores
        # The query's length counts every term, known here or not (unknown ones as the rarest),
        # so scores from two indexes (a layered index has two) are on the same scale.
        rarest = float(self.idf.max())
        ids = np.array([self.term_ids.get(t, -1) for t in query_terms])
        weights = (1.0 + np.log(np.array(list(query_terms.values()), np.float32))) * np.where(ids >= 0, self.idf[ids], rarest)
        weights /= np.linalg.norm(weights) + 1e-9
        for term, weight in zip(ids, weights):
            if term < 0:
                continue  # no chunk here holds it
            a, b = self.start[term], self.start[term + 1]
            scores[self.post_rows[a:b]] += weight * self.post_weights[a:b]  # rows within a posting are unique
        return scores

    def search(self, query: str, k: int) -> list[Hit]:
        return _top(self.chunks, self.scores(query), k)


class LayeredIndex:
    """A large TF-IDF index with some of its chunks hidden, plus a small index of newer chunks.

    Re-indexing one edited file among thousands then costs only that file: its old chunks
    are hidden, its new ones go into the small index, scored with the large one's IDF.
    """

    def __init__(self, main: TfidfIndex, hidden_paths: set[str], newer: list[Chunk], counts: TermCounts):
        self.main = main
        self.hidden_paths = hidden_paths  # files whose chunks in `main` are out of date
        self.hidden_rows = np.array([i for i, chunk in enumerate(main.chunks) if chunk.path in hidden_paths], np.int64)
        self.newer = TfidfIndex(newer, counts, idf_from=main)
        self.chunks = main.chunks + newer  # hidden ones included, scored -inf: a list copy, no per-chunk work

    def search(self, query: str, k: int) -> list[Hit]:
        main_scores = self.main.scores(query)
        main_scores[self.hidden_rows] = -np.inf
        hits = _top(self.chunks, np.concatenate([main_scores, self.newer.scores(query)]), k)
        return [hit for hit in hits if hit.score != -np.inf]  # fewer visible chunks than k


# ---------------------------------------------------------------------------- hybrid


class HybridIndex:
    """Reciprocal rank fusion of the TF-IDF and embedding rankings."""

    def __init__(self, chunks: list[Chunk], lexical: TfidfIndex, embedding: EmbeddingIndex):
        self.chunks, self.lexical, self.embedding = chunks, lexical, embedding

    def search(self, query: str, k: int) -> list[Hit]:
        fused = np.zeros(len(self.chunks), np.float32)
        for scores in (self.lexical.scores(query), self.embedding.vectors @ self.embedding.embed(query)):
            ranks = np.empty(len(scores), np.int64)
            ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
            fused += 1.0 / (RRF_K + ranks)
        return _top(self.chunks, fused, k)
