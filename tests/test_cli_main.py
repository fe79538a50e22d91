"""The command line called in-process through `main(argv)`: exact output and exit codes."""

from __future__ import annotations

import json

import pytest

from tinychat.cli import main


@pytest.mark.parametrize("argv", [["--top-k", "0", "info"], ["ask", "--top-k", "0", "what is it?"]])
def test_top_k_zero_is_refused_in_one_line(argv, capsys):
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    refusal = "tinychat: command line: retrieval.top_k=0 is out of range; allowed 1 to 50\n"
    assert captured.err == refusal


@pytest.fixture
def folder(trained, tmp_path):
    """Arguments for a folder holding the session's tiny trained model, its notes and config."""
    import shutil

    from tests.cli_support import TINY_CONFIG

    config, _ = trained
    shutil.copytree(config.paths.knowledge, tmp_path / "notes")
    shutil.copytree(config.paths.state, tmp_path / "state")
    (tmp_path / "tinychat.yaml").write_text(TINY_CONFIG)
    return [
        "--config",
        str(tmp_path / "tinychat.yaml"),
        "--knowledge",
        str(tmp_path / "notes"),
        "--state",
        str(tmp_path / "state"),
    ]


def test_ask_joins_the_words_of_an_unquoted_question(folder, capsys):
    assert main([*folder, "ask", "when", "does", "the", "ferry", "leave?", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["query"] == "when does the ferry leave?"


def test_version(capsys):
    from tinychat import __version__

    with pytest.raises(SystemExit) as leaving:
        main(["--version"])
    assert leaving.value.code == 0 and capsys.readouterr().out == f"tinychat {__version__}\n"


def test_help_shows_examples_and_points_to_the_slash_commands(capsys):
    with pytest.raises(SystemExit) as leaving:
        main(["--help"])
    out = capsys.readouterr().out
    assert leaving.value.code == 0
    assert "examples:\n  tinychat  " in out and "tinychat ask what is keras " in out
    assert "/help lists the slash commands" in out


def test_info_fits_a_screen_and_lists_the_weights_with_v(folder, capsys):
    assert main([*folder, "info"]) == 0
    short = capsys.readouterr().out.splitlines()
    assert len(short) <= 20 and any(line.startswith("parameters ") for line in short)
    assert main([*folder, "info", "-v"]) == 0
    full = capsys.readouterr().out
    assert "token_embedding" in full and "blocks/0/" in full and len(full.splitlines()) > len(short)


def test_demo_asks_as_a_person_would(folder, capsys):
    assert main([*folder, "demo"]) == 0
    out = capsys.readouterr().out
    queries = [block.split("\n[ANSWER]\n")[0] for block in out.split("[QUERY]\n")[1:]]
    # ferry.md's heading, then the other files' names, which the notes write as names
    assert queries == ["what about the ferry?", "what is Keras?", "what is TensorFlow?"]


def test_demo_questions_read_as_a_person_asks_them(tmp_path):
    """Plurals, names, possessives and a heading's aside, as notes are written."""
    from tinychat.config import KnowledgeConfig
    from tinychat.demo import demo_questions
    from tinychat.knowledge import Knowledge

    notes = {
        "allotment.txt": "The allotment is plot 14 on Ferris Lane.\n",
        "banana.md": "# Mum's banana bread\n\nHeat the oven to 180C.\n",
        "contacts.md": "# Useful numbers\n\n- Plumber: Dave Kerrigan, 07700 900 482.\n",
        "lisbon-trip.md": "# Lisbon trip, October\n\nWe fly to Lisbon on Friday.\n",
    }
    for name, text in notes.items():
        (tmp_path / name).write_text(text)
    knowledge = Knowledge(tmp_path, KnowledgeConfig())
    knowledge.refresh()
    assert demo_questions(knowledge, count=4) == [
        "what about the allotment?",
        "what about mum's banana bread?",
        "what are the useful numbers?",
        "what about the Lisbon trip?",
    ]


def test_demo_questions_for_the_bundled_notes_and_any_other_folder(tmp_path):
    from tests.cli_support import ROOT
    from tinychat.demo import BUNDLED_QUESTIONS, demo_questions
    from tinychat.config import KnowledgeConfig
    from tinychat.knowledge import Knowledge

    bundled = Knowledge(ROOT / "knowledge", KnowledgeConfig())
    bundled.refresh()
    assert demo_questions(bundled) == list(BUNDLED_QUESTIONS)
    (tmp_path / "notes" / "towns").mkdir(parents=True)
    (tmp_path / "notes" / "kv_cache.txt").write_text("A key/value cache keeps past keys.\n")
    town = tmp_path / "notes" / "towns" / "north_velmora.md"
    town.write_text("# How the town grew after 1850\n\nIt grew.\n")  # too long for a subject
    (tmp_path / "notes" / "zeppelin.md").write_text("# The Quorvax\n\nIt flies.\n")
    other = Knowledge(tmp_path / "notes", KnowledgeConfig())
    other.refresh()
    expected = [
        "what about the kv cache?",
        "what about the north velmora?",
        "what about the quorvax?",
    ]
    assert demo_questions(other) == expected
