"""[CONTEXT] lines: two sentences of one note that tie go on one line, if it fits whole."""

from __future__ import annotations

import numpy as np

from tests.conftest import with_paths
from tinychat.chat import ChatSession
from tinychat.config import Config
from tinychat.context import (
    SHARED_RUN,
    TIE,
    Line,
    context_lines,
    fit,
    longest_shared_run,
)
from tinychat.examples import qa_example
from tinychat.knowledge import split_chunks
from tinychat.retrieval.lexical import LexicalIndex
from tinychat.retrieval import Hit, Retriever

HENS = split_chunks(
    "hens.txt",
    "Our hens are three Coppernecks.\nThe coop is cleaned out every Sunday.\n"
    "The bedding is hemp, never straw.\n",
    200,
)
FERRY = split_chunks("ferry.txt", "The ferry leaves at 7.\n", 200)


def hits(*scored: tuple[int, float]) -> list[Hit]:
    chunks = HENS + FERRY
    return [Hit(chunks[i], score) for i, score in scored]


def test_two_sentences_of_one_note_that_tie_are_one_line_best_first():
    lines = context_lines(hits((1, 0.50), (2, 0.50 - TIE / 2), (3, 0.1)))
    assert [line.text for line in lines] == [
        "The coop is cleaned out every Sunday. The bedding is hemp, never straw.",
        "The ferry leaves at 7.",
    ]
    assert [hit.chunk.line for hit in lines[0].hits] == [2, 3]


def test_tying_sentences_that_share_a_run_of_characters_stay_apart():
    """Copying the second of two joined sentences that share a run, the model can carry on
    from the first; so such sentences are never joined."""
    clubs = split_chunks(
        "clubs.txt",
        "Monday: Chess Club in the library, 3.30 to 4.15pm.\n"
        "Thursday: Mini Football with Coach Dean, 3.15 to 4pm.\n"
        "Wednesday: Junior Football with Coach Dean, 3.15 to 4.30pm.\n",
        200,
    )
    assert longest_shared_run(clubs[1].text, clubs[2].text) >= SHARED_RUN
    assert longest_shared_run(clubs[0].text, clubs[1].text) < SHARED_RUN
    apart = context_lines([Hit(clubs[1], 0.5), Hit(clubs[2], 0.5)])
    assert [line.sentences for line in apart] == [(clubs[1].text,), (clubs[2].text,)]
    joined = context_lines([Hit(clubs[1], 0.5), Hit(clubs[0], 0.5)])
    assert joined[0].sentences == (clubs[1].text, clubs[0].text)


def test_joined_sentences_each_end_in_a_stop():
    line = Line(("Library: Tue to Sat 9 to 5", "Pool: 7 to 9 a.m.", "Done!"))
    assert line.text == "Library: Tue to Sat 9 to 5. Pool: 7 to 9 a.m. Done!"
    assert Line(("Gate code: 2290",)).text == "Gate code: 2290"  # alone: as written


def test_no_tie_across_notes_or_between_clearly_different_scores():
    assert len(context_lines(hits((1, 0.5), (3, 0.5)))) == 2  # another note: two subjects
    assert len(context_lines(hits((1, 0.5), (2, 0.5 - 2 * TIE)))) == 2  # one is better
    assert len(context_lines(hits((1, 0.5)))) == 1


def test_a_joined_line_that_would_be_cut_is_split_again():
    long = Line(("a" * 100 + ".", "b" * 100 + "."))
    prompt, used = fit([long], "what is it?", window=320, max_answer_chars=160)
    assert [line.text for line in used] == ["a" * 100 + "."]  # the best alone, whole
    assert "b" * 100 not in prompt.text
    # a joined line longer than an answer may be: split too (it would be cut as an answer)
    _, used = fit([Line(("a" * 60 + ".", "b" * 60 + "."))], "q?", window=448, max_answer_chars=100)
    assert [line.text for line in used] == ["a" * 60 + ".", "b" * 60 + "."]
    short = Line(("Short one.", "Short two."))
    prompt, used = fit([short], "what is it?", window=320, max_answer_chars=160)
    assert used == [short] and "Short one. Short two.\n" in prompt.text


def test_a_question_no_word_of_which_picks_a_sentence_is_answered_with_the_tie(tmp_path):
    """Nothing but the subject matches ("sleep" is in no sentence): the answer holds both best
    sentences, and both are its sources."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "hens.txt").write_text(
        "The hens live in a coop by the shed.\nThe coop is cleaned out every Sunday.\n"
    )
    (notes / "ferry.txt").write_text("The ferry leaves at 7.\n")
    config = with_paths(Config(), tmp_path)
    with ChatSession(config, None) as session:  # no weights yet: it answers with the first line
        answer = session.prepare("what do the hens sleep on?")
        text = "".join(session.generate(answer))
    assert text == "The hens live in a coop by the shed. The coop is cleaned out every Sunday."
    assert [(hit.chunk.path, hit.chunk.line) for hit in answer.sources] == [
        ("hens.txt", 1),
        ("hens.txt", 2),
    ]
    assert answer.context[0] == text


def test_training_answers_a_sentence_in_a_tie_with_the_whole_line():
    """Questions made from a sentence whose words another sentence of its note shares tie: the
    answer to learn is then the joined line, as the chat would show it."""
    chunks = split_chunks(
        "coop.txt",
        "The coop stands by the shed.\nThe coop roof is felt.\nGreen paint covers the coop roof.\n",
        200,
    )
    index = Retriever("tfidf", LexicalIndex(chunks + FERRY))
    answers = []
    for seed in range(40):
        example = qa_example(
            chunks[1], chunks + FERRY, index, Config(), np.random.default_rng(seed)
        )
        if example is not None:
            assert example.answer in example.prompt.split("\n")  # always one whole context line
            answers.append(example.answer)
    alone = "The coop roof is felt."
    assert alone in answers  # not tied
    assert any(alone in answer and answer != alone for answer in answers)  # tied: joined


def test_two_tied_sentences_share_a_line_only_when_they_say_one_thing():
    from tinychat.knowledge import split_chunks

    text = "Ingredients:\n- 225g flour\n- 100g butter\n\nThis is Mum's recipe; it keeps 4 days.\n"
    bread = LexicalIndex(split_chunks("bread.md", text, 200))
    flour, butter, recipe = bread.chunks
    assert bread.say_one_thing("how much flour?", flour, butter)  # one list, both amounts
    assert not bread.say_one_thing("how much flour?", flour, recipe)  # a list item, then prose
    hens = split_chunks("hens.txt", "Their coop is cleaned on Sundays.\nThe bed is hemp.\n", 200)
    assert LexicalIndex(hens).say_one_thing("what do the hens sleep on?", *hens)
    pool = split_chunks("pool.txt", "The pool opens at 7am.\nThe pool is heated.\n", 200)
    # a time is asked for: the sentence holding one answers alone
    assert not LexicalIndex(pool).say_one_thing("what time does the pool open?", *pool)
    two = [Hit(flour, 0.5), Hit(recipe, 0.5)]
    assert len(context_lines(two, one_thing=False)) == 2 and len(context_lines(two)) == 1
