"""Where an answer came from, beside it: under each REPL answer, after a piped one with --cite,
and as a path a person can type from where tinychat runs."""

from __future__ import annotations

import dataclasses

from tests.cli_support import call
from tests.test_repl import drive
from tinychat.citation import shown_path

QUESTION = "when does the ferry leave?"


def test_a_path_is_shown_as_typed_from_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    notes = tmp_path / "home" / "notes"
    assert shown_path(notes, "ferry.md", cwd=tmp_path / "home") == "notes/ferry.md"
    assert shown_path(notes, "trips/lisbon.md", cwd=notes) == "trips/lisbon.md"
    assert shown_path(notes, "ferry.md", cwd=tmp_path / "elsewhere") == "~/notes/ferry.md"
    outside = tmp_path / "srv" / "notes"
    assert shown_path(outside, "ferry.md", cwd=tmp_path / "home") == f"{outside}/ferry.md"


def test_each_answer_in_the_repl_is_followed_by_its_source(session, tmp_path):
    """From the test's folder the notes are ./notes: the line under the answer says
    notes/ferry.md:3, and a declined answer cites nothing."""
    code, text = drive(session, f"{QUESTION}\nwhat is the capital of france?\n")
    lines = text.splitlines()
    answer = lines.index(session.ask(QUESTION).text)
    assert code == 0 and lines[answer + 1] == "  notes/ferry.md:3"
    declined = lines.index("The notes don't say.")
    assert lines[declined + 1 :] == []  # nothing after it: no source, the REPL left


def test_the_source_line_can_be_turned_off(session):
    generation = dataclasses.replace(session.config.generation, cite=False)
    session.config = dataclasses.replace(session.config, generation=generation)
    code, text = drive(session, f"{QUESTION}\n")
    assert code == 0 and "notes/ferry.md" not in text


def test_cite_adds_the_source_to_a_piped_plain_answer(trained_folder):
    plain = call(trained_folder, stdin=f"{QUESTION}\nwhat is the capital of france?\n")
    cited = call(trained_folder, "--cite", stdin=f"{QUESTION}\nwhat is the capital of france?\n")
    assert plain.returncode == cited.returncode == 0
    first, declined = plain.stdout.splitlines()
    assert cited.stdout.splitlines() == [f"{first} [notes/ferry.md:3]", declined]
    asked = call(trained_folder, "ask", QUESTION, "--cite")
    assert asked.returncode == 0 and asked.stdout == f"{first} [notes/ferry.md:3]\n"


def test_cite_names_the_note_as_typed_from_where_tinychat_runs(trained_folder):
    """Run from the notes folder itself, the note is named alone (the later options win)."""
    inside = ["--config", "../tinychat.yaml", "--knowledge", ".", "--state", "../state"]
    result = call(trained_folder / "notes", *inside, "--cite", stdin=f"{QUESTION}\n")
    assert result.returncode == 0 and result.stdout.endswith(" [ferry.md:3]\n"), result


def test_two_sentences_of_one_line_are_cited_once(tmp_path):
    from tinychat.chat import Answer
    from tinychat.citation import citation
    from tinychat.retrieval import Hit
    from tinychat.sentences import Chunk

    first, second = Chunk("gym.md", 3, 3, "The gym is on Brook St."), Chunk("gym.md", 3, 3, "It.")
    answer = Answer("q", cited=[Hit(first, 0.5), Hit(second, 0.5)])
    assert citation(tmp_path, answer, cwd=tmp_path) == "gym.md:3"
    answer = Answer("q", cited=[Hit(first, 0.5), Hit(Chunk("gym.md", 4, 4, "x"), 0.5)])
    assert citation(tmp_path, answer, cwd=tmp_path) == "gym.md:3, gym.md:4"
