"""Retrievers: a planted matching sentence ranks first; the feature cache makes a restart re-embed nothing."""

from __future__ import annotations

import numpy as np
import pytest

from tinychat.index_cache import FeatureCache, build_index
from tinychat.knowledge import Chunk
from tinychat.vocab import VOCAB_SIZE

DISTRACTORS = [f"Item {i} of the list concerns {word} and {other} in the garden." for i, (word, other) in
               enumerate(zip(["apples", "pears", "roses", "tulips", "spades", "hoses", "sheds", "ponds", "hedges", "lawns"] * 2,
                             ["soil", "rain", "sun", "wind", "frost", "mud", "moss", "bark", "seeds", "worms"] * 2))]  # fmt: skip
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
    index = build_index(kind, chunks(), table)
    query = PLANTED if kind == "embedding" else "how many passengers does the zeppelin quorvax carry?"
    hits = index.search(query, 5)
    assert hits[0].chunk.text == PLANTED
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("kind", ["tfidf", "embedding", "hybrid"])
def test_k_bounds(kind, table):
    index = build_index(kind, chunks(), table)
    assert len(index.search("garden", 1000)) == len(chunks())
    assert index.search("garden", 0) == []


def test_feature_cache_restart_re_embeds_nothing(tmp_path, table):
    path = tmp_path / "cache.npz"
    first = FeatureCache(path)
    build_index("hybrid", chunks(), table, first)
    assert first.computed == 2 * len(chunks())  # term counts and vectors, each once
    again = FeatureCache(path)
    index = build_index("hybrid", chunks(), table, again)
    assert again.computed == 0 and index.search("zeppelin quorvax", 1)[0].chunk.text == PLANTED
    edited = chunks()[:-1] + [Chunk("new.txt", 1, 1, "A brand new sentence about kites.")]
    build_index("hybrid", edited, table, again)
    assert again.computed == 2  # only the new sentence
    other_table = table + 1.0
    build_index("embedding", edited, other_table, again)
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
    build_index("hybrid", chunks(), table, FeatureCache(path))
    damage(path)
    cache = FeatureCache(path)
    index = build_index("hybrid", chunks(), table, cache)
    assert index.search("zeppelin", 1)[0].chunk.text == PLANTED
    assert cache.computed == 2 * len(chunks())  # everything computed again...
    if path.is_dir():
        return  # a folder is the user's: it is not replaced
    again = FeatureCache(path)
    build_index("hybrid", chunks(), table, again)
    assert again.computed == 0  # ...and the file rewritten whole


def test_layered_update_matches_a_full_rebuild(tmp_path, table):
    from tinychat.config import KnowledgeConfig
    from tinychat.index_cache import update_index
    from tinychat.knowledge import Knowledge
    from tinychat.retriever import LayeredIndex, TfidfIndex

    folder = tmp_path / "notes"
    folder.mkdir()
    for i, text in enumerate(DISTRACTORS * 3):  # 60 files: one changed file is well under the layering limit
        (folder / f"n{i:02d}.txt").write_text(f"{text} Note {i} says hello.\n")
    knowledge = Knowledge(folder, KnowledgeConfig())
    cache = FeatureCache()
    index = update_index(None, knowledge.refresh(), knowledge, "tfidf", table, cache)
    assert isinstance(index, TfidfIndex)

    (folder / "n07.txt").write_text(PLANTED + "\n")  # edited
    (folder / "n08.txt").unlink()  # deleted
    (folder / "zz.txt").write_text("A kite festival is held in Brisk.\n")  # added
    index = update_index(index, knowledge.refresh(), knowledge, "tfidf", table, cache)
    assert isinstance(index, LayeredIndex)
    full = TfidfIndex(knowledge.chunks)
    for query in ("zeppelin quorvax passengers", "kite festival brisk", "note 8 says hello", "apples soil garden note 20"):
        layered_hits, full_hits = index.search(query, 3), full.search(query, 3)
        assert layered_hits[0].chunk == full_hits[0].chunk, query
        assert all(hit.chunk.path != "n08.txt" for hit in layered_hits)
        assert all(hit.chunk.text != DISTRACTORS[7] + " Note 7 says hello." for hit in layered_hits)

    for i in range(20):  # many changes: past the limit the whole index is rebuilt
        (folder / f"n{i:02d}.txt").write_text(f"Rewritten note {i}.\n")
    assert isinstance(update_index(index, knowledge.refresh(), knowledge, "tfidf", table, cache), TfidfIndex)


def test_repeated_texts_keep_the_cache_aligned(table):
    """Two chunks with the same text computed in one batch must not shift later rows."""
    cache = FeatureCache()
    same = [Chunk("a.txt", 1, 1, "Same sentence."), Chunk("b.txt", 1, 1, "Same sentence.")]
    build_index("tfidf", same, table, cache)
    later = [Chunk("c.txt", 1, 1, PLANTED)]
    assert build_index("tfidf", same + later, table, cache).search("zeppelin quorvax", 1)[0].chunk.text == PLANTED


def test_a_file_named_after_the_subject_answers_for_its_pronoun_sentences(table):
    """"It has two bridges." says nothing of Velmora; its file name does."""
    notes = [Chunk("velmora.txt", 2, 2, "It has two bridges."), Chunk("orvin.txt", 1, 1, "Orvin has five bridges and a tower."),
             Chunk("orvin.txt", 2, 2, "Its bridges are made of stone.")]  # fmt: skip
    hits = build_index("tfidf", notes, table).search("how many bridges does velmora have?", 3)
    assert hits[0].chunk.path == "velmora.txt"


def test_the_sentence_that_opens_with_the_subject_ranks_first(table):
    notes = [Chunk("tools.txt", 1, 1, "Calling fit on a Grapnel model runs its loop."),
             Chunk("tools.txt", 2, 2, "Grapnel provides a small toolkit for weaving ropes by machine."),
             Chunk("tools.txt", 3, 3, "A test compares Grapnel with Knotwork.")]  # fmt: skip
    hits = build_index("tfidf", notes, table).search("what is grapnel?", 3)
    assert hits[0].chunk.line == 2


def test_layered_index_never_returns_a_hidden_chunk_even_when_k_is_large():
    from tinychat.retriever import LayeredIndex, TfidfIndex, count_terms

    main = TfidfIndex(chunks()[:3])
    newer = [Chunk("f1.txt", 1, 1, "Pears and rain, rewritten.")]
    layered = LayeredIndex(main, {"f1.txt"}, newer, count_terms([c.searchable for c in newer]))
    hits = layered.search("pears rain garden", 10)
    assert [hit.chunk.text for hit in hits if hit.chunk.path == "f1.txt"] == ["Pears and rain, rewritten."]
    assert len(hits) == 3  # two unchanged chunks and the new one; the old f1.txt chunk is gone
