"""A chat session: knowledge + retriever + runtime + settings. Never imports TensorFlow.

`ChatSession.answer(query)` checks the knowledge folder for changes (re-indexing what
changed), retrieves context, builds the prompt, runs the numpy model over it and yields
the answer one character at a time. Afterwards `session.last` holds the answer, its
sources and the exact prompt. The REPL, the pipe and `--json` are thin printers over it.

A session may start without weights (the REPL, while its first training runs in the
background): an answer is then the best matching sentence, marked `retrieved_only`, and the
retrievers that need the model's embeddings wait for it behind the default one.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from tinychat.checkpoint import Checkpoint
from tinychat.config import Config
from tinychat.context import context_lines, fit
from tinychat.errors import TinychatError
from tinychat.knowledge import open_knowledge
from tinychat.retrieval import (
    CACHE_NAME,
    LEXICAL,
    Conversation,
    FeatureCache,
    Hit,
    Retriever,
    cache_limit,
    cached_texts,
    open_stage,
    update_retriever,
)
from tinychat.runtime import Runtime, Trace, sample
from tinychat.vocab import NEWLINE_ID, Spelling, encode, id_to_char, without_invisible

LOOP_LENGTH = 24  # an answer whose last this-many characters already appeared in it is looping
# A question is read up to this many characters: the largest window holds no more, and the
# retriever's time and memory grow with the question's length.
MAX_QUESTION_CHARS = 4096


@dataclass
class Answer:
    """One finished (or interrupted) answer and what it was made from."""

    query: str
    text: str = ""
    sources: list[Hit] = field(default_factory=list)
    prompt: str = ""
    # (V,) the model's probabilities before each char
    distributions: list[np.ndarray] = field(default_factory=list)
    trace: Trace | None = None  # attention while writing the answer (for /why)
    abstained: bool = False  # the notes do not hold the answer: `text` is the decline line
    why_declined: str = ""  # when abstained: why, in a few words (retrieval.declines)
    weak: str = ""  # why the best sentence may not answer ("" for a good match)
    context: list[str] = field(default_factory=list)  # the [CONTEXT] lines the prompt holds
    # what the retriever searched: the query, plus the subject a follow-up refers to
    searched: str = ""
    # no weights yet (still training): `text` is the first context line
    retrieved_only: bool = False
    # the sentences of the first [CONTEXT] line, which the answer copies: what it cites
    # (none when declined)
    cited: list[Hit] = field(default_factory=list)

    @property
    def probabilities(self) -> list[float]:
        """The probability the model gave each answer character it wrote."""
        return [
            float(dist[char_id]) for dist, char_id in zip(self.distributions, encode(self.text))
        ]

    def to_json(self) -> dict:
        """The `--json` contract: query, answer, abstained, weak, searched, sources (the sentences
        the context held, best first: path, 1-based lines, score and text), closest (when the
        answer was declined, the closest sentences, not used; `sources` is then empty) and
        retrieved_only (no trained model yet: the answer is the best matching sentence)."""
        used, closest = ([], self.sources) if self.abstained else (self.sources, [])
        return {
            "query": self.query,
            "answer": self.text,
            "abstained": self.abstained,
            # why the best sentence may not answer ("" for a good match): read the source
            "weak": self.weak,
            "searched": self.searched or self.query,
            "sources": [_source_json(hit) for hit in used],
            "closest": [_source_json(hit) for hit in closest],
            "retrieved_only": self.retrieved_only,
        }


def _source_json(hit: Hit) -> dict:
    """One sentence of the notes as `--json` gives it."""
    chunk = hit.chunk
    return {
        "path": chunk.path,
        "line": chunk.line,
        "end_line": chunk.end_line,
        "score": round(hit.score, 4),
        "text": chunk.text,
    }


class ChatSession:
    """Everything needed to answer questions about one knowledge folder with one checkpoint."""

    def __init__(
        self,
        config: Config,
        checkpoint: Checkpoint | None,
        on_notice: Callable[[str], None] = lambda m: None,
        background: bool = False,
    ):
        self.config = config
        self.on_notice = on_notice
        self.temperature = config.generation.temperature
        self.top_k = config.retrieval.top_k
        self.rng = np.random.default_rng(config.generation.seed)
        self.knowledge = open_knowledge(config)
        self.cache: FeatureCache | None = None  # read at the first sync, sized by the notes found
        self.last: Answer | None = None
        self.conversation = Conversation()
        self.follow_up = False  # search a question that refers back with the conversation's subject
        # say the decline line when the notes do not hold the answer
        self.decline = config.retrieval.decline
        self.reindexed: str = ""  # what the last re-index did, for the toolbar
        # "model trained before N files changed: /retrain", or "" (kept current by sync)
        self.stale = ""
        self.lock = threading.RLock()  # a background watcher may sync while an answer is prepared
        self.fallback_said = False  # "searching with tfidf until ..." is said once
        # a retrieval stage builds in the background (the REPL), or the next answer waits for it
        self.background = background
        self.on_progress: Callable[[], None] = lambda: None  # the stage's progress changed
        self.stage = open_stage(
            config.retrieval,
            config.paths.state,
            lambda message: self.on_notice(message),
            lambda: self.on_progress(),
        )
        self.use(checkpoint)
        self.sync(wait=not background)

    def use(self, checkpoint: Checkpoint | None) -> None:
        """Switch to new weights (after a training), or to none (answers from the retriever)."""
        with self.lock:  # the watcher may be building an index for the old weights
            self.checkpoint = checkpoint
            self.runtime = Runtime(checkpoint.config, checkpoint.arrays) if checkpoint else None
            self.retriever: Retriever | None = None  # built at the next sync
            self.stale_checked = False  # new weights: compare with the knowledge at the next sync
            self.reindexed = ""  # new weights were trained on the knowledge as it is: old news

    def stale_notice(self) -> str:
        """'' if the model was trained on the knowledge as it is, else how many files changed
        since."""
        if self.checkpoint is None:
            return ""  # the training under way reads the knowledge as it is
        if self.checkpoint.fingerprint == self.knowledge.fingerprint():
            return ""
        trained_on = self.checkpoint.record.manifest
        if trained_on is None:
            return "model older than knowledge: /retrain"
        count = self.knowledge.changed_since(trained_on)
        return f"model trained before {count} file{'s' * (count != 1)} changed: /retrain"

    @property
    def progress(self) -> str:
        """What a retrieval stage is building, for the toolbar ("" when nothing)."""
        return self.stage.progress() if self.stage else ""

    def sync(self, wait: bool = False) -> None:
        """Re-read changed knowledge files and rebuild the index if anything changed (`wait`: a
        retrieval stage's ranking too, else it is built in the background)."""
        with self.lock:
            self._sync(wait)

    def _sync(self, wait: bool) -> None:
        first = not self.knowledge.files
        changes = self.knowledge.refresh()
        for warning in changes.warnings:
            self.on_notice(warning)
        if not self.knowledge.has_text():  # every time: the index may still hold removed files
            raise self.knowledge.no_text()
        if self.cache is None:  # only now is known how large a cache the notes could make
            texts = cached_texts(self.knowledge.chunks)
            self.cache = FeatureCache(
                self.config.paths.state / CACHE_NAME,
                cache_limit(texts, self.config.model.d_model),
                on_notice=lambda text: self.on_notice(text),  # the REPL replaces on_notice
            )
        if changes or self.retriever is None:
            kind = self.config.retrieval.retriever
            if kind != LEXICAL and self.checkpoint is None and not self.fallback_said:
                self.fallback_said = True
                self.on_notice(
                    f"retrieval.retriever: {kind} needs the trained model;"
                    " searching by words until training ends"
                )
            table = self.checkpoint.arrays["token_embedding"] if self.checkpoint else None
            # The new index is built completely before it replaces the old one.
            self.retriever = update_retriever(
                self.retriever, changes, self.knowledge, kind, table, self.cache, self.stage
            )
        self.retriever = self.retriever.current(wait)  # a stage's ranking, once it is ready
        if changes or not self.stale_checked:
            self.stale, self.stale_checked = self.stale_notice(), True
        if changes and not first:
            self.reindexed = f"re-indexed: {changes.summary()}"
            self.on_notice(self.reindexed)

    def close(self) -> None:
        """Write what is worth keeping for the next start: the knowledge manifest, and the index
        cache if it learned something or its file was damaged or removed while we ran."""
        with self.lock:
            self.knowledge.save_manifest()
            if self.cache is not None and self.cache.stale():
                self.cache.save(cached_texts(self.knowledge.chunks))
            if self.stage:
                self.stage.close()

    def __enter__(self) -> "ChatSession":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def retrieve(self, query: str) -> list[Hit]:
        """The top-k sentences for `query` as typed: no follow-up, no declining."""
        assert self.retriever is not None
        return self.retriever.search(query, self.top_k)

    def prepare(self, query: str) -> Answer:
        """Sync the knowledge, retrieve and build the prompt; `generate` then writes the answer.

        Every way of asking comes through here, so the question is made fit here: zero-width
        characters dropped, and cut to MAX_QUESTION_CHARS with a notice."""
        query = without_invisible(query)
        if len(query) > MAX_QUESTION_CHARS:
            self.on_notice(
                f"note: the question is {len(query):,} characters long; only its first"
                f" {MAX_QUESTION_CHARS:,} are read"
            )
            query = query[:MAX_QUESTION_CHARS]
        with self.lock:
            self._sync(wait=not self.background)
            assert self.retriever is not None
            conversation = self.conversation if self.follow_up else None
            found = self.retriever.retrieve(query, self.top_k, conversation)
            declined = found.declined if self.decline else ""
            if found.hits and not declined:
                self.conversation.remember(found.subject)
        hits = found.hits
        prompt, lines = fit(
            context_lines(hits, found.one_thing),
            query,
            self.config.model.window,
            self.config.generation.max_answer_chars,
        )
        self.last = Answer(
            query,
            sources=hits if declined else [hit for line in lines for hit in line.hits],
            prompt=prompt.text,
            context=[line.text for line in lines],
            abstained=bool(declined),
            why_declined=declined,
            weak="" if declined else found.weak,
            searched=found.searched,
            cited=list(lines[0].hits) if lines and not declined else [],
        )
        if self.runtime is None and not declined:
            self.last.sources, self.last.retrieved_only = list(self.last.cited), True
        return self.last

    def generate(self, answer: Answer) -> Iterator[str]:
        """Run the model over the prompt, then yield answer characters until a newline or the limit.
        A declined answer is the decline line, and no model runs; without weights the answer is
        the first context line, the best sentence or the two that tie (or the decline line when
        nothing matched)."""
        if answer.abstained or answer.retrieved_only:
            best = answer.context[0] if answer.context and not answer.abstained else ""
            for char in best or self.config.generation.decline_text:
                answer.text += char
                yield char
            return
        runtime = self.runtime
        assert runtime is not None  # an answer prepared without weights is retrieved_only
        prompt = encode(answer.prompt)
        # the context lines as the notes write them: the prompt holds them folded ("Ines")
        spelling = Spelling.of("\n".join([*answer.context, answer.query]))
        copied = ""  # the model's own characters: "Ines" where the note and the answer say "Inês"
        try:
            runtime.prefill(prompt[:-1])  # the prompt at once; its last character is a step
            runtime.trace = answer.trace = Trace()  # from the prompt's last character: /why
            probs = runtime.step(int(prompt[-1]))
            for _ in range(self.config.generation.max_answer_chars):
                token = self._sample(probs)
                if token == NEWLINE_ID:
                    break
                # what it copied, as the note writes it: "£" for the unknown id, "ê" for "e"
                copied += id_to_char(token)
                shown = spelling.shown(copied)
                answer.text += shown
                answer.distributions.append(probs)
                yield shown
                if len(copied) >= 2 * LOOP_LENGTH and copied[-LOOP_LENGTH:] in copied[:-1]:
                    break  # repeating itself: stop instead of looping to the limit
                probs = runtime.step(token)
        except OverflowError:  # math.exp in the copy gate: only extreme (damaged) weights reach it
            raise self._damaged() from None
        finally:
            runtime.trace = None

    def _sample(self, probs: np.ndarray) -> int:
        """The next id; NaN probabilities (from extreme weights) are one line, not a crash."""
        try:
            token = sample(probs, self.temperature, self.rng)
        except ValueError:  # numpy: "probabilities contain NaN"
            raise self._damaged() from None
        if not math.isfinite(probs[token]):  # argmax of an array holding NaN picks a NaN
            raise self._damaged()
        return token

    def _damaged(self) -> TinychatError:
        return TinychatError(
            "the weights give no usable probabilities (NaN or overflow): the"
            " checkpoint is damaged; run `tinychat train --fresh`"
        )

    def answer(self, query: str) -> Iterator[str]:
        """Yield the answer to `query` character by character; `self.last` describes it."""
        return self.generate(self.prepare(query))

    def ask(self, query: str) -> Answer:
        """The whole answer at once."""
        for _ in self.answer(query):
            pass
        assert self.last is not None
        return self.last
