"""The retriever's per-chunk features on disk, keyed by a hash of each chunk's text.

A restart, or a re-index after one file changed, computes features only for chunk texts
the cache has not seen; everything else is one `np.load`. Two kinds of features:
TF-IDF term counts (independent of the model) and the seed retriever's mean-embedding
vectors (valid only for the checkpoint whose embedding table made them).
Written atomically; read with `allow_pickle=False`. A damaged cache is ignored, not fatal.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tinychat.atomic import atomic_write
from tinychat.errors import TinychatError
from tinychat.knowledge import Changes, Chunk, Knowledge, hash_text
from tinychat.retriever import EmbeddingIndex, HybridIndex, Index, LayeredIndex, TermCounts, TfidfIndex, count_terms

CACHE_NAME = "index-cache.npz"
CACHE_VERSION = 1
LAYER_LIMIT = 0.1  # past this share of newer chunks, rebuild the whole index instead of layering


def text_key(text: str) -> bytes:
    """A chunk's key in the cache; its text may hold a file name that is not UTF-8."""
    return hashlib.sha1(hash_text(text)).digest()


def table_key(table: np.ndarray) -> str:
    """Identifies an embedding table: vectors made with another one are stale."""
    return hashlib.sha1(np.ascontiguousarray(table, dtype=np.float32).tobytes()).hexdigest()


def _key_array(keys: list[bytes]) -> np.ndarray:
    """(N, 20) bytes of digests (a numpy 'S20' string would drop trailing NUL bytes)."""
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 20)


def _rows(row_ptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Indices of the entries of CSR rows `rows`, concatenated in order."""
    starts, lengths = row_ptr[rows], row_ptr[rows + 1] - row_ptr[rows]
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return offsets + np.arange(lengths.sum())


class FeatureCache:
    """Loads the cache file, serves features for chunk texts, and saves what is new."""

    def __init__(self, path: Path | None = None):
        self.path = path  # None: an in-memory cache (training, tests)
        self.computed = 0  # chunks whose features had to be computed (a restart should add none)
        self._reset()
        if path is not None and Path(path).is_file():
            self._load(Path(path))

    def _reset(self) -> None:
        self.counts = count_terms([])
        self.term_ids: dict[str, int] | None = None  # term -> id in self.counts.terms, when first needed
        self.count_rows: dict[bytes, int] = {}
        self.vectors = np.zeros((0, 0), np.float32)
        self.vector_rows: dict[bytes, int] = {}
        self.vector_table = ""
        self.dirty = False

    def _load(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["version"]) != CACHE_VERSION:
                    return
                self.counts = TermCounts(data["terms"].tolist(), data["row_ptr"], data["cols"], data["counts"])
                self.count_rows = {key.tobytes(): row for row, key in enumerate(data["count_keys"])}
                self.vectors = data["vectors"]
                self.vector_rows = {key.tobytes(): row for row, key in enumerate(data["vector_keys"])}
                self.vector_table = str(data["vector_table"])
        except (OSError, KeyError, ValueError):
            self._reset()  # unreadable: start empty, it is only a cache

    def term_counts(self, texts: list[str]) -> TermCounts:
        """Term counts for `texts`, computing only texts not in the cache."""
        keys = [text_key(text) for text in texts]
        missing = [i for i, key in enumerate(keys) if key not in self.count_rows]
        if missing:
            if self.term_ids is None:  # built once, then grown with the vocabulary
                self.term_ids = {term: i for i, term in enumerate(self.counts.terms)}
            new = count_terms([texts[i] for i in missing], self.counts.terms, self.term_ids)
            base = len(self.counts.row_ptr) - 1  # rows stored so far (a repeated text has one key, several rows)
            self.counts = TermCounts(
                new.terms,
                np.concatenate([self.counts.row_ptr, new.row_ptr[1:] + self.counts.row_ptr[-1]]),
                np.concatenate([self.counts.cols, new.cols]),
                np.concatenate([self.counts.counts, new.counts]),
            )
            for offset, i in enumerate(missing):
                self.count_rows.setdefault(keys[i], base + offset)
            self.computed += len(missing)
            self.dirty = True
        rows = np.array([self.count_rows[key] for key in keys], np.int64)
        lengths = self.counts.row_ptr[rows + 1] - self.counts.row_ptr[rows]
        entries = _rows(self.counts.row_ptr, rows)
        return TermCounts(self.counts.terms, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                          self.counts.cols[entries], self.counts.counts[entries])  # fmt: skip

    def embedding_vectors(self, texts: list[str], index: EmbeddingIndex) -> np.ndarray:
        """Unit mean-embedding vectors for `texts` under `index.table`, computing only new ones."""
        key_of_table = table_key(index.table)
        if key_of_table != self.vector_table:
            self.vectors, self.vector_rows, self.vector_table = np.zeros((0, index.table.shape[1]), np.float32), {}, key_of_table
        keys = [text_key(text) for text in texts]
        missing = [i for i, key in enumerate(keys) if key not in self.vector_rows]
        if missing:
            new = np.stack([index.embed(texts[i]) for i in missing]).astype(np.float32)
            for offset, i in enumerate(missing):
                self.vector_rows.setdefault(keys[i], len(self.vectors) + offset)
            self.vectors = np.concatenate([self.vectors, new])
            self.computed += len(missing)
            self.dirty = True
        return self.vectors[[self.vector_rows[key] for key in keys]] if keys else self.vectors[:0]

    def save(self, keep: list[str]) -> None:
        """Write the cache, keeping only entries for the texts in `keep` (so it does not grow forever)."""
        if self.path is None or not self.dirty:
            return
        keys = list(dict.fromkeys(text_key(text) for text in keep))
        counted = [key for key in keys if key in self.count_rows]
        rows = np.array([self.count_rows[key] for key in counted], np.int64)
        entries = _rows(self.counts.row_ptr, rows)
        lengths = self.counts.row_ptr[rows + 1] - self.counts.row_ptr[rows]
        embedded = [key for key in keys if key in self.vector_rows]
        arrays = {
            "version": np.array(CACHE_VERSION),
            "terms": np.array(self.counts.terms, dtype=str),
            "count_keys": _key_array(counted),
            "row_ptr": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "cols": self.counts.cols[entries],
            "counts": self.counts.counts[entries],
            "vector_keys": _key_array(embedded),
            "vectors": self.vectors[[self.vector_rows[key] for key in embedded]] if embedded else self.vectors[:0],
            "vector_table": np.array(self.vector_table),
        }

        def write(temporary: str) -> None:
            with open(temporary, "wb") as file:
                np.savez(file, **arrays)

        try:
            atomic_write(Path(self.path), write, "index cache")
            self.dirty = False
        except TinychatError:
            pass  # only a cache: a read-only state folder must not stop the chat


def build_index(kind: str, chunks: list[Chunk], embedding_table: np.ndarray, cache: FeatureCache | None = None) -> Index:
    """An index of `chunks` for retriever `kind`, with features from `cache` where it has them."""
    cache = cache or FeatureCache()
    texts = [chunk.searchable for chunk in chunks]
    lexical = TfidfIndex(chunks, cache.term_counts(texts)) if kind in ("tfidf", "hybrid") else None
    embedding = None
    if kind in ("embedding", "hybrid"):
        embedding = EmbeddingIndex(chunks, embedding_table, vectors=np.zeros((0, embedding_table.shape[1]), np.float32))
        embedding.vectors = cache.embedding_vectors(texts, embedding)
    cache.save(texts)
    if lexical is not None and embedding is not None:
        return HybridIndex(chunks, lexical, embedding)
    index = lexical or embedding
    assert index is not None, f"unknown retriever {kind}"  # config validation allows only the three
    return index


def update_index(index: Index | None, changes: Changes, knowledge: Knowledge, kind: str, embedding_table: np.ndarray,
                 cache: FeatureCache) -> Index:  # fmt: skip
    """The index for the knowledge as it is now, touching only changed files when that is enough.

    A few changed files of a large TF-IDF index are layered over it (their old chunks hidden,
    new ones in a small index); anything else is a full build, after which the manifest is saved.
    """
    main = index.main if isinstance(index, LayeredIndex) else index
    if kind == "tfidf" and isinstance(main, TfidfIndex) and changes:
        hidden = set(getattr(index, "hidden_paths", set())) | set(changes.added + changes.changed + changes.removed)
        newer = [chunk for path in sorted(hidden) if path in knowledge.files for chunk in knowledge.files[path].chunks]
        if len(newer) <= LAYER_LIMIT * len(main.chunks):
            return LayeredIndex(main, hidden, newer, cache.term_counts([c.searchable for c in newer]))
    rebuilt = build_index(kind, knowledge.chunks, embedding_table, cache)
    knowledge.save_manifest()
    return rebuilt
