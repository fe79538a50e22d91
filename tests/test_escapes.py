"""No command lets a note, a file name or a question write raw control characters to the terminal.

A hostile note holds escape sequences that would retitle the window (OSC 0 ... BEL), clear the
screen (CSI 2J) or colour it (a C1 CSI), in its text and in its file name, which also holds a
newline that would forge a line of output. Every command is run on it in-process and
everything written to stdout and stderr is searched for a raw C0 or C1 control character.
"""

from __future__ import annotations

import io
import re
import shutil
import sys

import pytest

from tinychat.cli import main

# Every C0 control but newline, DEL and every C1 control: what a terminal acts on.
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
EVIL_TEXT = "Zorblax\x9b31m\x1b]0;owned\x07 fuel\x1b[2J has 4812 units.\n"
EVIL_NAME = "evil\x1b[31m\nnote: all notes read fine\t.txt"
BINARY_NAME = "bin\x1b]0;pwned\x07\n.txt"
QUESTION = "zorblax\x1b]0;q\x07 fuel\x1b[2J?"
CONFIG = "model: {window: 128}\ngeneration: {max_answer_chars: 40}\n"
QUESTIONS = (
    '- q: "zorblax\\e]0;q\\a fuel?"\n'
    '  source: "evil\\e[31m\\nnote: all notes read fine\\t.txt"\n'
    "  answer: Zorblax fuel has 4812 units.\n  keywords: ['4812']\n"
)


@pytest.fixture
def hostile(trained, tmp_path):
    """A folder (the working directory) with the tiny config, trained weights and hostile notes."""
    config, _ = trained
    shutil.copytree(config.paths.knowledge, tmp_path / "notes")
    shutil.copytree(config.paths.state, tmp_path / "state")
    (tmp_path / "notes" / EVIL_NAME).write_text(EVIL_TEXT)
    (tmp_path / "notes" / BINARY_NAME).write_bytes(b"\x00\x01binary")
    (tmp_path / "tinychat.yaml").write_text(CONFIG)
    (tmp_path / "questions.yaml").write_text(QUESTIONS)
    return tmp_path


# (arguments, stdin, what proves the hostile text was shown, escaped)
COMMANDS = [
    (["ask", QUESTION], None, "notes/bin\\x1b]0;pwned\\x07\\n.txt looks binary"),
    (["ask", QUESTION, "--show-prompt"], None, "Zorblax\\x9b31m\\x1b]0;owned\\x07 fuel\\x1b[2J"),
    (
        ["ask", QUESTION, "--json", "--show-prompt"],
        None,
        "Zorblax\\u009b31m\\u001b]0;owned\\u0007 fuel\\u001b[2J",
    ),
    ([], QUESTION + "\n", "bin\\x1b]0;pwned"),
    (["--json"], QUESTION + "\n", "zorblax\\u001b]0;q\\u0007 fuel\\u001b[2J?"),
    (["demo", QUESTION], None, "zorblax\\x1b]0;q\\x07 fuel\\x1b[2J?"),
    (["demo"], None, "[CONTEXT]"),  # questions made from the notes themselves
    (["eval", "questions.yaml"], None, "keyword recall"),
    (["eval", "questions.yaml", "--json"], None, "token_f1"),
    (["info"], None, "knowledge"),
    (["info", "--knowledge", "notes\x1b[31m"], None, "notes\\x1b[31m: knowledge folder not found"),
    (
        ["--knowledge", "nowhere\x1b]0;x\x07\n"],
        QUESTION + "\n",
        "nowhere\\x1b]0;x\\x07\\n: knowledge folder",
    ),
    (["eval", "missing\x1b[2J.yaml"], None, "missing\\x1b[2J.yaml: questions file not found"),
]


@pytest.mark.parametrize(
    "argv, stdin, shown", COMMANDS, ids=[" ".join(c[0])[:30] or "pipe" for c in COMMANDS]
)
def test_no_raw_control_character_reaches_the_terminal(
    hostile, capsys, monkeypatch, argv, stdin, shown
):
    monkeypatch.setenv("NO_COLOR", "1")  # the plain-text paths: nothing is hidden in styling
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((stdin or "").encode())))
    options = ["--state", "state"] + (["--knowledge", "notes"] if "--knowledge" not in argv else [])
    main([*options, *argv])
    out, err = capsys.readouterr()
    assert shown in out + err, (out, err)
    assert not RAW_CONTROL.search(out), out
    assert not RAW_CONTROL.search(err), err
    assert "\nnote: all notes read fine" not in out + err  # the file name could not forge a line


def test_the_repl_shows_hostile_notes_and_questions_escaped(hostile, capsys, monkeypatch):
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from tinychat.chat import ChatSession
    from tinychat.config import load_config
    from tinychat.repl import Repl
    from tinychat.startup import load_or_train, notice

    monkeypatch.setenv("NO_COLOR", "1")
    paths = {"paths.knowledge": "notes", "paths.state": "state"}
    config = load_config(hostile / "tinychat.yaml", paths)
    session = ChatSession(config, load_or_train(config), on_notice=notice)
    session.ask(QUESTION)  # as if typed: a paste can carry escape sequences
    out = io.StringIO()
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("/sources\n/sources -v\n/why\n/probs\n/info\nzorblax fuel\n\x04")
        Repl(session, out=out, input=pipe, output=DummyOutput()).run()
    captured = capsys.readouterr()
    assert "evil" in out.getvalue() and "\\x1b" in out.getvalue()
    for text in (out.getvalue(), captured.out, captured.err):
        assert not RAW_CONTROL.search(text), text


def test_printable_forms():
    import json

    from tinychat.terminal import json_line, printable, printable_line

    name = "caf\udce9\x1b[2J\n\t\u202e\x9b.txt"  # a Latin-1 byte, CSI, newline, tab, RLO, C1 CSI
    assert printable(name) == "caf\\xe9\\x1b[2J\n\\t\\u202e\\x9b.txt"  # several lines: newline kept
    assert printable_line(name) == "caf\\xe9\\x1b[2J\\n\\t\\u202e\\x9b.txt"
    line = json_line({"path": name, "text": "café ✓"})
    shown = name.replace("\udce9", "\\xe9")  # the name's byte as every other output shows it
    assert json.loads(line) == {"path": shown, "text": "café ✓"} and "café ✓" in line
    assert json.loads(line)["path"].encode("utf-8")  # Unicode any JSON reader can take
    assert not RAW_CONTROL.search(line) and line.encode("utf-8")  # a surrogate would not encode raw
