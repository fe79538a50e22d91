"""Optional ranking stages: slower rankings built on the lexical index, turned on in tinychat.yaml.

A stage may take a while to be ready (a model to load, every sentence to encode), so the lexical
ranking answers until it is, and `Retriever.current` then swaps the stage's ranking in between
two answers. One stage so far: `retrieval.encoder` (encoder.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from tinychat.config import NO_ENCODER, RetrievalConfig
from tinychat.retrieval.lexical import LexicalIndex

if TYPE_CHECKING:
    from tinychat.retrieval.retriever import Ranking


class Stage(Protocol):
    """A ranking built on the lexical index, made in the background or on demand."""

    def ranking(self, lexical: LexicalIndex, wait: bool) -> "Ranking | None":
        """The ranking over `lexical` if it is ready, else None (`wait`: make it now)."""
        ...

    def progress(self) -> str:
        """What the stage is making, in a few words, for the toolbar ("" when nothing)."""
        ...

    def close(self) -> None:
        """Stop any work in the background and keep what is worth keeping."""
        ...


def open_stage(
    retrieval: RetrievalConfig,
    state: Path,
    on_notice: Callable[[str], None],
    on_change: Callable[[], None],
) -> Stage | None:
    """The stage the settings ask for, or None. Its module, and the libraries it needs, are
    imported only then: the default chat imports nothing for it.

    `state` is where it keeps what it makes; `on_notice` says one line, `on_change` redraws
    whatever shows its progress."""
    if retrieval.encoder == NO_ENCODER:
        return None
    from tinychat.retrieval.encoder import EncoderStage

    return EncoderStage(retrieval.encoder, state, on_notice, on_change)
