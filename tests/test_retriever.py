"""Retrievers: a planted matching sentence ranks first; the feature cache makes a restart
re-embed nothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinychat.retrieval import FeatureCache, build_retriever
from tinychat.knowledge import Chunk
from tinychat.vocab import VOCAB_SIZE

DISTRACTORS = [
    f"Item {i} of the list concerns {word} and {other} in the garden."
    for i, (word, other) in enumerate(
        zip(
            [
                "apples",
                "pears",
                "roses",
                "tulips",
                "spades",
                "hoses",
                "sheds",
                "ponds",
                "hedges",
                "lawns",
            ]
            * 2,
            ["soil", "rain", "sun", "wind", "frost", "mud", "moss", "bark", "seeds", "worms"] * 2,
        )
    )
]
PLANTED = "The zeppelin Quorvax carries 310 passengers over Lake Mirrin."


def chunks() -> list[Chunk]:
    texts = DISTRACTORS[:10] + [PLANTED] + DISTRACTORS[10:]
    return [Chunk(f"f{i}.txt", 1, 1, text) for i, text in enumerate(texts)]


@pytest.fixture(scope="module")
def table():
    """A trained-like embedding table: the planted sentence's rare letters stand apart."""
    return np.random.default_rng(0).normal(size=(VOCAB_SIZE, 16)).astype(np.float32)


@pytest.mark.parametrize("kind", ["tfidf", "embedding", "hybrid"])
def test_planted_sentence_ranks_first(kind, table):
    index = build_retriever(kind, chunks(), table)
    query = (
        PLANTED if kind == "embedding" else "how many passengers does the zeppelin quorvax carry?"
    )
    hits = index.search(query, 5)
    assert hits[0].chunk.text == PLANTED
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("kind", ["tfidf", "embedding", "hybrid"])
def test_k_bounds(kind, table):
    index = build_retriever(kind, chunks(), table)
    # tfidf leaves out what shares nothing
    matching = len(DISTRACTORS) if kind == "tfidf" else len(chunks())
    assert len(index.search("garden", 1000)) == matching
    assert len(index.search("garden", 3)) == 3 and index.search("garden", 0) == []


def test_feature_cache_restart_re_embeds_nothing(tmp_path, table):
    path = tmp_path / "cache.npz"
    first = FeatureCache(path)
    build_retriever("hybrid", chunks(), table, first)
    assert first.computed == 2 * len(chunks())  # term counts and vectors, each once
    again = FeatureCache(path)
    index = build_retriever("hybrid", chunks(), table, again)
    assert again.computed == 0 and index.search("zeppelin quorvax", 1)[0].chunk.text == PLANTED
    edited = chunks()[:-1] + [Chunk("new.txt", 1, 1, "A brand new sentence about kites.")]
    build_retriever("hybrid", edited, table, again)
    assert again.computed == 2  # only the new sentence
    other_table = table + 1.0
    build_retriever("embedding", edited, other_table, again)
    assert again.computed == 2 + len(edited)  # vectors made with other weights are stale


def rewrite_array(path, name: str, value) -> None:
    """Save the cache at `path` again with one array replaced (or removed, for None)."""
    import io

    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    if value is None:
        del arrays[name]
    else:
        arrays[name] = np.asarray(value)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def flip_middle_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


DAMAGE = {
    "not numpy": lambda p: p.write_bytes(b"not a numpy file"),
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:1000]),
    "one flipped byte": flip_middle_byte,
    "a FIFO": lambda p: p.unlink() or __import__("os").mkfifo(p),
    "a folder": lambda p: p.unlink() or p.mkdir(),
    "no version": lambda p: rewrite_array(p, "version", None),
    "version as text": lambda p: rewrite_array(p, "version", "1"),
    "short row_ptr": lambda p: rewrite_array(p, "row_ptr", [0, 1]),
    "term id out of range": lambda p: rewrite_array(p, "cols", np.load(p)["cols"] + 10**6),
    "zero counts": lambda p: rewrite_array(p, "counts", np.load(p)["counts"] * 0),
    "keys of 19 bytes": lambda p: rewrite_array(p, "count_keys", np.load(p)["count_keys"][:, :19]),
    "NaN vectors": lambda p: rewrite_array(p, "vectors", np.load(p)["vectors"] * np.nan),
    "pickled object": lambda p: rewrite_array(p, "terms", np.array([object()], dtype=object)),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_cache_is_ignored_and_rewritten(tmp_path, table, damage):
    path = tmp_path / "cache.npz"
    build_retriever("hybrid", chunks(), table, FeatureCache(path))
    damage(path)
    cache = FeatureCache(path)
    index = build_retriever("hybrid", chunks(), table, cache)
    assert index.search("zeppelin", 1)[0].chunk.text == PLANTED
    assert cache.computed == 2 * len(chunks())  # everything computed again...
    if path.is_dir():
        return  # a folder is the user's: it is not replaced
    again = FeatureCache(path)
    build_retriever("hybrid", chunks(), table, again)
    assert again.computed == 0  # ...and the file rewritten whole


def test_an_updated_index_is_used_for_a_few_changed_files_and_rebuilt_for_many(tmp_path, table):
    from tinychat.config import KnowledgeConfig
    from tinychat.retrieval import update_retriever
    from tinychat.knowledge import Knowledge
    folder = tmp_path / "notes"
    folder.mkdir()
    for i, text in enumerate(DISTRACTORS * 3):  # 60 files: one changed file is well under the limit
        (folder / f"n{i:02d}.txt").write_text(f"{text} Note {i} says hello.\n")
    knowledge = Knowledge(folder, KnowledgeConfig())
    cache = FeatureCache()
    index = update_retriever(None, knowledge.refresh(), knowledge, "tfidf", table, cache)
    assert len(index.lexical.parts) == 1
    (folder / "n07.txt").write_text(PLANTED + "\n")
    index = update_retriever(index, knowledge.refresh(), knowledge, "tfidf", table, cache)
    assert len(index.lexical.parts) == 2
    assert index.search("zeppelin quorvax", 1)[0].chunk.path == "n07.txt"
    for i in range(20):  # many changes: past the limit the whole index is rebuilt
        (folder / f"n{i:02d}.txt").write_text(f"Rewritten note {i}.\n")
    rebuilt = update_retriever(index, knowledge.refresh(), knowledge, "tfidf", table, cache)
    assert len(rebuilt.lexical.parts) == 1


NOTE_TEXTS = [
    "The zarnet loom is a narrow hand loom. It holds 24 warp threads.",
    "The ferry to Brisk leaves at 7.",
    "Keras provides layers. Keras 3 runs on JAX.",
    "It has two bridges and a tower.",
    "Tea is grown on the hill.",
    "The Ostrevane ferry goes to Pellin. It takes forty minutes.",
    "",
]
QUERIES = [
    "how many warp threads are on the zarnet loom?",
    "when does the ferry leave?",
    "keras",
    "bridges",
    "how long does the ostrevane ferry take?",
    "tea hill",
    "???",
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "edit", "delete"]), st.integers(0, 5), st.integers(0, 6)),
        min_size=1,
        max_size=8,
    )
)
def test_rankings_after_any_edits_equal_a_fresh_build(tmp_path_factory, edits):
    """Issue 14: a note edited while tinychat runs must rank exactly as after a restart."""
    from tinychat.config import KnowledgeConfig
    from tinychat.retrieval import update_retriever
    from tinychat.knowledge import Knowledge

    folder = tmp_path_factory.mktemp("notes")
    for i in range(40):  # enough files that a few edits update the index instead of rebuilding it
        (folder / f"base{i:02d}.txt").write_text(f"{DISTRACTORS[i % 20]} Base note {i}.\n")
    knowledge, cache = Knowledge(folder, KnowledgeConfig()), FeatureCache()
    index = update_retriever(None, knowledge.refresh(), knowledge, "tfidf", None, cache)
    for action, file_number, text_number in edits:
        path = folder / f"note{file_number}.txt"
        if action == "delete":
            path.unlink(missing_ok=True)
        else:
            path.write_text(
                NOTE_TEXTS[text_number] + ("\nAn edit." if action == "edit" else "") + "\n"
            )
        index = update_retriever(index, knowledge.refresh(), knowledge, "tfidf", None, cache)
    fresh = build_retriever(
        "tfidf", knowledge.chunks, None, FeatureCache()
    )  # a new process, a new cache
    for query in QUERIES:
        got, want = index.search(query, 5), fresh.search(query, 5)
        assert [h.chunk for h in got] == [h.chunk for h in want], query
        assert np.allclose([h.score for h in got], [h.score for h in want], atol=1e-6), query


def test_scores_do_not_depend_on_what_the_cache_has_seen(tmp_path, table):
    """Issue 14: terms of text that is gone must not change the scores of what is there."""
    seen = FeatureCache(tmp_path / "cache.npz")
    build_retriever(
        "tfidf",
        [Chunk("x.txt", 1, 1, "Completely different words: quartz, marmalade, viaduct.")],
        table,
        seen,
    )
    with_history = build_retriever("tfidf", chunks(), table, FeatureCache(tmp_path / "cache.npz"))
    fresh = build_retriever("tfidf", chunks(), table, FeatureCache())
    query = "how many passengers does the zeppelin quorvax carry over the garden?"
    assert [(h.chunk, round(h.score, 6)) for h in with_history.search(query, 5)] == [
        (h.chunk, round(h.score, 6)) for h in fresh.search(query, 5)
    ]


def test_a_pronoun_sentence_inherits_its_notes_subject():
    """The first sentence names the loom; the answering one says "It": the question's other
    words pick it."""
    from tinychat.knowledge import split_chunks
    from tinychat.retrieval.lexical import LexicalIndex

    notes = split_chunks(
        "loom.txt",
        "The zarnet loom is a narrow hand loom used to weave belts.\n"
        "It holds 24 warp threads and is worked with a shuttle carved from bone.\n"
        "Its frame is made of ash wood.\n",
        200,
    )
    notes += split_chunks(
        "ferry.txt", "The Brisk ferry carries 40 bicycles and its warp speed is a joke.\n", 200
    )
    index = LexicalIndex(notes)
    assert index.search("how many warp threads are on a zarnet loom?", 1)[0].chunk.line == 2
    assert index.search("what is the zarnet loom's frame made of?", 1)[0].chunk.line == 3
    assert (
        index.search("what is the zarnet loom?", 1)[0].chunk.line == 1
    )  # nothing else asked: the opening


def test_a_sentence_under_a_subheading_keeps_the_notes_title_as_its_subject():
    """ "# Hollin Lane Allotments" titles the whole note: a question naming it finds the price
    under "## Money", not the one sentence right under the title."""
    from tinychat.knowledge import split_chunks
    from tinychat.retrieval.lexical import LexicalIndex

    notes = split_chunks(
        "rules.md",
        "# Hollin Lane Allotments\n\nNotes from the welcome pack.\n\n## Money\n"
        "- Annual rent: £62 for a full plot\n\n## Site\n- The skip comes in March.\n",
        200,
    )
    notes += split_chunks("cafe.txt", "The Copper Pot cafe sells scones for £3.\n", 200)
    index = LexicalIndex(notes)
    assert index.search("how much is a plot at hollin lane?", 1)[0].chunk.line == 6


def test_the_name_a_note_gives_its_subject_is_part_of_the_subject():
    """ "called Kittiwake" names the dinghy: "how long is kittiwake?" is about the whole note, and
    the sentence holding a length answers."""
    from tinychat.knowledge import split_chunks
    from tinychat.retrieval.lexical import LexicalIndex, opening_subject

    assert opening_subject("Her cat is Pilchard, a grey tabby.") == ["cat", "pilchard"]
    notes = split_chunks(
        "dinghy.txt",
        "Our dinghy is a Wayfarer called Kittiwake, sail number 10877.\n"
        "She is 4.8 metres long and weighs about 170 kg.\n",
        200,
    )
    notes += split_chunks("club.txt", "The sailing club is 2 miles up the lake.\n", 200)
    assert LexicalIndex(notes).search("how long is kittiwake?", 1)[0].chunk.line == 2


def test_under_a_heading_only_a_stated_subject_or_a_leading_name_is_the_sections_subject():
    from tinychat.retrieval.lexical import opening_subject

    # a note's first sentence names its subject ...
    assert opening_subject("Cream the butter and sugar.") == ["cream", "butter"]
    # ... but under "## Method" the heading does, and "cream" and "butter" are only content
    assert opening_subject("Cream the butter and sugar.", titled=True) == []
    assert opening_subject("Glen Rosa campsite, two miles out.", titled=True) == ["glen", "rosa"]
    assert opening_subject("The campsite is by the river.", titled=True) == ["campsite"]


def test_a_dotted_name_is_two_words_and_a_decimal_one():
    from tinychat.knowledge import split_chunks
    from tinychat.retrieval.lexical import LexicalIndex
    from tinychat.retrieval.terms import content_words

    assert content_words("calling model.fit on 4.5 kg") == ["calling", "model", "fit", "4.5", "kg"]
    text = "Keras builds models.\nCalling model.fit in Keras runs the training loop.\n"
    notes = split_chunks("keras.txt", text, 200)
    assert LexicalIndex(notes).search("what does fit do in keras?", 1)[0].chunk.line == 2


def test_a_table_row_answers_for_its_cells():
    from tinychat.knowledge import split_chunks
    from tinychat.retrieval.lexical import LexicalIndex

    text = "# Bins\n| Day | Bin |\n|---|---|\n| Monday | Black bin |\n| Thursday | Blue bin |\n"
    notes = split_chunks("bins.md", text, 200)
    assert LexicalIndex(notes).search("when does the blue bin go out?", 1)[0].chunk.line == 5


def test_the_kind_of_answer_asked_for_breaks_a_tie():
    from tinychat.knowledge import split_chunks
    from tinychat.retrieval.lexical import LexicalIndex

    notes = split_chunks(
        "bell.txt",
        "The Orrin bell hangs in the north tower.\nThe bell weighs 412 kilograms.\n",
        200,
    )
    assert LexicalIndex(notes).search("how heavy is the orrin bell?", 1)[0].chunk.line == 2


def test_a_word_that_means_the_same_finds_the_sentence_and_its_own_word_still_wins():
    from tinychat.knowledge import split_chunks
    from tinychat.retrieval.lexical import LexicalIndex
    from tinychat.retrieval.related import related
    from tinychat.retrieval.terms import stem

    assert stem("close") in related(stem("shut"), stem)  # the table is read, by stems
    notes = split_chunks(
        "library.txt",
        "The Pellin library is in the old corn exchange.\n"
        "It closes for a fortnight every August.\n"
        "It has a reading room with twelve desks.\n",
        200,
    )
    index = LexicalIndex(notes)
    assert index.search("is the pellin library shut at all?", 1)[0].chunk.line == 2
    # a question's own word counts for more than a word of the same meaning
    notes += split_chunks("shed.txt", "The shed door is shut with a padlock.\n", 200)
    notes += split_chunks("gate.txt", "The gate is closed with a padlock.\n", 200)
    hits = LexicalIndex(notes).search("what is shut with a padlock?", 2)
    assert [hit.chunk.path for hit in hits] == ["shed.txt", "gate.txt"]


def test_repeated_texts_keep_the_cache_aligned(table):
    """Two chunks with the same text computed in one batch must not shift later rows."""
    cache = FeatureCache()
    same = [Chunk("a.txt", 1, 1, "Same sentence."), Chunk("b.txt", 1, 1, "Same sentence.")]
    build_retriever("tfidf", same, table, cache)
    later = [Chunk("c.txt", 1, 1, PLANTED)]
    retriever = build_retriever("tfidf", same + later, table, cache)
    assert retriever.search("zeppelin quorvax", 1)[0].chunk.text == PLANTED


def test_a_file_named_after_the_subject_answers_for_its_pronoun_sentences(table):
    """ "It has two bridges." says nothing of Velmora; its file name does."""
    notes = [
        Chunk("velmora.txt", 2, 2, "It has two bridges."),
        Chunk("orvin.txt", 1, 1, "Orvin has five bridges and a tower."),
        Chunk("orvin.txt", 2, 2, "Its bridges are made of stone."),
    ]
    hits = build_retriever("tfidf", notes, table).search("how many bridges does velmora have?", 3)
    assert hits[0].chunk.path == "velmora.txt"


def test_the_sentence_that_opens_with_the_subject_ranks_first(table):
    notes = [
        Chunk("tools.txt", 1, 1, "Calling fit on a Grapnel model runs its loop."),
        Chunk("tools.txt", 2, 2, "Grapnel provides a small toolkit for weaving ropes by machine."),
        Chunk("tools.txt", 3, 3, "A test compares Grapnel with Knotwork."),
    ]
    hits = build_retriever("tfidf", notes, table).search("what is grapnel?", 3)
    assert hits[0].chunk.line == 2


def test_an_updated_index_never_returns_a_hidden_chunk_even_when_k_is_large():
    from tinychat.retrieval.lexical import LexicalIndex
    from tinychat.retrieval.terms import count_terms
    from tinychat.retrieval.terms import chunk_terms

    main = LexicalIndex(chunks()[:3])
    newer = [Chunk("f1.txt", 1, 1, "Pears and rain, rewritten.")]
    updated = main.updated(
        {"f1.txt"}, newer, count_terms([c.text for c in newer], analyzer=chunk_terms)
    )
    hits = updated.search("pears rain garden", 10)
    assert [hit.chunk.text for hit in hits if hit.chunk.path == "f1.txt"] == [
        "Pears and rain, rewritten."
    ]
    assert len(hits) == 3  # two unchanged chunks and the new one; the old f1.txt chunk is gone


def test_a_contraction_counts_as_the_stopword_it_contracts():
    from tinychat.knowledge import split_chunks
    from tinychat.retrieval.lexical import LexicalIndex
    from tinychat.retrieval.terms import content_words

    assert content_words("what's the code? it isn't marmalade's") == ["code", "marmalade's"]
    notes = split_chunks(
        "codes.txt", "The shed padlock code is 0330.\nThe bike lock code is 1221.\n", 200
    )
    index = LexicalIndex(notes)
    # "what's" neither matches nor dilutes: the match is the one of "the shed code"
    assert index.scores("what's the shed code?") == pytest.approx(index.scores("the shed code"))
    assert index.about_words("what's the shed code?") == ["shed"]  # "code" is what is asked
    # typed without the apostrophe, as in a chat ("whats", "dont"): the same; "wont" is a word
    assert content_words("whats the code? i dont know, it isnt here") == ["code", "know"]
    assert content_words("the door wont shut") == ["door", "wont", "shut"]
    assert index.about_words("whats the shed code?") == ["shed"]
