"""The retrieval stage's one door: a question and the conversation in, what to answer from out.

    found = retriever.retrieve("how tall is it?", k=8, conversation=conversation)
    found.hits       the k best sentences, best first
    found.searched   what was searched: the question, plus the subject a follow-up refers to
    found.declined   why the notes do not hold the answer ("" to answer)
    found.weak       why the best sentence may not answer ("" for a good match)
    found.subject    the subject of the best sentence's note, for the next follow-up

Every way of ranking sentences (`retrieval.retriever`: the lexical default, the seed's
embedding retriever, or both fused; and a `Stage` that builds on the lexical one, such as
`retrieval.encoder`'s) sits behind this one class. The English rules that read a
question (subjects, follow-ups, declines) always come from the lexical index, whichever ranks:
they need words, and every retriever has them. Nothing outside this package asks which ranking
it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tinychat.knowledge import Changes, Knowledge
from tinychat.retrieval.cache import FeatureCache, cached_texts
from tinychat.retrieval.conversation import Conversation, refers_back
from tinychat.retrieval.declines import judge
from tinychat.retrieval.embedding import EmbeddingIndex, HybridIndex
from tinychat.retrieval.hits import Hit
from tinychat.retrieval.lexical import LexicalIndex
from tinychat.retrieval.stages import Stage
from tinychat.sentences import Chunk

LEXICAL = "tfidf"  # the ranking that needs no trained weights
# past this share of re-read chunks, rebuild the whole index instead of updating it
LAYER_LIMIT = 0.1
MAX_PARTS = 8  # an index updated this many times is rebuilt: each update adds a part to search


class Ranking(Protocol):
    """A way to order sentences for a text: what every retriever implements."""

    def search(self, query: str, k: int) -> list[Hit]: ...


@dataclass(frozen=True)
class Retrieved:
    """What retrieval found for one question: everything the chat needs to answer it."""

    hits: list[Hit]  # the k best sentences, best first
    searched: str  # the question, plus the subject a follow-up refers back to
    declined: str = ""  # why the notes do not hold the answer, in a few words; "" to answer
    weak: str = ""  # why the best sentence may not answer, in a few words; "" for a good match
    subject: str = ""  # the subject of the best sentence's note ("" when nothing matched)
    one_thing: bool = False  # the best two sentences say one thing (they may share a line)


class Retriever:
    """The sentences of some notes, ranked for a question by `kind`, with the lexical index's
    reading of the question: what to search, and whether the notes answer it."""

    def __init__(
        self,
        kind: str,
        lexical: LexicalIndex,
        ranking: Ranking | None = None,
        stage: Stage | None = None,
    ):
        self.kind = kind
        self.lexical = lexical
        self.ranking: Ranking = ranking or lexical
        self.stage = stage

    def current(self, wait: bool) -> "Retriever":
        """This retriever, or one ranking by its stage once the stage's ranking is ready (`wait`:
        make it now): called between two answers, so a ranking is swapped in whole."""
        if self.stage is None or self.ranking is not self.lexical:
            return self
        ranking = self.stage.ranking(self.lexical, wait)
        return self if ranking is None else Retriever(self.kind, self.lexical, ranking, self.stage)

    @property
    def chunks(self) -> list[Chunk]:
        """Every sentence indexed (after an update, also the hidden old ones)."""
        return self.lexical.chunks

    def search(self, text: str, k: int) -> list[Hit]:
        """The k best sentences for `text`, as searched: no follow-up, no declining."""
        return self.ranking.search(text, k) if k > 0 else []

    def retrieve(
        self, question: str, k: int, conversation: Conversation | None = None
    ) -> Retrieved:
        """The k best sentences for `question`, searched with the subject the conversation is
        about when the question refers back to it, and whether the notes hold its answer."""
        searched = conversation.searched(question, self.lexical) if conversation else question
        # "how does it work?" is about the subject "it" points back to; a question followed up
        # only for being short ("who wrote hamlet?") is judged as typed, as it would be alone
        asked = searched if refers_back(question) else question
        hits, evidence = self.lexical.search_with_evidence(searched, k, asked=asked)
        if self.ranking is not self.lexical:
            hits = self.search(searched, k)
        verdict = judge(evidence if hits else None)
        subject = self.lexical.subject(hits[0].chunk) if hits else ""
        one_thing = self.say_one_thing(searched, hits)
        return Retrieved(hits, searched, verdict.declined, verdict.weak, subject, one_thing)

    def say_one_thing(self, text: str, hits: list[Hit]) -> bool:
        """Whether the best two of `hits` say one thing about `text`: the same subject, the same
        kind of answer (two facts of one list do not: "Alarm code: 4618", "Wifi password: ...")."""
        return len(hits) >= 2 and self.lexical.say_one_thing(text, hits[0].chunk, hits[1].chunk)


def build_retriever(
    kind: str,
    chunks: list[Chunk],
    embedding_table: np.ndarray | None,
    cache: FeatureCache | None = None,
    stage: Stage | None = None,
) -> Retriever:
    """A retriever of `chunks` ranking by `kind`, with features from `cache` where it has them,
    and `stage` to build on it. Without an embedding table (no trained weights yet) every kind
    ranks lexically."""
    cache = cache or FeatureCache()
    lexical = LexicalIndex(chunks, cache.term_counts([chunk.text for chunk in chunks]))
    ranking: Ranking | None = None
    if kind != LEXICAL and embedding_table is not None:
        embedding = EmbeddingIndex(
            chunks, embedding_table, vectors=np.zeros((0, embedding_table.shape[1]), np.float32)
        )
        embedding.vectors = cache.embedding_vectors([c.searchable for c in chunks], embedding)
        ranking = embedding if kind == "embedding" else HybridIndex(chunks, lexical, embedding)
    cache.save(cached_texts(chunks))
    return Retriever(kind if ranking or kind == LEXICAL else LEXICAL, lexical, ranking, stage)


def update_retriever(
    retriever: Retriever | None,
    changes: Changes,
    knowledge: Knowledge,
    kind: str,
    embedding_table: np.ndarray | None,
    cache: FeatureCache,
    stage: Stage | None = None,
) -> Retriever:
    """The retriever for the knowledge as it is now, touching only changed files when that is
    enough. A stage's ranking is made again by `Retriever.current`.

    A few changed files of a large lexical index are updated in place of a rebuild (their old
    sentences hidden, the new ones added as a small part); anything else is a full build, after
    which the manifest is saved. Both rank the same (tests/test_retriever.py proves it).
    """
    if (
        retriever is not None
        and retriever.kind == LEXICAL
        and (kind == LEXICAL or embedding_table is None)
        and changes
        and len(retriever.lexical.parts) < MAX_PARTS
    ):
        index = retriever.lexical
        touched = set(changes.added + changes.changed + changes.removed)
        newer = [
            chunk
            for path in sorted(touched)
            if path in knowledge.files
            for chunk in knowledge.files[path].chunks
        ]
        reread = len(newer) + sum(len(part.chunks) for part in index.parts[1:])
        if reread <= LAYER_LIMIT * len(index.parts[0].chunks):
            counts = cache.term_counts([chunk.text for chunk in newer])
            return Retriever(LEXICAL, index.updated(touched, newer, counts), stage=stage)
    rebuilt = build_retriever(kind, knowledge.chunks, embedding_table, cache, stage)
    knowledge.save_manifest()
    return rebuilt
