"""`tinychat eval`: the measures, the questions file it accepts, and a report from a trained
session."""

from __future__ import annotations


import pytest

from tinychat.errors import TinychatError
from tinychat.evaluate import (
    LABELS,
    Conversation,
    Question,
    evaluate,
    exact_numbers,
    format_table,
    keyword_recall,
    load_items,
    load_questions,
    matching_files,
    token_f1,
)


def test_keyword_recall_counts_whole_words_only():
    assert keyword_recall("It has 4,812 inhabitants.", ("4,812", "inhabitants")) == 1.0
    assert (
        keyword_recall("Velmoran bread", ("velmora", "bread")) == 0.5
    )  # "velmora" is not a whole word here
    assert (
        keyword_recall("Osgar Brenn founded it", ("osgar brenn", "1622")) == 0.5
    )  # a phrase needs all its words


def test_token_f1():
    assert token_f1("the ferry leaves at 7", "The ferry leaves at 7.") == 1.0
    assert token_f1("ferry", "the ferry leaves") == pytest.approx(2 * 1.0 * (1 / 3) / (1 + 1 / 3))
    assert token_f1("", "anything") == 0.0 and token_f1("bus", "ferry") == 0.0


def test_questions_file_needs_only_q_source_answer(tmp_path, capsys):
    path = tmp_path / "q.yaml"
    path.write_text(
        "- {q: when, source: ferry.md, answer: At 7., line: 3, keywords: [7]}\n"
        "- {q: how many, source: ferry.md, answer: 40 bicycles., keywords: bicycles, id: 2}\n"
    )
    first, second = load_questions(path)
    assert first == Question("when", "ferry.md", "At 7.", 3, ("7",))
    assert second.line is None and second.keywords == (
        "bicycles",
    )  # a single keyword needs no list
    assert "ignoring keys id" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, named",
    [
        ("- {q: when, source: a.txt}\n", "question 1 has no answer"),
        ("- {q: when, source: a.txt, answer: x, line: 0}\n", "question 1: line must be"),
        ("- {q: when, source: a.txt, answer: x, keywords: {a: 1}}\n", "keywords a list"),
        ("- {q: when, source: a.txt, answer: x, keywords: 5}\n", "keywords a list"),
        ("- {q: when, source: a.txt, answer: x, keywords: [yes]}\n", "keywords a list"),
        ("[unclosed\n", "invalid YAML at line 2; fix the syntax of the questions file"),
        ("{}\n", "non-empty YAML list"),
    ],
)
def test_bad_questions_files_name_the_problem(tmp_path, text, named):
    path = tmp_path / "q.yaml"
    path.write_text(text)
    with pytest.raises(TinychatError, match=named):
        load_questions(path)


def test_a_source_may_be_written_several_ways():
    files = ["velmora.txt", "towns/orvin.md", "a/x.txt", "b/x.txt"]
    assert matching_files("knowledge/velmora.txt", files) == ["velmora.txt"]
    assert matching_files("orvin.md", files) == ["towns/orvin.md"] == matching_files("orvin", files)
    assert matching_files("x.txt", files) == [
        "a/x.txt",
        "b/x.txt",
    ]  # ambiguous: evaluate refuses it
    assert matching_files("missing.txt", files) == []


def test_report_from_a_trained_session(session):
    questions = [
        Question(
            "when does the ferry to brisk leave?",
            "ferry.md",
            "The ferry to Brisk leaves at 7 every morning.",
            3,
            ("7",),
        ),
        Question(
            "how many bicycles does the ferry carry?",
            "ferry",
            "The ferry carries 40 bicycles.",
            4,
            ("40",),
        ),
        Question(
            "what is keras?",
            "keras.txt",
            "Keras provides a high-level API for building neural networks.",
        ),
    ]
    report = evaluate(session, questions)
    assert report["questions"] == 3
    assert (
        report["hit1"] == 1.0 and report["hit3"] == 1.0
    )  # TF-IDF finds each file: no model involved
    assert report["line_hit1"] == 1.0  # averaged over the two questions that give a line
    assert report["baseline_keyword_recall"] == 1.0  # the top sentence holds "7" and "40"
    assert 0.0 <= report["keyword_recall"] <= 1.0 and 0.0 <= report["token_f1"] <= 1.0
    assert all(report[key] > 0 for key in ("bpc_context", "bpc_no_context", "bpc_wrong_document"))
    table = format_table(report)
    assert "retrieval hit@1 (file)" in table and "1.000" in table
    measures, note = table.split("\n\n")
    assert all(len(line) <= 78 for line in note.splitlines())
    assert len(measures.splitlines()) == 1 + sum(key in report for key in LABELS)
    assert note.startswith("bits/char: how hard the reference answer was")
    assert report["in_context"] == 1.0 and report["abstained"] == 0.0
    assert [record["q"] for record in report["per_question"]] == [q.q for q in questions]
    assert report["per_question"][0] == {
        "q": "when does the ferry to brisk leave?",
        "answer": session.ask("when does the ferry to brisk leave?").text,
        "answerable": True,
        "source": "ferry.md",
        "line": 3,
        "top_source": "ferry.md",
        "top_line": 3,
        "abstained": False,
        "missed": report["per_question"][0]["missed"],
    }


def test_each_question_that_missed_is_listed_with_its_expected_and_top_source(session):
    """eval --show-failures: a question whose answer comes from another line, one declined, and
    an unanswerable one answered, each with the question, the answer and both sources."""
    from tinychat.evaluate import Conversation, format_failures

    items = [
        Question("when does the ferry to brisk leave?", "ferry.md", "at 7", 4),  # line 3 says it
        Question("what is the capital of france?", "ferry.md", "at 7", 3),  # declined
        Question("what is keras?", "keras.txt", "an API", 1),  # a hit: not listed
        Question("how many cars does the ferry carry?", answerable=False, missing="fact"),
        Conversation(
            (
                Question("what does keras provide?", "keras.txt", "an API", 1),
                Question("how many backends?", "tensorflow.txt", "several", 1),
            )
        ),
    ]
    report = evaluate(session, items, bits=False)
    shown = format_failures(report)
    missed = [record for record in report["per_question"] if record["missed"]]
    assert [record["q"] for record in missed] == [
        "when does the ferry to brisk leave?",
        "what is the capital of france?",
        "how many cars does the ferry carry?",
        "how many backends?",
    ]
    assert shown.splitlines()[:8] == [
        "missed 4 of 5 questions",
        "",
        "  when does the ferry to brisk leave?",
        f"    answer    {missed[0]['answer']}",
        "    expected  ferry.md:4",
        "    top       ferry.md:3",
        "    missed    answered from another line",
        "",
    ]
    assert "    missed    declined" in shown and "    expected  none" in shown
    assert "    missed    answered, but the notes do not hold the answer" in shown
    assert "    after     what does keras provide?" in shown


def test_a_source_not_in_the_folder_is_refused(session):
    with pytest.raises(TinychatError, match="'nowhere.txt' is not in"):
        evaluate(session, [Question("q?", "nowhere.txt", "a")])


def test_unanswerable_questions_and_conversations_load(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(
        "- {q: 'who conducts the choir?', answerable: false, missing: fact, source: choir.txt}\n"
        "- {q: 'what is the capital of france?', answerable: false, missing: subject}\n"
        "- turns:\n  - {q: 'where does the ferry go?', source: f.txt, answer: Brisk, line: 1}\n"
        "  - {q: 'how many bikes does it take?', source: f.txt, answer: '40', keywords: ['40']}\n"
    )
    fact, subject, conversation = load_items(path)
    assert (fact.answerable, fact.missing, fact.source) == (False, "fact", "choir.txt")
    assert (subject.answerable, subject.missing, subject.source) == (False, "subject", "")
    assert (
        isinstance(conversation, Conversation)
        and [t.q for t in conversation.turns][1] == "how many bikes does it take?"
    )
    assert load_questions(path) == [fact, subject]  # conversations are not questions
    path.write_text("- {q: 'who?', answerable: false, missing: maybe}\n")
    with pytest.raises(TinychatError, match="missing: fact or missing: subject"):
        load_items(path)


def test_exact_numbers_catches_a_slip_in_a_repeated_digit():
    context = "The plumber's number is 07700 900111. The gate code is 4000."
    assert (
        exact_numbers("07700 900111", context) == 1.0 and exact_numbers("code 4000", context) == 1.0
    )
    assert exact_numbers("07700 9001111", context) == 0.0 and exact_numbers("400", context) == 0.0
    assert exact_numbers("no digits here", context) is None


def test_an_alias_bomb_in_a_questions_file_costs_nothing(tmp_path):
    import time

    levels = [f"&l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, 9)]
    bomb = "[" + ", ".join(['&l0 ["x","x","x","x","x","x","x","x","x"]', *levels]) + "]"
    path = tmp_path / "q.yaml"
    path.write_text(f"- {{q: when, source: a.txt, answer: x, keywords: {bomb}}}\n")
    start = time.perf_counter()
    with pytest.raises(TinychatError, match="question 1: q, source, answer and each keyword must"):
        load_questions(path)
    assert time.perf_counter() - start < 2  # str() of each keyword would expand 9^9 strings
