"""The encoder stage: a pretrained sentence encoder's cosine added to the lexical score.

Off unless `retrieval.encoder` names a model (encoder_model.py loads it). A sentence is encoded
with the subject of its note, "loom zarnet: It holds 24 warp threads.", as the lexical index
reads it, and every sentence of the notes is scored

    score = lexical score + ENCODER_WEIGHT x cosine(question, "subject: sentence")

each of the two min-max scaled over the notes' sentences for this question, so that neither's
units decide. The lexical reading of the question (follow-ups, declines, the subject to remember)
is unchanged: only the order of the sentences is. With all-MiniLM-L6-v2 this lifted line hit@1 by
0.04 to 0.13 on every question set, lowering none; the encoder alone was worse than the lexical
ranking on real text (bench/encoder_retrieval.py prints the table).

Each sentence's vector is kept in the state folder (`encoder-vectors.npz`, keyed by a hash of
the text it was made from, for one model), so a start encodes only the sentences of notes that
changed. Encoding a folder takes a while: the stage does it in a thread, the lexical ranking
answers meanwhile, and the retriever swaps the stage's ranking in whole between two answers
(`Retriever.current`). A pipe, `ask` and `eval` wait for it before their first answer.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from tinychat.atomic import atomic_write
from tinychat.errors import TinychatError
from tinychat.files import read_regular
from tinychat.guard import Refused, npz_arrays
from tinychat.knowledge import hash_text
from tinychat.retrieval.hits import Hit, ranked_hits
from tinychat.retrieval.lexical import LexicalIndex

if TYPE_CHECKING:  # the model's libraries are imported only when the stage loads it
    from tinychat.retrieval.encoder_model import Encoder

ENCODER_WEIGHT = 1.0  # the cosine counts as much as the lexical score, each scaled to 0..1
VECTORS_NAME = "encoder-vectors.npz"
# sentences a vectors file may hold beyond twice the notes' own (those of notes edited since)
VECTORS_SLACK = 1024
VECTORS_ARRAYS = {"version": "iu", "model": "U", "keys": "u", "vectors": "f"}  # name -> dtype kinds
VECTORS_VERSION = 1
# sentences encoded at once, between two answers; more are encoded in the background
AT_ONCE = 32


# ---------------------------------------------------------------------------- the ranking


def encoded_text(lexical: LexicalIndex, index: int) -> str:
    """What sentence `index` of `lexical` is encoded as: its note's subject, then the sentence."""
    chunk = lexical.chunks[index]
    return f"{lexical.subject(chunk)}: {chunk.text}"


def visible(lexical: LexicalIndex) -> np.ndarray:
    """(N,) bool: the sentences not hidden by a later edit (hidden ones are never ranked)."""
    masks = [~part.hidden for part in lexical.parts]
    return np.concatenate(masks) if masks else np.zeros(0, bool)


def scaled(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`scores` min-max scaled to 0..1 over `rows` (all zero when they are all equal)."""
    if not rows.any():
        return np.zeros(len(scores), np.float32)
    low, high = float(scores[rows].min()), float(scores[rows].max())
    if high <= low:
        return np.zeros(len(scores), np.float32)
    return ((np.where(rows, scores, low) - low) / (high - low)).astype(np.float32)


class EncoderRanking:
    """The lexical ranking with the encoder's cosine added (see the module docstring)."""

    def __init__(self, lexical: LexicalIndex, vectors: np.ndarray, encoder: "Encoder"):
        self.lexical = lexical
        self.vectors = vectors  # (N, width) unit rows, zeros for hidden sentences
        self.encoder = encoder
        self.rows = visible(lexical)

    def scores(self, query: str) -> np.ndarray:
        """(N,) score of every sentence for `query`, hidden ones -inf."""
        lexical = self.lexical.scores(query)
        # einsum's own loop, not BLAS: on a busy 2-core machine BLAS's threads waited for each
        # other 15 ms over 10,000 sentences, einsum took 2 ms
        cosine = np.einsum("ij,j->i", self.vectors, self.encoder.encode([query])[0])
        total = scaled(lexical, self.rows) + ENCODER_WEIGHT * scaled(cosine, self.rows)
        return np.where(self.rows, total, -np.inf)

    def search(self, query: str, k: int) -> list[Hit]:
        return ranked_hits(self.lexical.chunks, self.scores(query), k)


# ---------------------------------------------------------------------------- vectors on disk


def text_key(text: str) -> bytes:
    """A sentence's key in the vectors file (20 bytes)."""
    return hashlib.sha1(hash_text(text)).digest()


class SentenceVectors:
    """Each encoded text's vector, for one model, read from and written to one file.

    A file made by another model, of another width or version, or damaged in any way, is
    ignored (the vectors are made again and the file rewritten), never trusted: every array's
    shape, type and values are checked before use.
    """

    def __init__(self, path: Path, model: str, width: int, limit: int):
        self.path, self.model, self.width = path, model, width
        self.rows: dict[bytes, int] = {}
        self.vectors = np.zeros((0, width), np.float32)
        self.dirty = False
        if os.path.lexists(path):
            self._load(limit)

    def _load(self, limit: int) -> None:
        try:  # each member's header checked before it is read: no file asks for gigabytes
            arrays = npz_arrays(read_regular(self.path, limit), VECTORS_ARRAYS)
        except (OSError, Refused):  # too large, truncated, not a zip: no vectors yet
            return
        version, model, keys, vectors = (arrays[name] for name in VECTORS_ARRAYS)
        if version.shape != () or version.dtype.kind not in "iu" or int(version) != VECTORS_VERSION:
            return
        if model.shape != () or model.dtype.kind != "U" or str(model) != self.model:
            return
        if keys.ndim != 2 or keys.shape[1] != 20 or keys.dtype != np.uint8:
            return
        if vectors.shape != (len(keys), self.width) or vectors.dtype != np.float32:
            return
        if not np.all(np.isfinite(vectors)):
            return
        self.vectors = vectors
        self.rows = {key.tobytes(): row for row, key in enumerate(keys)}

    def missing(self, keys: list[bytes]) -> list[int]:
        """The positions of `keys` that have no vector yet."""
        return [i for i, key in enumerate(keys) if key not in self.rows]

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        fresh = [i for i, key in enumerate(keys) if key not in self.rows]
        for offset, i in enumerate(fresh):
            self.rows[keys[i]] = len(self.vectors) + offset
        self.vectors = np.concatenate([self.vectors, vectors[fresh].astype(np.float32)])
        self.dirty = self.dirty or bool(fresh)

    def of(self, keys: list[bytes], rows: np.ndarray) -> np.ndarray:
        """(len(keys), width): the vectors of `keys` where `rows` is true, zeros elsewhere."""
        found = np.zeros((len(keys), self.width), np.float32)
        wanted = np.flatnonzero(rows)
        if len(wanted):
            found[wanted] = self.vectors[[self.rows[keys[i]] for i in wanted]]
        return found

    def save(self, keep: list[bytes]) -> None:
        """Write the vectors of `keep` (only those: the file does not grow with every edit)."""
        if not self.dirty:
            return
        kept = [key for key in dict.fromkeys(keep) if key in self.rows]
        arrays = {
            "version": np.array(VECTORS_VERSION),
            "model": np.array(self.model),
            "keys": np.frombuffer(b"".join(kept), np.uint8).reshape(len(kept), 20),
            "vectors": self.vectors[[self.rows[key] for key in kept]]
            if kept
            else self.vectors[:0],
        }

        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # uncompressed: the reader refuses compressed members
        try:
            atomic_write(self.path, buffer.getvalue(), "encoder vectors")
            self.dirty = False
        except TinychatError:
            pass  # only a cache: a read-only state folder costs an encoding at the next start


# ---------------------------------------------------------------------------- the stage


class EncoderStage:
    """Loads the encoder and the vectors file, encodes what is missing (in a thread when asked
    not to wait) and makes `EncoderRanking`s; a `Stage` of `retriever.py`.

    Whatever goes wrong (the extra not installed, the model not to be had, a graph that fails)
    is said once, in one line, and the stage stops: the lexical ranking goes on answering.
    """

    def __init__(
        self,
        source: str,
        state: Path,
        on_notice: Callable[[str], None],
        on_change: Callable[[], None],
    ):
        self.source, self.path = source, state / VECTORS_NAME
        self.on_notice, self.on_change = on_notice, on_change
        self.lock = threading.Lock()  # the thread adds vectors while a question reads them
        self.encoder: "Encoder | None" = None
        self.vectors: SentenceVectors | None = None
        self.failed = ""  # the line said when the stage cannot run
        self.worker: threading.Thread | None = None
        self.stopping = threading.Event()
        self.status = ""  # what the thread is doing, for the toolbar
        from tinychat.retrieval.encoder_model import check_libraries

        try:
            check_libraries(source)
        except TinychatError as error:
            self._fail(str(error))

    def progress(self) -> str:
        """What the thread is doing ("encoding sentences 320/10,000"), or ""."""
        return self.status

    def ranking(self, lexical: LexicalIndex, wait: bool) -> EncoderRanking | None:
        """The ranking over `lexical` once every sentence has its vector, else None while the
        thread makes them (a few are made at once); `wait`: make them all before returning."""
        if self.worker is not None and (wait or not self.worker.is_alive()):
            self.worker.join()
            self.worker = None
        if self.failed or self.worker is not None:
            return None  # still at work: the lexical ranking answers meanwhile
        texts = [encoded_text(lexical, i) for i in range(len(lexical.chunks))]
        keys = [text_key(text) for text in texts]
        rows = visible(lexical)
        wanted = [int(i) for i in np.flatnonzero(rows)]
        if self.encoder is None or len(self._missing(keys, wanted)) > AT_ONCE:
            if not wait:
                self._start([texts[i] for i in wanted], [keys[i] for i in wanted])
                return None
            self._work([texts[i] for i in wanted], [keys[i] for i in wanted], foreground=True)
            if self.failed:
                return None
        missing = self._missing(keys, wanted)
        self._encode([texts[i] for i in missing], [keys[i] for i in missing])
        assert self.encoder is not None and self.vectors is not None
        with self.lock:
            self.vectors.save(keys)
            ranking = EncoderRanking(lexical, self.vectors.of(keys, rows), self.encoder)
        self.status = ""
        return ranking

    def close(self) -> None:
        """Stop the thread between two batches and keep the vectors it made (a later question
        starts it again on what is left)."""
        self.stopping.set()
        if self.worker is not None:
            self.worker.join()
            self.worker = None
        self.stopping.clear()
        with self.lock:
            if self.vectors is not None:
                self.vectors.save(list(self.vectors.rows))

    def _missing(self, keys: list[bytes], wanted: list[int]) -> list[int]:
        """The positions in `wanted` whose key has no vector yet (all of them before loading)."""
        with self.lock:
            if self.vectors is None:
                return wanted
            return [i for i in wanted if keys[i] not in self.vectors.rows]

    # ------------------------------------------------------------------------ the thread

    def _start(self, texts: list[str], keys: list[bytes]) -> None:
        self.worker = threading.Thread(
            target=self._work, args=(texts, keys), name="tinychat-encoder", daemon=True
        )
        self.worker.start()

    def _work(self, texts: list[str], keys: list[bytes], foreground: bool = False) -> None:
        """Load the encoder (once) and encode the texts it has no vector for."""
        try:
            self._load(quiet=not foreground, sentences=len(keys))
            missing = self._missing(keys, list(range(len(keys))))
            if len(missing) > AT_ONCE:
                self.on_notice(
                    f"encoder: encoding {len(missing):,} sentences of the notes, once"
                    f" ({self.path.name} keeps them for later starts)"
                )
            started = time.perf_counter()
            self._encode([texts[i] for i in missing], [keys[i] for i in missing])
            self.status = ""  # loaded, and nothing (or a few sentences) to encode
            if len(missing) > AT_ONCE and not self.stopping.is_set():
                seconds = time.perf_counter() - started
                self.on_notice(f"encoder: {len(missing):,} sentences encoded in {seconds:.0f} s")
                self.status = "encoded: the next question uses it"
        except TinychatError as error:
            self._fail(str(error))
        except Exception as error:  # noqa: BLE001  ONNX Runtime failing mid-way: say it, go on
            self._fail(f"retrieval.encoder: stopped ({type(error).__name__}: {str(error)[:120]})")
        self.on_change()

    def _load(self, quiet: bool, sentences: int) -> None:
        """The encoder and its vectors file (once); `quiet`: no download bar (the REPL's prompt
        is on the terminal). A vectors file larger than the notes' `sentences` could make is
        damage, refused unread."""
        from tinychat.retrieval.encoder_model import load_encoder

        if self.encoder is not None:
            return
        self.status = "loading the encoder"
        self.on_change()
        encoder = load_encoder(self.source, quiet=quiet)
        limit = (2 * sentences + VECTORS_SLACK) * (4 * encoder.width + 64) + (1 << 20)
        vectors = SentenceVectors(self.path, encoder.identity, encoder.width, limit)
        with self.lock:
            self.encoder, self.vectors = encoder, vectors

    def _encode(self, texts: list[str], keys: list[bytes]) -> None:
        """Encode `texts` a batch at a time, adding each batch's vectors as it comes."""
        assert self.encoder is not None and self.vectors is not None
        from tinychat.retrieval.encoder_model import BATCH

        for start in range(0, len(texts), BATCH):
            if self.stopping.is_set():
                return
            if len(texts) > AT_ONCE:
                self.status = f"encoding sentences {start:,}/{len(texts):,}"
                self.on_change()
            batch = self.encoder.encode(texts[start : start + BATCH])
            with self.lock:
                self.vectors.add(keys[start : start + BATCH], batch)

    def _fail(self, problem: str) -> None:
        """Say once why the stage cannot run; it then makes no ranking."""
        self.failed = f"{problem}; answers use the word ranking alone"
        self.status = ""
        self.on_notice(self.failed)
