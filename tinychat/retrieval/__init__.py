"""Retrieval: which sentences of the notes answer a question, and whether any does.

The chat, the REPL, `eval` and training use only what this file exports: a `Retriever` built
over the notes' sentences (`build_retriever`, `update_retriever` after files change), whose
`retrieve(question, k, conversation)` returns a `Retrieved`, and the `FeatureCache` that keeps
the sentences' features between runs. Inside, one module a job:

- terms: words, stems and character 3-grams; postings: BM25 over them
- lexical: the default ranking, a note's subject first, then its sentence
- answer_kinds, related (related_words.txt): the English a question is read with
- conversation: what a follow-up searches; declines: when the notes do not say
- embedding: the seed's mean-of-embeddings ranking, and its fusion with the lexical one
- stages: optional rankings built on the lexical one, swapped in when ready; encoder (with
  encoder_model): a pretrained sentence encoder's cosine added to the lexical score
- cache: features on disk; retriever: the door itself
"""

from tinychat.retrieval.cache import CACHE_NAME, FeatureCache, cache_limit, cached_texts
from tinychat.retrieval.conversation import Conversation
from tinychat.retrieval.hits import Hit
from tinychat.retrieval.stages import Stage, open_stage
from tinychat.retrieval.retriever import (
    LEXICAL,
    Retrieved,
    Retriever,
    build_retriever,
    update_retriever,
)

__all__ = [
    "CACHE_NAME",
    "LEXICAL",
    "Conversation",
    "FeatureCache",
    "Hit",
    "Retrieved",
    "Retriever",
    "Stage",
    "build_retriever",
    "cache_limit",
    "cached_texts",
    "open_stage",
    "update_retriever",
]
