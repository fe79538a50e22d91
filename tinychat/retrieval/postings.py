"""Term counts inverted for search: for each term, the sentences that hold it, and BM25 over them.

The lexical index (lexical.py) keeps one `Postings` per part of the notes; `bm25` scores every
sentence for a question's weighted terms in one pass of numpy over the postings it touches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinychat.retrieval.terms import TermCounts

BM25_K1, BM25_B = 1.2, 0.75  # the usual BM25 constants: term-count saturation, length normalisation


@dataclass
class Postings:
    """Term counts of some sentences, inverted: the sentences holding term t are
    rows[start[t]:start[t+1]]."""

    term_ids: dict[str, int]
    document_frequency: np.ndarray  # (terms,) sentences holding each term
    start: np.ndarray  # (terms + 1,)
    rows: np.ndarray  # sentence of each posting, grouped by term
    counts: np.ndarray  # how often the term occurs in that sentence
    lengths: np.ndarray  # (N,) terms per sentence (BM25's document length)

    @classmethod
    def of(cls, counts: TermCounts, size: int) -> "Postings":
        """Postings grouped by term from per-sentence term counts (CSR rows, one per sentence).

        Worked example: two sentences over a cache's terms ["ab", "bc", "zz", "cd"], where
        "zz" belongs to a sentence no longer here:
            row_ptr [0, 2, 3], cols [1, 3, 1], counts [1, 2, 1]   (sentence 0: bc, cd; 1: bc)
            used    [1, 3]        the term ids present, in order
            cols    [0, 1, 0]     renumbered by searchsorted: bc -> 0, cd -> 1
            rows    [0, 0, 1]     the sentence of each entry
            order   [0, 2, 1]     entries grouped by term: bc in 0 and 1, then cd in 0
            start   [0, 2, 3]     term t's postings are rows[start[t]:start[t + 1]]
        """
        # the terms these texts use (a cache holds other terms too) ...
        used = np.flatnonzero(np.bincount(counts.cols, minlength=len(counts.terms)))
        # ... renumbered 0..len(used)-1 in the same order
        cols = np.searchsorted(used, counts.cols)
        rows = np.repeat(np.arange(size, dtype=np.int64), np.diff(counts.row_ptr))
        frequency = np.bincount(cols, minlength=len(used))
        order = np.argsort(cols, kind="stable")
        return cls(
            {counts.terms[t]: i for i, t in enumerate(used)},
            frequency,
            np.concatenate([[0], np.cumsum(frequency)]),
            rows[order],
            counts.counts[order].astype(np.float32),
            np.bincount(rows, weights=counts.counts, minlength=size).astype(np.float32),
        )

    def frequency(self, term: str, hidden: np.ndarray) -> int:
        """Sentences holding `term`, not counting hidden ones."""
        t = self.term_ids.get(term)
        if t is None:
            return 0
        if not self.any_hidden(hidden):
            return int(self.document_frequency[t])
        return int(
            self.document_frequency[t] - hidden[self.rows[self.start[t] : self.start[t + 1]]].sum()
        )

    @staticmethod
    def any_hidden(hidden: np.ndarray) -> bool:
        return bool(len(hidden)) and bool(hidden.any())


def bm25(
    postings: Postings, terms: dict[str, float], rarity, average_length: float, best: float
) -> np.ndarray:
    """BM25 of every sentence for `terms` (each with a weight: 1 for the question's own), divided
    by `best`, the score of a sentence matching the whole question: so the sentence match and the
    subject match are shares of the same question."""
    known = [
        (postings.term_ids[term], weight * rarity(term))
        for term, weight in terms.items()
        if term in postings.term_ids
    ]
    if not known or best <= 0:
        return np.zeros(len(postings.lengths), np.float32)
    ids = np.array([t for t, _ in known], np.int64)
    starts, lengths = postings.start[ids], postings.start[ids + 1] - postings.start[ids]
    entries = spans(starts, lengths)  # every posting of every term, one array
    rows, counts = postings.rows[entries], postings.counts[entries]
    weights = np.repeat(np.array([weight for _, weight in known], np.float32), lengths)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * postings.lengths[rows] / max(average_length, 1e-9))
    # BM25's tf (k1 + 1) / (tf + norm), divided by k1 + 1 so 1 is its most
    saturated = counts / (counts + norm)
    return (
        np.bincount(rows, weights=weights * saturated, minlength=len(postings.lengths)) / best
    ).astype(np.float32)


def spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices start..start+length-1 of each span, concatenated: starts [5, 9], lengths [2, 3]
    -> [5, 6, 9, 10, 11]."""
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return offsets + np.arange(int(lengths.sum()))
