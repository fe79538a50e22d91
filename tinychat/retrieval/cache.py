"""The index cache: each sentence's features, kept on disk between runs (`index-cache.npz`).

A restart, or a re-index after one file changed, computes features only for sentences the cache
has not seen; everything else is one `np.load`. Two kinds of features, keyed by a hash of the
sentence's text: its term counts (independent of the model) and the seed retriever's
mean-embedding vector (valid only for the checkpoint whose embedding table made it). Written
atomically, uncompressed, its size linear in the sentences' length (terms are one UTF-8 blob,
not a numpy text array padded to the longest term). Read only up to what the sentences could
make (`cache_limit`), each member's .npy header checked against its bytes before it is read
(`guard.npz_arrays`), then every array's shape and range. A damaged cache is ignored with a
notice, not fatal, and a file damaged while tinychat runs is rewritten.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from tinychat.atomic import atomic_write
from tinychat.errors import TinychatError
from tinychat.files import FileTooLarge, read_regular
from tinychat.guard import Refused, npz_arrays
from tinychat.knowledge import hash_text
from tinychat.retrieval.embedding import EmbeddingIndex
from tinychat.retrieval.terms import TermCounts, chunk_terms, count_terms
from tinychat.sentences import Chunk

CACHE_NAME = "index-cache.npz"
# 2: terms of the sentence alone, stemmed words; 3: a contraction ("it's") as its stopword;
# 4: "model.fit" is two words; 5: a contraction typed without its apostrophe ("dont") and
# sentences with the note's own characters ("Inês", not "Ines"); 6: terms as one UTF-8 blob, only
# those the kept sentences use
CACHE_VERSION = 6
# What a cache takes at most, per character of the texts it keeps features of (each 3-gram and
# word of a text: a term id and a count, 8 bytes, and the term itself once) and per text (two
# 20-byte keys, a row pointer, an embedding vector of 4 bytes a dimension): several times what
# the writer makes, so only damage is refused.
CACHE_PER_CHAR, CACHE_PER_TEXT, CACHE_SLACK = 64, 128, 1 << 20
# Each array's name and the dtype kinds it may have ('i' signed, 'u' unsigned, 'f' real, 'U' text)
ARRAYS = {
    "version": "iu",
    "terms": "u",  # the terms' UTF-8 bytes, one after another
    "term_ends": "iu",  # where each term's bytes end in `terms`
    "count_keys": "u",
    "row_ptr": "iu",
    "cols": "iu",
    "counts": "iu",
    "vector_keys": "u",
    "vectors": "f",
    "vector_table": "U",
}


def cache_limit(texts: list[str], d_model: int) -> int:
    """The largest cache file worth reading for the features of `texts` (`cached_texts` of the
    notes found) with embedding vectors of `d_model` numbers."""
    chars = sum(map(len, texts))
    return CACHE_SLACK + CACHE_PER_CHAR * chars + (CACHE_PER_TEXT + 4 * d_model) * len(texts)


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
    """Indices of the entries of CSR rows `rows`, concatenated in order.

    Worked example: row_ptr [0, 2, 5, 6] (row 0 holds entries 0-1, row 1 2-4, row 2 5) and
    rows [2, 1]: starts [5, 2], lengths [1, 3]; each entry's offset from its place in the
    output, repeated per entry: [5, 2-1, 2-1, 2-1] = [5, 1, 1, 1]; plus [0, 1, 2, 3] gives
    [5, 2, 3, 4], row 2's entry then row 1's three.
    """
    starts, lengths = row_ptr[rows], row_ptr[rows + 1] - row_ptr[rows]
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return offsets + np.arange(lengths.sum())


class FeatureCache:
    """Loads the cache file, serves features for chunk texts, and saves what is new."""

    def __init__(
        self,
        path: Path | None = None,
        limit: int = sys.maxsize,
        on_notice: Callable[[str], None] = lambda text: None,
    ):
        self.path = path  # None: an in-memory cache (training, tests)
        self.limit = limit  # the largest file read, and written
        self.computed = 0  # chunks whose features had to be computed (a restart should add none)
        self.on_disk: tuple[int, ...] | None = None  # the file as last read or written, see `stale`
        self._reset()
        if path is not None and os.path.lexists(path):
            problem = self._load(Path(path), limit)
            if problem:
                on_notice(f"note: {path} is damaged ({problem}); the index cache is rebuilt")

    def _reset(self) -> None:
        self.counts = count_terms([], chunk_terms)
        # term -> id in self.counts.terms, when first needed
        self.term_ids: dict[str, int] | None = None
        self.count_rows: dict[bytes, int] = {}
        self.vectors = np.zeros((0, 0), np.float32)
        self.vector_rows: dict[bytes, int] = {}
        self.vector_table = ""
        self.dirty = False

    def _load(self, path: Path, limit: int) -> str:
        """Take the file's features if every array checks out; otherwise start empty and say why
        ('' when the file is fine, or only from another version).

        Only a cache: whatever is wrong with it (empty, truncated, a flipped bit, a FIFO, arrays
        of the wrong shape or type, headers declaring more than the file holds), features are
        computed again and the file is rewritten.
        """
        try:
            arrays = npz_arrays(read_regular(path, limit), ARRAYS)
        except FileTooLarge:
            return f"larger than the {limit:,} bytes the notes' features could take"
        except OSError as error:
            return error.strerror or type(error).__name__
        except Refused as refusal:
            return str(refusal)
        version = arrays["version"]
        if version.shape != () or int(version) != CACHE_VERSION:
            return ""  # an older tinychat's cache: computed again, nothing to say
        terms = _terms(arrays["terms"], arrays["term_ends"])
        if terms is None or not _well_formed(arrays, len(terms)):
            return "its arrays do not fit together"
        self.counts = TermCounts(
            terms,
            arrays["row_ptr"].astype(np.int64),
            arrays["cols"].astype(np.int32),
            arrays["counts"].astype(np.int32),
        )
        self.count_rows = {key.tobytes(): row for row, key in enumerate(arrays["count_keys"])}
        self.vectors = arrays["vectors"].astype(np.float32)
        self.vector_rows = {key.tobytes(): row for row, key in enumerate(arrays["vector_keys"])}
        self.vector_table = str(arrays["vector_table"])
        self.on_disk = _identity(path)
        return ""

    def stale(self) -> bool:
        """True if the cache holds features the file lacks, or the file changed since it was
        read or written (truncated or deleted by someone else): saving would put it right."""
        return self.path is not None and (self.dirty or _identity(Path(self.path)) != self.on_disk)

    def term_counts(self, texts: list[str]) -> TermCounts:
        """Term counts for `texts`, computing only texts not in the cache."""
        keys = [text_key(text) for text in texts]
        missing = [i for i, key in enumerate(keys) if key not in self.count_rows]
        if missing:
            if self.term_ids is None:  # built once, then grown with the vocabulary
                self.term_ids = {term: i for i, term in enumerate(self.counts.terms)}
            new = count_terms(
                [texts[i] for i in missing], chunk_terms, self.counts.terms, self.term_ids
            )
            # rows stored so far (a repeated text has one key, several rows)
            base = len(self.counts.row_ptr) - 1
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
        return TermCounts(
            self.counts.terms,
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            self.counts.cols[entries],
            self.counts.counts[entries],
        )

    def embedding_vectors(self, texts: list[str], index: EmbeddingIndex) -> np.ndarray:
        """Unit mean-embedding vectors for `texts` under `index.table`, computing only new ones."""
        key_of_table = table_key(index.table)
        if key_of_table != self.vector_table or self.vectors.shape[1:] != index.table.shape[1:]:
            self.vectors, self.vector_rows, self.vector_table = (
                np.zeros((0, index.table.shape[1]), np.float32),
                {},
                key_of_table,
            )
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
        """Write the cache, keeping only entries for the texts in `keep` (so it does not grow
        forever)."""
        if not self.stale():
            return
        keys = list(dict.fromkeys(text_key(text) for text in keep))
        counted = [key for key in keys if key in self.count_rows]
        rows = np.array([self.count_rows[key] for key in counted], np.int64)
        entries = _rows(self.counts.row_ptr, rows)
        lengths = self.counts.row_ptr[rows + 1] - self.counts.row_ptr[rows]
        # only the terms the kept rows use, renumbered: the vocabulary does not grow forever
        used, cols = np.unique(self.counts.cols[entries], return_inverse=True)
        terms = [self.counts.terms[i].encode("utf-8", "surrogatepass") for i in used]
        embedded = [key for key in keys if key in self.vector_rows]
        arrays = {
            "version": np.array(CACHE_VERSION),
            "terms": np.frombuffer(b"".join(terms), np.uint8),
            "term_ends": np.cumsum([len(term) for term in terms], dtype=np.int64),
            "count_keys": _key_array(counted),
            "row_ptr": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "cols": cols.astype(np.int32),
            "counts": self.counts.counts[entries],
            "vector_keys": _key_array(embedded),
            "vectors": self.vectors[[self.vector_rows[key] for key in embedded]]
            if embedded
            else self.vectors[:0],
            "vector_table": np.array(self.vector_table),
        }
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # uncompressed: the reader refuses compressed members
        if buffer.tell() > self.limit:
            return  # past what a reader would take: the features are computed at each start
        try:
            atomic_write(Path(self.path), buffer.getvalue(), "index cache")
            self.dirty, self.on_disk = False, _identity(Path(self.path))
        except TinychatError:
            pass  # only a cache: a read-only state folder must not stop the chat


def _identity(path: Path) -> tuple[int, ...] | None:
    """Which file is at `path` and in what version: inode, size and modification time."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _terms(blob: np.ndarray, ends: np.ndarray) -> list[str] | None:
    """The terms stored as one UTF-8 blob and where each ends, or None if they do not fit."""
    if blob.ndim != 1 or ends.ndim != 1 or blob.dtype != np.uint8:
        return None
    if len(ends) and (ends[0] < 0 or np.any(np.diff(ends) < 0) or ends[-1] != len(blob)):
        return None
    if not len(ends) and len(blob):
        return None
    data = blob.tobytes()
    starts = np.concatenate([[0], ends[:-1]]).tolist()
    try:
        return [data[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends.tolist())]
    except UnicodeDecodeError:
        return None


def _well_formed(arrays: dict[str, np.ndarray], term_count: int) -> bool:
    """Every array of a cache file has the shape, type and range the code relies on."""
    count_keys, row_ptr, cols, counts, vector_keys, vectors = (
        arrays[name]
        for name in ("count_keys", "row_ptr", "cols", "counts", "vector_keys", "vectors")
    )
    if arrays["vector_table"].shape != ():
        return False
    for keys in (count_keys, vector_keys):
        if keys.ndim != 2 or keys.shape[1] != 20 or keys.dtype != np.uint8:
            return False
    if any(a.ndim != 1 for a in (row_ptr, cols, counts)):
        return False
    if len(row_ptr) != len(count_keys) + 1 or row_ptr[0] != 0 or np.any(np.diff(row_ptr) < 0):
        return False
    if row_ptr[-1] != len(cols) or len(counts) != len(cols) or (len(counts) and counts.min() < 1):
        return False
    if len(cols) and (cols.min() < 0 or cols.max() >= term_count):
        return False
    if vectors.ndim != 2 or len(vectors) != len(vector_keys):
        return False
    return bool(np.all(np.isfinite(vectors)))


def cached_texts(chunks: list[Chunk]) -> list[str]:
    """The texts the cache keeps features of: each sentence (its term counts) and the text the
    seed's embedding retriever embeds (the sentence with its file's name, heading and opening)."""
    return [chunk.text for chunk in chunks] + [chunk.searchable for chunk in chunks]
