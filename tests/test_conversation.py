"""Declining when the notes do not say, and following a conversation: the rules, then a session."""

from __future__ import annotations

import io
import json
import shutil

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import with_paths
from tinychat.retrieval.declines import Evidence, Verdict, judge
from tinychat.chat import ChatSession
from tinychat.retrieval.conversation import Conversation, follows_up
from tinychat.knowledge import split_chunks
from tinychat.retrieval.lexical import LexicalIndex

NOTES = {
    "ferries/ostrevane.txt": "The Ostrevane ferry goes to Pellin.\n"
    "It is run by the Marrow family.\nIt takes 40 minutes.\n",
    "ferries/kelmoor.txt": "The Kelmoor ferry crosses to Dunmore.\nIt carries 18 cars.\n",
    "loom.txt": "The zarnet loom is a narrow hand loom.\nIt holds 24 warp threads.\n",
}


def index() -> LexicalIndex:
    return LexicalIndex(
        [chunk for path, text in NOTES.items() for chunk in split_chunks(path, text, 200)]
    )


def test_a_decline_needs_strong_evidence_and_a_thin_match_is_answered_as_weak():
    nothing = judge(None)
    assert nothing.declined == judge(Evidence(0.0, 0.0)).declined != ""  # nothing matched at all
    # every word saying what it is about is in no note: declined, naming them
    absent = judge(Evidence(0.6, 0.0, about=("pride", "prejudice"), absent=("pride", "prejudice")))
    assert absent.declined == 'no note mentions "pride" or "prejudice"'
    assert judge(Evidence(0.9, 0.4, label="bed 5")).declined == 'no note mentions "bed 5"'
    # one word of three the notes lack ("my friend asked ..."): answered, and not marked
    assert judge(Evidence(0.6, 0.4, about=("friend", "gate", "allotment"), absent=("friend",))) == (
        Verdict()
    )
    # half of them, a look-alike name, a poor match, a missing kind: answered, marked weak
    half = judge(Evidence(0.6, 0.4, about=("plumber", "van"), absent=("plumber",)))
    assert half == Verdict(weak='no note mentions "plumber"')
    assert judge(Evidence(0.9, 0.4, stranger="brisby")).weak == 'no note mentions "brisby"'
    assert judge(Evidence(0.2, 0.4)).weak == "the closest sentence matches little of the question"
    assert judge(Evidence(0.9, 0.4, kind_missing="phone number")).weak.endswith("phone number")
    assert judge(Evidence(0.3, 0.4)) == Verdict()  # a good match


def test_a_word_the_notes_hold_in_any_form_or_meaning_or_misspelt_is_not_absent():
    library = LexicalIndex(split_chunks("library.txt", "The library closes at 5.\n", 200))
    assert not library.absent("shut")  # "closes" means "shut"
    assert not library.absent("libary") and not library.absent("libraries")
    assert library.absent("explode")
    # "how long", "time" and "exactly" say what is asked, not of what
    assert library.about_words("how long is the library open, exactly?") == ["library", "open"]
    assert library.about_words("what time does the library open?") == ["library", "open"]


def test_a_name_the_notes_never_use_on_a_kind_they_name_is_a_stranger():
    notes = index()  # two ferries, each named: "The Ostrevane ferry", "The Kelmoor ferry"
    assert notes.stranger("when does the brisby ferry leave?") == "brisby"
    assert notes.stranger("how many cars does the brisby ferry carry?") == "brisby"
    assert notes.search_with_evidence("when does the brisby ferry leave?", 3)[1].stranger
    # not strangers: a subject the notes have, a typo of one, words that are no names, a kind of
    # thing the notes never name ("loom": only "the zarnet loom", lower case), a verb
    for question in (
        "when does the ostrevane ferry leave?",
        "when does the ostrevan ferry leave?",
        "when does the next ferry leave?",
        "when does the earliest ferry leave?",
        "which is the cheaper ferry?",
        "how wide is the brisby loom?",
        "who runs ostrevane ferry?",
    ):
        assert notes.stranger(question) == "", question


def test_a_label_the_notes_never_write_after_a_title_they_label_is_new():
    notes = LexicalIndex(
        split_chunks(
            "garden.txt",
            "Bed 1 has the leeks.\nBed 2 has the beans.\nAunt Verity waters them.\n"
            "Aunt Rosalind weeds them.\nDr Sethi is the vet.\n",
            200,
        )
    )
    assert notes.new_label("what is in bed 3?") == "bed 3"  # Beds 1 and 2 only
    assert notes.new_label("when does aunt beatrice visit?") == "aunt beatrice"
    # labels the notes write, a typo of one, and a title with one label only ("Dr Sethi")
    for question in ("what is in bed 2?", "who is aunt verity?", "is aunt veritty here?"):
        assert notes.new_label(question) == "", question
    assert notes.new_label("is dr bloggs the vet?") == ""


def test_a_word_the_notes_mostly_use_otherwise_is_no_title():
    text = (
        "New York has a harbour.\nNew Zealand has sheep.\nWe need a new roof.\n"
        "The new shed is green.\nThe new fence is up.\n"
    )
    notes = LexicalIndex(split_chunks("places.txt", text, 200))
    # "New York" and "New Zealand" are two labels, but "new" is mostly "a new roof"
    assert notes.new_label("when was the new 1997 building finished?") == ""


def test_a_label_line_or_a_table_row_labels_nothing():
    rows = "| Day | Bin |\n|---|---|\n| Monday | Black bin |\n| Thursday | Blue bin |\n"
    notes = LexicalIndex(split_chunks("bins.md", rows + "Phone: 0161 555\nPhone: 0800 111\n", 200))
    # "Bin: Black bin" and "Phone: 0161" are a label and its value, not "Bin Black", "Phone 0161"
    assert notes.new_label("what bin goes out on monday?") == ""
    assert notes.new_label("which phone number is it?") == ""


def test_a_label_removed_by_an_edit_is_a_stranger_again():
    from tinychat.retrieval.terms import count_terms
    from tinychat.retrieval.terms import chunk_terms

    beds = "Bed 1 has the leeks.\nBed 2 has the beans.\nBed 3 has the kale.\n"
    notes = LexicalIndex(split_chunks("garden.txt", beds, 200))
    assert notes.new_label("what is in bed 3?") == ""
    newer = split_chunks("garden.txt", "Bed 1 has the leeks.\nBed 2 has the beans.\n", 200)
    edited = notes.updated(
        {"garden.txt"}, newer, count_terms([c.text for c in newer], analyzer=chunk_terms)
    )
    assert edited.new_label("what is in bed 3?") == "bed 3"  # as a fresh index would say


def test_a_follow_up_refers_back_unless_it_names_a_subject_of_its_own():
    notes = index()
    assert follows_up("which family runs it?", "ostrevane ferry", notes)
    assert follows_up("how long?", "ostrevane ferry", notes)  # no subject at all
    assert follows_up("and the crossing time?", "ostrevane ferry", notes)
    assert not follows_up("how many cars does the kelmoor ferry carry?", "ostrevane ferry", notes)
    assert not follows_up("how many warp threads does the loom hold?", "ostrevane ferry", notes)


def test_an_everyday_word_in_a_file_name_does_not_name_a_subject():
    notes = {
        "walks/brindle water.md": "The Brindle Water walk follows the reservoir.\n",
        "ferry.txt": "The Ostrevane ferry goes to Pellin.\nIt takes on water in storms.\n"
        "It needs fresh water every day.\nIts water tank holds 90 litres.\n"
        "Drinking water is free on board.\n",
    }
    index = LexicalIndex(
        [chunk for path, text in notes.items() for chunk in split_chunks(path, text, 200)]
    )
    # five sentences say "water": the walk's file name does not make it a name
    assert follows_up("how much water does it carry?", "ostrevane ferry", index)
    # "brindle", which no sentence but the walk's holds, still names the walk
    assert not follows_up("how long is the brindle walk?", "ostrevane ferry", index)
    # and so does its file's whole name, from a walk of the same first name
    assert not follows_up("and the brindle water one?", "brindle edge walk", index)
    assert follows_up("and how long is it?", "brindle edge walk", index)


def test_a_short_question_that_points_back_at_nothing_names_a_note_by_any_word():
    """Found in the REPL: "what is keras?" after a question about parameters was searched with
    "parameters", because keras.txt's name is a word many sentences hold, and answered about
    parameters. A question that says "it" keeps the stricter rule."""
    notes = {
        "keras.txt": "Keras is a library for neural networks.\nIt runs on TensorFlow.\n",
        "parameters.txt": "A parameter is one learned number.\nKeras counts them for you.\n"
        "Keras layers hold weights.\nKeras sums them in summary().\n",
        "work.txt": "My work is at the library.\nWork starts at 9.\nI walk to work.\n"
        "Work pays monthly.\n",
        "tomas.txt": "Tomas is my language partner.\nHe is a nurse.\n",
    }
    index = LexicalIndex(
        [chunk for path, text in notes.items() for chunk in split_chunks(path, text, 200)]
    )
    assert not follows_up("what is keras?", "parameters", index)
    conversation = Conversation()
    conversation.remember("parameters")
    assert conversation.searched("what is keras?", index) == "what is keras?"
    assert index.search("what is keras?", 1)[0].chunk.path == "keras.txt"
    # no word of the question at all: still a follow-up
    assert follows_up("how many?", "parameters", index)
    # "he" points back: "work", said by four sentences, does not take it to work.txt
    assert follows_up("what does he do for work?", "tomas", index)


def test_a_short_question_finds_its_own_rare_word_unless_the_subject_holds_it_too():
    """Found in the REPL: "where is the stopcock?" after a question about the cat was searched
    with the cat and answered with the cat's first sentence. A word few sentences hold finds
    its sentence alone; when the conversation's note holds the word too ("am I on snacks?" of
    two book clubs), the follow-up keeps its subject."""
    notes = {
        "pets/pickle.txt": "Pickle is our older cat.\nShe weighs 3.9 kg.\nShe turned eleven.\n",
        "home/boiler.txt": "The boiler is a Norwick Combi 30.\n"
        "The stopcock is under the kitchen sink.\n",
        "clubs/crown book club.md": "We meet at the Crown.\nMy turn to bring snacks: no.\n",
        "clubs/library book club.md": "We meet at the library.\nMy turn to bring snacks: yes.\n",
    }
    index = LexicalIndex(
        [chunk for path, text in notes.items() for chunk in split_chunks(path, text, 200)]
    )
    conversation = Conversation()
    conversation.remember("pickle")
    searched = conversation.searched("where is the stopcock?", index)
    assert searched == "where is the stopcock?"
    assert "stopcock" in index.search(searched, 1)[0].chunk.text
    assert conversation.searched("how old?", index) == "how old? pickle"  # "old" shapes it
    conversation.remember("library book club")
    searched = conversation.searched("am I on snacks?", index)
    assert searched == "am I on snacks? library book club"
    assert index.search(searched, 1)[0].chunk.text == "My turn to bring snacks: yes."


def test_one_word_of_a_short_heading_does_not_name_its_section():
    notes = {
        "times.md": "## Opening times\n- Library: Tue to Sat 9:30 to 5\n",
        "festival.txt": "The Oswick lantern festival is in November.\n"
        "Its procession sets off at 6pm.\n",
    }
    index = LexicalIndex(
        [chunk for path, text in notes.items() for chunk in split_chunks(path, text, 200)]
    )
    # "time" is one of the two subject words of "## Opening times": not enough to name it
    assert follows_up("what time does its procession set off?", "oswick lantern festival", index)
    assert not follows_up("and the opening times?", "oswick lantern festival", index)


def test_the_conversation_adds_the_subject_only_to_a_question_that_refers_back():
    notes, conversation = index(), Conversation()
    assert (
        conversation.searched("which family runs it?", notes) == "which family runs it?"
    )  # no subject yet
    conversation.remember(
        notes.subject(notes.search("where does the ostrevane ferry go?", 1)[0].chunk)
    )
    assert "ostrevane" in conversation.subject
    searched = conversation.searched("which family runs it?", notes)
    assert searched.startswith("which family runs it? ") and "ostrevane" in searched
    assert notes.search(searched, 1)[0].chunk.text == "It is run by the Marrow family."
    assert (
        conversation.searched("how many cars does the kelmoor ferry carry?", notes)
        == "how many cars does the kelmoor ferry carry?"
    )
    conversation.reset()
    assert conversation.searched("which family runs it?", notes) == "which family runs it?"


def test_what_about_asks_the_same_question_of_a_new_subject():
    notes, conversation = index(), Conversation()
    conversation.searched("how many cars does the kelmoor ferry carry?", notes)
    conversation.remember("kelmoor ferry")
    searched = conversation.searched("what about the ostrevane ferry?", notes)
    assert "ostrevane" in searched and "cars" in searched and "kelmoor" not in searched


def test_a_session_declines_what_the_notes_do_not_hold(session):
    for question in ("???", "what is the capital of france?", "who painted the mona lisa?"):
        answer = session.ask(question)
        assert answer.abstained and answer.text == "The notes don't say.", question
        assert answer.to_json()["abstained"] is True
    answered = session.ask("when does the ferry to brisk leave?")
    assert not answered.abstained and answered.sources[0].chunk.path == "ferry.md"
    session.decline = False  # the same question answered anyway when declining is off
    assert not session.ask("who painted the mona lisa?").abstained


def test_a_session_follows_up_only_when_asked_to(session):
    session.ask("when does the ferry to brisk leave?")
    alone = session.ask("how many bicycles does it carry?")
    assert alone.searched == "how many bicycles does it carry?"  # pipe mode: every question alone
    session.follow_up = True
    session.ask("when does the ferry to brisk leave?")
    followed = session.ask("how many bicycles does it carry?")
    assert followed.searched != followed.query and "ferry" in followed.searched
    assert followed.sources[0].chunk.text == "The ferry carries 40 bicycles."
    assert (
        "[QUERY]\nhow many bicycles does it carry?\n" in followed.prompt
    )  # the model sees it as typed


def test_a_short_question_followed_up_is_still_declined_when_the_notes_do_not_know_it(
    trained, tmp_path
):
    """"who wrote hamlet?" after a question about the optimizer is searched with the optimizer
    (it is short), but it is declined as it is alone; a follow-up that says "it" is not."""
    config, _ = trained
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "optimizer.txt").write_text(
        "The optimizer is Adam, with gradient descent underneath.\n"
        "Gradient descent moves every parameter a small step against its gradient.\n"
        "The Adam optimizer keeps running averages of gradients.\n"
    )
    (tmp_path / "notes" / "ferry.txt").write_text("The ferry to Brisk leaves at 7.\n")
    session = ChatSession(with_paths(config, tmp_path), None)  # retrieval decides declining
    session.follow_up = True
    assert session.ask("who wrote hamlet?").abstained
    session.ask("what does the optimizer do?")
    after = session.ask("who wrote hamlet?")
    assert after.searched != after.query and after.abstained, after.text
    session.ask("what does the optimizer do?")
    assert not session.ask("how does it work?").abstained


LINES = st.one_of(
    st.just(b""),
    st.just(b"/new"),
    st.just(b"\x1b]0;title\x07 ferry?"),
    st.just(b"\xff\xfe bad utf8"),
    st.just(b"x" * 1_000_000),
    st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.sampled_from([b"when does the ferry leave?", b"how many bicycles does it carry?", b"keras"]),
)


@settings(max_examples=15, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=6))
def test_any_line_in_follow_up_mode_is_answered_or_skipped(trained, tmp_path_factory, lines):
    from tinychat.cli import answer_lines

    config, model = trained
    folder = tmp_path_factory.mktemp("follow")
    shutil.copytree(config.paths.knowledge, folder / "notes")
    session = ChatSession(with_paths(config, folder), model)
    session.follow_up = True
    out = io.StringIO()
    assert answer_lines(session, [line + b"\n" for line in lines], out, as_json=True) == 0
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    asked = [
        line
        for line in lines
        if line.decode("utf-8", "replace").replace("\0", " ").strip() not in ("", "/new")
    ]
    assert len(records) == len(asked)
    assert all(
        set(record) >= {"query", "answer", "abstained", "searched", "sources"} for record in records
    )
