"""The default retriever: which note a question is about, then which of its sentences answers.

Notes name their subject once and then say "It ...": "The zarnet loom is a narrow hand loom. / It
holds 24 warp threads." Searching each sentence alone, "how many warp threads are on a zarnet
loom?" finds the first sentence, the only one that says "zarnet loom". So a question is matched
in two parts:

1. **The subject.** Each section of a note (a file, or its part under a markdown heading) has
   subject words: its file name, its headings and the opening of its first sentence, up to the
   verb ("The zarnet loom | is ..."). `subject match` is the share of the question's words
   (weighted by rarity) that a section's subject holds. Every sentence of the section gets it.
2. **The sentence.** The question's *other* words, matched against each sentence alone with
   BM25 (postings.py) over character 3-grams and stemmed words (terms.py). A sentence that only
   repeats the subject gains nothing from it, so "It holds 24 warp threads" wins on "warp
   threads".

    score = sentence match + SUBJECT_WEIGHT * subject match + KIND_BONUS if the sentence holds
            what the question asks for (a number for "how many", a date for "when", a name
            for "who")

A question's word also matches the words of the same meaning in `related_words.txt` ("shut"
finds "closes"), at RELATED_WEIGHT of the word itself. And `stranger` notices a question about
a look-alike the notes lack ("the kelby ferry" beside the Vessholm and the Tarrick ferry), which
the chat declines (declines.py).

Everything that depends on the whole folder (term rarity, the mean sentence length) is computed
when a question is asked, from counts kept per sentence. So an index updated after an edit
(`LexicalIndex.updated`) ranks exactly as one built from scratch, and costs only the edited files.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np

from tinychat import rules
from tinychat.retrieval.answer_kinds import KINDS_BY_NAME, demands, holds, kinds_asked
from tinychat.retrieval.declines import Evidence
from tinychat.retrieval.hits import Hit, ranked_hits
from tinychat.retrieval.postings import Postings, bm25
from tinychat.retrieval.related import related
from tinychat.retrieval.terms import (
    STOPWORDS,
    WORD,
    TermCounts,
    chunk_terms,
    content_words,
    count_terms,
    sentence_terms,
    stem,
)
from tinychat.sentences import Chunk, subject_of
from tinychat.vocab import normalize

# a sentence of the note the question names beats a better-worded one elsewhere
SUBJECT_WEIGHT = 1.0
KIND_BONUS = 0.1  # the sentence holds the kind of answer asked for
RELATED_WEIGHT = 0.5  # a word that means the same ("closes" for "shut") counts this much of one
# the best sentences whose kind is checked (enough for any top-k a prompt holds)
KIND_CANDIDATES = 32
OPENING_WORDS = 6  # a first sentence's subject ends at its verb, if one comes this early
AUXILIARIES = frozenset(
    "is are was were has have had can could will would may might must shall should does do did "
    "lies sits stands runs holds".split()
)
# The name a sentence gives its subject: "a Wayfarer called Kittiwake", "Her cat is Pilchard".
NAME_GIVEN = re.compile(r"\b(?:called|named|nicknamed|known as|is|are) ([A-Z][a-z]+)\b")
# Two or more capitalised words a sentence opens with: "Glen Rosa campsite", "Dr. Okafor at"
LEADING_NAME = re.compile(r"(?:[A-Z][\w'.]*\s+)+[A-Z][\w']*")
NAME_OR_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")
# A capitalised word and the name or number right after it: "Bed 4", "Aunt Verity"
# (the label in a lookahead, so that "The Copper Kettle" yields "The Copper" and "Copper Kettle")
TITLED = re.compile(r"(?<![\w'])([A-Z][a-z]+) (?=([A-Z][A-Za-z0-9]*(?:'[A-Za-z]+)?|\d+)\b)")
# Words that shape a question without saying what it is about ("what happens with top-k 0?").
QUESTION_FILLER = frozenset(
    "happen happens happened mean means meant tell explain describe define know please "
    "thing things something anything kind sort type way ways use used using exactly really "
    "actually i me we us my our you your supposed thanks thank cheers hi hello hey".split()
)
# Words that give a question its shape ("how many", "what's"): never a name.
QUESTION_SHAPE = frozenset("many much often far long high big what's when's where's who's".split())
# Words that say which fact of a subject is asked ("the landlord's number", "the wifi password"),
# not which subject: a heading made of them ("Useful numbers", "Codes and passwords") lists facts
# of many subjects, so a question's attribute word ranks no section by its subject.
ATTRIBUTES = frozenset(
    stem(word)
    for word in "number code password pin phone name address email date time day price cost fee "
    "detail info contact".split()
)
# Words a name follows in a question: "the kelby ferry", "our old boat".
DETERMINERS = frozenset("the a an this that our my your their his her".split())
# Words that stand where a name stands without being one ("the next ferry", "the cheapest
# ferry", "the weekly market"): a question may use them though no note does.
NOT_NAMES = frozenset(
    "first second third last next early late main old new big small local usual public private "
    "weekend weekday daily weekly monthly yearly annual summer winter spring autumn morning "
    "afternoon evening night".split()
)
NOT_NAME_ENDINGS = ("est", "er", "ly")  # cheapest, taller, weekly
# A file-name or heading word held by more sentences than this is an everyday word, not a name
# (found on bench/blind2's follow-ups: "time", "water", "year"; README)
NAME_SENTENCES = 3
# An unknown word spelled this much like a word of the notes is a typo of it, not a new name
# (Dice similarity of character 3-grams: "vesholm" and "vessholm" 0.8, "orvington", "orvin" 0.57).
TYPO_SIMILARITY = 0.7
SLIP_LETTERS = 5  # a word this long, one slip from a word of the notes, is that word misspelt


# ---------------------------------------------------------------------------- subjects


def opening_subject(sentence: str, titled: bool = False) -> list[str]:
    """The words a section's first sentence opens with, up to its verb, and the name it gives:
    "The zarnet loom is ..." -> zarnet, loom; "Our dinghy is a Wayfarer called Kittiwake." ->
    dinghy, kittiwake (the note goes on to call it by its name).

    Without a verb among its first words, its first two content words ("Keras provides ..."), or
    under a heading (`titled`), which names the section itself, only a name it opens with:
    "Glen Rosa campsite, two miles ..." -> glen, rosa; "Cream the butter ..." -> nothing."""
    words = WORD.findall(normalize(sentence).lower())[:OPENING_WORDS]
    verb = next((i for i, word in enumerate(words) if word in AUXILIARIES), None)
    stated = [w for w in words[:verb] if w not in STOPWORDS] if verb else []
    if titled:
        leading = LEADING_NAME.match(normalize(sentence))
        opening = stated + (content_words(leading.group()) if leading else [])
    else:
        opening = stated or content_words(sentence)[:2]
    return opening + [name.lower() for name in NAME_GIVEN.findall(normalize(sentence))]


@dataclass
class Sections:
    """The sections of some notes: a file, or its part under one markdown heading; and within
    one, the sentences a lead-in introduces ("Ingredients:" over a list), each group its own
    section for ranking, with the lead-in's words added to the section's subject."""

    of_chunk: np.ndarray  # (N,) section index of each chunk
    subjects: list[frozenset[str]]  # stemmed subject words of each section
    # the note's subject as written, e.g. "loom zarnet", without any lead-in: what a follow-up
    # question carries on with
    names: list[str]
    keys: dict[tuple[str, str, str], int]  # (path, heading, lead-in) -> section
    by_word: dict[str, list[int]] = field(default_factory=dict)  # stemmed word -> sections
    # stemmed word of a file name or heading -> sections ("checkpoint" names checkpoints.txt)
    by_label: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, chunks: list[Chunk]) -> "Sections":
        # A section's subject comes from its first sentence that no lead-in introduces: the one
        # that says what the section is about, wherever a list sits.
        first: dict[tuple[str, str], Chunk] = {}
        for chunk in chunks:
            if not chunk.lead_in:
                first.setdefault((chunk.path, chunk.title), chunk)
        opening: dict[tuple[str, str], list[str]] = {}
        for chunk in chunks:
            if (chunk.path, chunk.title) not in opening:
                words = content_words(subject_of(chunk.path) + " " + chunk.title)
                prose = first.get((chunk.path, chunk.title))
                if prose is not None:
                    words += opening_subject(prose.text, titled=bool(chunk.title))
                opening[chunk.path, chunk.title] = words
        of_chunk = np.zeros(len(chunks), np.int64)
        subjects: list[frozenset[str]] = []
        names: list[str] = []
        keys: dict[tuple[str, str, str], int] = {}
        for i, chunk in enumerate(chunks):
            key = (chunk.path, chunk.title, chunk.lead_in)
            if key not in keys:
                words = opening[chunk.path, chunk.title]
                subjects.append(frozenset(map(stem, words + content_words(chunk.lead_in))))
                names.append(" ".join(dict.fromkeys(words)))
                keys[key] = len(subjects) - 1
            of_chunk[i] = keys[key]
        by_word: dict[str, list[int]] = {}
        for index, words in enumerate(subjects):
            for word in words:
                by_word.setdefault(word, []).append(index)
        by_label: dict[str, list[int]] = {}
        for (path, title, _), index in keys.items():
            for word in content_words(subject_of(path) + " " + title):
                by_label.setdefault(stem(word), []).append(index)
        return cls(of_chunk, subjects, names, keys, by_word, by_label)


def _named_kinds(sentence: str) -> list[str]:
    """Stemmed words that follow a name in `sentence` ("The Vessholm ferry", "Millrace Choir is")
    or come before "of" and a name ("the town of Velmora")."""
    words = NAME_OR_WORD.findall(normalize(sentence))
    kinds = []
    for i in range(1, len(words)):
        name = words[i - 1][0].isupper() and (i > 1 or words[i][0].isupper())
        if name and words[i].isalpha():
            kinds.append(stem(words[i].lower()))
        if i + 1 < len(words) and words[i] == "of" and words[i + 1][0].isupper():
            kinds.append(stem(words[i - 1].lower()))
    return kinds


@dataclass
class Match:
    """How each sentence matches a question: the parts of its score, each a share of the
    question."""

    subject: np.ndarray  # (N,) of the question's words, the share its section's subject holds
    sentence: np.ndarray  # (N,) BM25 of the question's other words in the sentence, -inf if hidden
    kind: np.ndarray  # (N,) 1 if it holds the kind of answer asked for, 0.5 a lesser kind, 0 none

    def score(self) -> np.ndarray:
        return self.sentence + SUBJECT_WEIGHT * self.subject + KIND_BONUS * self.kind


@dataclass
class Part:
    """Sentences with their postings and sections; an index has one part, or two after an update."""

    chunks: list[Chunk]
    postings: Postings
    sections: Sections
    hidden: np.ndarray  # (N,) bool: sentences of files edited or removed since this part was built

    @property
    def visible_chunks(self) -> list[Chunk]:
        """The sentences not hidden by a later edit (a part's `hidden` never changes: an update
        makes new parts, so what is computed from these may be cached)."""
        return [chunk for chunk, hidden in zip(self.chunks, self.hidden) if not hidden]

    @functools.cached_property
    def labels(self) -> dict[str, frozenset[str]]:
        """Stemmed word -> the names and numbers the notes write after it, for a word written
        with a capital before two labels or more ("Bed 1" ... "Bed 4"): {"bed": {"1", ... "4"}}.
        Only a word the notes use as a title in half the sentences that hold it or more: "New"
        of "New York" and "New Zealand" is mostly "a new roof". Read at the first question that
        needs them."""
        found: dict[str, set[str]] = {}
        titled: dict[str, int] = {}  # title -> sentences using it as one
        for chunk in self.visible_chunks:
            # a title and its label with only a space between: "Bin: Black bin" labels nothing
            used = set()
            for title, label in TITLED.findall(normalize(chunk.text)):
                if title.lower() not in STOPWORDS:
                    found.setdefault(stem(title.lower()), set()).add(label.lower())
                    used.add(stem(title.lower()))
            for title in used:
                titled[title] = titled.get(title, 0) + 1
        return {
            title: frozenset(labels)
            for title, labels in found.items()
            if len(labels) >= 2
            and 2 * titled[title] >= self.postings.frequency(f"w:{title}", self.hidden)
        }

    @functools.cached_property
    def words_with(self) -> dict[str, list[str]]:
        """Character 3-gram -> the stemmed words of these sentences that hold it: where to look
        for the word a misspelling means. Built at the first question that needs it."""
        found: dict[str, list[str]] = {}
        for term in self.postings.term_ids:
            if term.startswith("w:"):
                for gram in _trigrams(term[2:]):
                    found.setdefault(gram, []).append(term[2:])
        return found

    @functools.cached_property
    def named_kinds(self) -> frozenset[str]:
        """Stemmed words the notes write after a name ("ferry" of "the Vessholm ferry", "town"
        of "the town of Velmora"): kinds of thing that have names here. Read at the first
        question that needs them, not at start: most questions never do."""
        return frozenset(
            kind for chunk in self.visible_chunks for kind in _named_kinds(chunk.text)
        )


# ---------------------------------------------------------------------------- the index


class LexicalIndex:
    """Subject-then-sentence retrieval over BM25 term counts (see the module docstring)."""

    def __init__(
        self, chunks: list[Chunk], counts: TermCounts | None = None, parts: list[Part] | None = None
    ):
        if parts is None:
            counts = counts or count_terms([chunk.text for chunk in chunks], analyzer=chunk_terms)
            parts = [
                Part(
                    chunks,
                    Postings.of(counts, len(chunks)),
                    Sections.of(chunks),
                    np.zeros(len(chunks), bool),
                )
            ]
        self.parts = parts
        self.chunks = [
            chunk for part in parts for chunk in part.chunks
        ]  # hidden ones included, scored -inf

    def updated(
        self, changed_paths: set[str], newer: list[Chunk], counts: TermCounts
    ) -> "LexicalIndex":
        """This index with the sentences of `changed_paths` hidden and `newer` (their new
        sentences) added."""
        parts = [
            Part(
                p.chunks,
                p.postings,
                p.sections,
                p.hidden | np.array([c.path in changed_paths for c in p.chunks], bool),
            )
            for p in self.parts
        ]
        return LexicalIndex([], parts=parts + [LexicalIndex(newer, counts).parts[0]])

    def subject(self, chunk: Chunk) -> str:
        """The subject words of the section `chunk` belongs to ("zarnet loom"), as written."""
        for part in reversed(self.parts):  # the newest part holds the file's current sentences
            section = part.sections.keys.get((chunk.path, chunk.title, chunk.lead_in))
            if section is not None:
                return part.sections.names[section]
        return subject_of(chunk.path)

    def names_a_subject(self, query: str, besides: str = "", loosely: bool = False) -> bool:
        """Whether `query` names a subject of the notes other than `besides`: a word of a file name
        or heading as written that few sentences hold ("vet" of vet.txt; "opened" does not name
        "opening times.md"), or half the subject words of some section. `loosely`: any word of a
        file name or heading, however many sentences hold it ("keras" of keras.txt)."""
        known = {stem(word) for word in content_words(besides)}
        if rules.active("attributes"):  # "the flight number" names no note of "Useful numbers"
            known |= ATTRIBUTES
        words = [
            word
            for word in content_words(query)
            if word not in QUESTION_FILLER and stem(word) not in known
        ]
        # "tarrick" of "tarrick ferry.txt" names a subject; "water" of "brindle water.md" or
        # "times" of "## Opening times" is an everyday word that many sentences hold
        names = [
            word for word in words if loosely or self._sentences_holding(word) <= NAME_SENTENCES
        ]
        # a file's whole name of two words or more, as a phrase, even of everyday words: "and the
        # brindle water one?" after the Brindle Edge walk names "brindle water.md"
        asked = " ".join(stem(word) for word in content_words(query))
        if any(
            len(name) >= 2 and f" {' '.join(name)} " in f" {asked} " and not set(name) <= known
            for name in self._file_names
        ):
            return True
        for part in self.parts:
            if any(part.sections.by_label.get(stem(word)) for word in names):
                return True
            named: dict[int, int] = {}
            for stemmed in {stem(word) for word in names}:
                for section in part.sections.by_word.get(stemmed, []):
                    named[section] = named.get(section, 0) + 1
            # half its subject words, and two of them unless it has only one ("what time" does
            # not name "## Opening times")
            if any(
                2 * count >= len(part.sections.subjects[section])
                and count >= min(2, len(part.sections.subjects[section]))
                for section, count in named.items()
            ):
                return True
        return False

    @functools.cached_property
    def _file_names(self) -> list[tuple[str, ...]]:
        """The stemmed words of each note's file name ("brindle water.md" -> brindl, water)."""
        paths = {chunk.path for part in self.parts for chunk in part.visible_chunks}
        names = (subject_of(path.rsplit("/", 1)[-1]) for path in paths)
        return [tuple(map(stem, content_words(name))) for name in names]

    def rare_words(self, query: str) -> list[str]:
        """The words of `query` that some sentences hold, but few ("stopcock"): not the words
        that shape a question ("many", "old" of "how old")."""
        shaping = QUESTION_FILLER | QUESTION_SHAPE | set(re.findall(r"\bhow (\w+)", query.lower()))
        return [
            word
            for word in content_words(query)
            if word not in shaping and 0 < self._sentences_holding(word) <= NAME_SENTENCES
        ]

    def _sentences_holding(self, word: str) -> int:
        """How many visible sentences hold `word` (in any of its forms)."""
        term = f"w:{stem(word)}"
        return sum(part.postings.frequency(term, part.hidden) for part in self.parts)

    def holds_word(self, word: str) -> bool:
        """Whether some note holds `word` (in any of its forms), in a sentence or a subject."""
        return self._holds_stem(stem(word))

    def _holds_stem(self, stemmed: str) -> bool:
        return any(
            f"w:{stemmed}" in part.postings.term_ids or stemmed in part.sections.by_word
            for part in self.parts
        )

    def stranger(self, query: str) -> str:
        """A word in a name's place that no note holds, on a kind of thing the notes name, or "".

        Over notes about the Vessholm and the Tarrick ferry, "when does the kelby ferry leave?"
        asks about a third ferry: "kelby" stands where a name stands (after "the", before
        "ferry", a word naming a subject of the notes) and no note holds it. The same for "the
        town of quellbrook". "who owns derrow mill?" has no stranger: "owns" follows no "the"."""
        words = WORD.findall(normalize(query).lower())
        new = [
            word not in STOPWORDS
            and word not in QUESTION_SHAPE
            and word not in QUESTION_FILLER
            and not self.holds_word(word)
            for word in words
        ]
        for first, last in _runs(new):
            before_kind = (
                first > 0
                and words[first - 1] in DETERMINERS
                and last + 1 < len(words)
                and self._named_kind(words[last + 1])
            )
            after_of = (
                first >= 2 and words[first - 1] == "of" and self._named_kind(words[first - 2])
            )
            name = words[first]
            looks_like_name = name not in NOT_NAMES and not name.endswith(NOT_NAME_ENDINGS)
            if (before_kind or after_of) and looks_like_name and not self._typo(name):
                return name
        return ""

    def new_label(self, query: str) -> str:
        """A label the notes never write after a word they label with several, or "": "bed 5"
        over notes about Beds 1 to 4, "aunt beatrice" over Aunts Verity and Rosalind."""
        words = WORD.findall(normalize(query).lower())
        for title, label in zip(words, words[1:]):
            labels = {known for part in self.parts for known in part.labels.get(stem(title), ())}
            new_label = label.isdigit() or not self.holds_word(label)
            if labels and new_label and label not in labels | QUESTION_SHAPE | STOPWORDS:
                if label.isdigit() or not any(_similar(label, known) for known in labels):
                    return f"{title} {label}"  # "bed 5": the notes may well say "5" elsewhere
        return ""

    def about_words(self, query: str) -> list[str]:
        """The words of `query` that say what it is about: not those that shape a question ("how
        many", "what's"), chatter ("please") or name an attribute of a subject ("number")."""
        shaping = QUESTION_FILLER | QUESTION_SHAPE | set(re.findall(r"\bhow (\w+)", query.lower()))
        return [
            word
            for word in dict.fromkeys(content_words(query))
            if word not in shaping and word not in STOPWORDS and stem(word) not in ATTRIBUTES
        ]

    def absent(self, word: str) -> bool:
        """Whether no note holds `word` in any form, nor a word of the same meaning, nor a word
        it misspells ("pasword")."""
        stemmed = stem(word)
        return not (
            self._holds_stem(stemmed)
            or any(map(self._holds_stem, related(stemmed, stem)))
            or self._misspells(stemmed)
        )

    def _named_kind(self, word: str) -> bool:
        """Whether the notes give names to things of the kind `word` says ("ferry", "town")."""
        return word not in STOPWORDS and any(stem(word) in part.named_kinds for part in self.parts)

    def _typo(self, word: str) -> bool:
        """Whether `word` is spelled much like a subject word of the notes ("vesholm")."""
        return any(
            _similar(stem(word), known) for part in self.parts for known in part.sections.by_word
        )

    def _misspells(self, stemmed: str) -> bool:
        """Whether `stemmed` is spelled much like a word some note holds ("pasword")."""
        candidates = {
            known
            for part in self.parts
            for gram in _trigrams(stemmed)
            for known in part.words_with.get(gram, ())
        }
        return any(_similar(stemmed, known) for known in candidates)

    def say_one_thing(self, query: str, best: Chunk, second: Chunk) -> bool:
        """Whether two sentences answer `query` as one: they share a note's section and its
        lead-in ("225g flour" of the ingredients is not "This is Mum's recipe" above them), and
        both hold the kind of answer asked for or neither does."""
        kinds = tuple(kind.name for kind in kinds_asked(query))
        same_section = (best.path, best.title, best.lead_in) == (
            second.path,
            second.title,
            second.lead_in,
        )
        return same_section and _holds(best.text, kinds) == _holds(second.text, kinds)

    def visible(self) -> int:
        return sum(len(part.chunks) - int(part.hidden.sum()) for part in self.parts)

    def search(self, query: str, k: int) -> list[Hit]:
        return self.search_with_evidence(query, k)[0]

    def search_with_evidence(
        self, query: str, k: int, asked: str | None = None
    ) -> tuple[list[Hit], Evidence]:
        """The k best sentences, and what the best one says of whether the notes hold an answer
        to `asked` (the question as typed, when `query` adds a follow-up's subject to it)."""
        match = self.match(query)
        scores = match.score()
        hits = ranked_hits(self.chunks, scores, k, floor=0.0)
        best = int(np.argmax(scores)) if hits else -1
        asked = asked if asked is not None else query
        about = self.about_words(asked)
        # the kind of answer `asked` asks for, if the best sentence holds none of those asked
        kinds = kinds_asked(query)
        demanded = [kind for kind in kinds_asked(asked) if demands(kind, asked)]
        missing = bool(hits and demanded)
        missing = missing and not _holds(self.chunks[best].text, tuple(k.name for k in kinds))
        evidence = Evidence(
            float(scores[best]) if hits else 0.0,
            float(match.subject[best]) if hits else 0.0,
            tuple(about),
            tuple(word for word in about if self.absent(word)),
            self.new_label(asked),
            self.stranger(asked),
            demanded[0].noun if missing else "",
        )
        return hits, evidence

    def subject_share(self, query: str) -> float:
        """The largest share of `query`'s words that a section's subject holds: 0 when the
        question names no subject of the notes."""
        subject = self.match(query).subject
        return float(subject.max()) if len(subject) else 0.0

    def scores(self, query: str) -> np.ndarray:
        """(N,) score of every sentence, hidden ones -inf."""
        return self.match(query).score()

    def match(self, query: str) -> "Match":
        """How every sentence matches `query`, part by part (hidden ones score -inf)."""
        words = [
            word for word in content_words(query) if word not in QUESTION_FILLER
        ] or content_words(query)
        stems = [stem(word) for word in words]
        count = max(self.visible(), 1)
        rarity = self._rarity(count)
        word_weight = np.array([rarity(f"w:{s}") for s in stems], np.float32)
        average_length = sum(float(p.postings.lengths[~p.hidden].sum()) for p in self.parts) / count
        kinds = kinds_asked(query)
        # What a sentence matching every word of the question would score.
        full = sum(rarity(term) for term in sentence_terms(words))
        subject, sentence = [], []
        for part in self.parts:
            # (N,) bit i set: question word i is in the subject of the sentence's section
            in_subject = _subject_masks(part.sections, stems)[part.sections.of_chunk]
            part_sentence = np.zeros(len(part.chunks), np.float32)
            for mask in np.unique(in_subject):
                rest = [word for i, word in enumerate(words) if not (int(mask) >> i) & 1]
                rows = in_subject == mask
                terms = _related_terms(rest, rarity) | dict.fromkeys(sentence_terms(rest), 1.0)
                part_sentence[rows] = bm25(part.postings, terms, rarity, average_length, full)[
                    rows
                ]
            part_sentence[part.hidden] = -np.inf
            sentence.append(part_sentence)
            subject.append(_subject_match(in_subject, word_weight))
        subject_all, sentence_all = (
            np.concatenate(v) if v else np.zeros(0, np.float32) for v in (subject, sentence)
        )
        return Match(
            subject_all,
            sentence_all,
            _kind_held(self.chunks, sentence_all + SUBJECT_WEIGHT * subject_all, kinds),
        )

    def _rarity(self, count: int):
        """BM25's inverse document frequency of a term over the visible sentences of every part
        (remembered for the question being scored: its terms are looked up several times)."""
        known: dict[str, float] = {}

        def rarity(term: str) -> float:
            if term not in known:
                frequency = sum(part.postings.frequency(term, part.hidden) for part in self.parts)
                known[term] = float(np.log(1.0 + (count - frequency + 0.5) / (frequency + 0.5)))
            return known[term]

        return rarity


def _kind_held(chunks: list[Chunk], base: np.ndarray, kinds: list) -> np.ndarray:
    """(N,) `answer_kinds.holds` for the sentences the kind bonus could still lift to the top (only
    those: a regular expression per sentence of a large folder would cost more than the search)."""
    held = np.zeros(len(chunks), np.float32)
    if not kinds or not len(base) or not np.isfinite(base.max()) or base.max() <= 0:
        return held
    band = np.flatnonzero(base >= base.max() - KIND_BONUS - 1e-6)
    names = tuple(kind.name for kind in kinds)
    for i in band[np.argsort(-base[band], kind="stable")][:KIND_CANDIDATES]:
        held[i] = _holds(chunks[i].text, names)
    return held


@functools.lru_cache(maxsize=1 << 16)  # training asks about the same sentences thousands of times
def _holds(text: str, kind_names: tuple[str, ...]) -> float:
    return holds(text, [KINDS_BY_NAME[name] for name in kind_names])


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(first, last) index of each run of true flags: [F, T, T, F, T] -> [(1, 2), (4, 4)]."""
    runs: list[tuple[int, int]] = []
    for i, flag in enumerate(flags):
        if flag and (not runs or runs[-1][1] != i - 1):
            runs.append((i, i))
        elif flag:
            runs[-1] = (runs[-1][0], i)
    return runs


def _similar(word: str, known: str) -> bool:
    """Whether `word` is spelled much like `known`: a typo of it (see TYPO_SIMILARITY), or one
    slip away in a long word ("kristiva", "univeristy")."""
    grams, known_grams = _trigrams(word), _trigrams(known)
    if 2 * len(grams & known_grams) / (len(grams) + len(known_grams)) >= TYPO_SIMILARITY:
        return True
    long_enough = min(len(word), len(known)) >= SLIP_LETTERS
    return long_enough and rules.active("misspellings") and _one_slip(word, known)


def _one_slip(word: str, known: str) -> bool:
    """Whether one letter added, dropped, changed, or two swapped, turns `word` into `known`."""
    if abs(len(word) - len(known)) > 1 or word == known:
        return False
    start = next(
        (i for i, (a, b) in enumerate(zip(word, known)) if a != b), min(len(word), len(known))
    )
    if len(word) == len(known):
        swapped = word[start + 1 : start + 2] + word[start : start + 1] == known[start : start + 2]
        return word[start + 1 :] == known[start + 1 :] or (
            swapped and word[start + 2 :] == known[start + 2 :]
        )
    shorter, longer = sorted((word, known), key=len)
    return shorter[start:] == longer[start + 1 :]


@functools.lru_cache(maxsize=1 << 16)
def _trigrams(word: str) -> frozenset[str]:
    padded = f" {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def _subject_masks(sections: Sections, stems: list[str]) -> np.ndarray:
    """(sections,) bitmask per section: bit i is set when question word i is among its subject
    words (an attribute word never is: see ATTRIBUTES)."""
    masks = np.zeros(len(sections.subjects), np.int64)
    if not rules.active("subjects"):
        return masks
    attributes = ATTRIBUTES if rules.active("attributes") else frozenset()
    for i, word in enumerate(stems[:62]):  # 62 words is more than any question needs
        if word in attributes:
            continue
        for section in sections.by_word.get(word, []):
            masks[section] |= 1 << i
    return masks


def _subject_match(masks: np.ndarray, word_weight: np.ndarray) -> np.ndarray:
    """Share of the question's word weight found in each subject (one mask per section or chunk)."""
    total = float(word_weight.sum())
    if total <= 0:
        return np.zeros(len(masks), np.float32)
    bits = (masks[:, None] >> np.arange(len(word_weight))[None, :]) & 1  # (sections, words)
    return (bits * word_weight[None, :]).sum(axis=1).astype(np.float32) / total


def _related_terms(words: list[str], rarity) -> dict[str, float]:
    """Word terms for the words that mean the same as `words` ("clos" for "shut"), each weighted
    so that it earns RELATED_WEIGHT of what the question's own word would earn if the sentence
    held it (its stem and its character 3-grams), not of its stem alone."""
    own = {stem(word) for word in words}
    terms: dict[str, float] = {}
    for word in words:
        earned = RELATED_WEIGHT * sum(rarity(term) for term in sentence_terms([word]))
        for other in related(stem(word), stem) - own:
            term = f"w:{other}"
            if rarity(term) > 0:
                terms[term] = max(terms.get(term, 0.0), earned / rarity(term))
    return terms
