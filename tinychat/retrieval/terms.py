"""How text becomes what the retriever matches: words, their stems and character 3-grams.

"Calling model.fit in Keras" -> content words calling, model, fit, keras (stopwords dropped) ->
terms "w:call", "w:model", ... (stemmed words) and " ca", "cal", "all", ... (3-grams across the
words, which forgive a misspelling). A sentence's terms are counted once and cached
(cache.py); a question's are matched against them (lexical.py).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinychat import rules
from tinychat.vocab import normalize

STOPWORDS = frozenset(
    """a about above after again all also an and any are as at be been before being below between
    both but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how i if in into is it its itself just me more most my no nor
    not now of off on once only or other our out over own same she should so some such than that
    the their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours""".split()
)

# a word; a full stop or comma joins digits only ("4.5", "1,248"), so "model.fit" is two words
WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+|(?<=[0-9])[.,][0-9]+)*")
CONTRACTIONS = ("'s", "n't", "'re", "'ll", "'ve", "'d", "'m")
NOT_BASES = {"ca": "can", "wo": "will", "sha": "shall"}  # can't, won't, shan't
# A contraction typed without its apostrophe, as people type in a chat ("whats the pressure
# supposed to be?"): its stopword. Not "wont", "ill", "id" or "well", which are words.
BARE_CONTRACTIONS = {
    "whats": "what", "wheres": "where", "whos": "who", "hows": "how", "whens": "when",
    "thats": "that", "theres": "there", "hes": "he", "shes": "she", "im": "i", "ive": "i",
    "youre": "you", "theyre": "they", "dont": "do", "doesnt": "does", "didnt": "did",
    "isnt": "is", "arent": "are", "wasnt": "was", "werent": "were", "cant": "can",
    "couldnt": "could", "shouldnt": "should", "wouldnt": "would", "hasnt": "has",
    "havent": "have", "hadnt": "had",
}  # fmt: skip
OPENING_TWICE = 2  # content words at a sentence's start that count twice


def stem(word: str) -> str:
    """A crude stem, so word forms meet: painted, paints, painting -> paint; leaves, leave -> leav;
    pickle's -> pickl."""
    word = word.removesuffix("'s")
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def uncontracted(word: str) -> str:
    """A stopword's contraction as the stopword ("what's" -> what, "isn't" -> is, "can't" -> can),
    so it is dropped like one, also typed without its apostrophe ("whats"); other words as they
    are ("marmalade's" is a possessive)."""
    if word in BARE_CONTRACTIONS:
        return BARE_CONTRACTIONS[word]
    for ending in CONTRACTIONS:
        base = word.removesuffix(ending)
        if base != word:
            base = NOT_BASES.get(base, base) if ending == "n't" else base
            return base if base in STOPWORDS else word
    return word


def content_words(text: str) -> list[str]:
    """Lower-case words of `text` without stopwords (all words if it has nothing else), in order."""
    words = [uncontracted(word) for word in WORD.findall(normalize(text).lower())]
    return [w for w in words if w not in STOPWORDS] or words


def sentence_terms(words: list[str]) -> Counter[str]:
    """What is matched: character 3-grams across the words (spelling-tolerant) and stemmed words."""
    padded = f" {' '.join(words)} "
    terms = Counter(padded[i : i + 3] for i in range(len(padded) - 2))
    terms.update("w:" + stem(word) for word in words)
    return terms


def chunk_terms(text: str) -> Counter[str]:
    """The terms of one sentence (what the feature cache stores per sentence text). Its first
    words count twice: a sentence is mostly about what it opens with ("Keras provides ..." is
    about Keras more than "Calling fit in Keras ...")."""
    words = content_words(text)
    opening = words[:OPENING_TWICE] if rules.active("opening_twice") else []
    return sentence_terms(words) + sentence_terms(opening)


# ---------------------------------------------------------------------------- term counts


@dataclass
class TermCounts:
    """Sparse term counts of texts: row i has terms cols[row_ptr[i]:row_ptr[i+1]] (ids into
    `terms`)."""

    terms: list[str]
    row_ptr: np.ndarray  # (N+1,) int64
    cols: np.ndarray  # (nnz,) int32
    counts: np.ndarray  # (nnz,) int32


def count_terms(
    texts: list[str],
    analyzer: Callable[[str], Counter[str]],
    terms: list[str] | None = None,
    term_ids: dict[str, int] | None = None,
) -> TermCounts:
    """Count each text's terms as `analyzer` finds them. New terms are appended to `terms` and
    `term_ids` in place when given (a cache's vocabulary grows without being copied or
    re-hashed), else to new ones."""
    vocabulary = terms if terms is not None else []
    if term_ids is None:
        term_ids = {term: i for i, term in enumerate(vocabulary)}
    row_ptr, cols, counts = [0], [], []
    for text in texts:
        for term, count in analyzer(text).items():
            if term not in term_ids:
                term_ids[term] = len(vocabulary)
                vocabulary.append(term)
            cols.append(term_ids[term])
            counts.append(count)
        row_ptr.append(len(cols))
    return TermCounts(
        vocabulary,
        np.array(row_ptr, np.int64),
        np.array(cols, np.int32),
        np.array(counts, np.int32),
    )
