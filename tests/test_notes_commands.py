"""The slash commands that work on the notes themselves, used as a person would: /open in a real
terminal with an editor, /files and /save through the REPL."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.cli_support import command, env
from tests.test_repl import drive

pexpect = pytest.importorskip("pexpect")
QUESTION = "when does the ferry leave?"


def editor_script(folder):
    """An editor that records its arguments and adds a sentence to the file it was given."""
    script = folder / "editor.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{folder / "editor-args.txt"}"\n'
        'for last; do :; done\n'
        'printf "The ferry has a red funnel.\\n" >> "$last"\n'
    )
    script.chmod(0o755)
    return script


def repl_in_a_terminal(folder, **variables):
    """tinychat in a pseudo-terminal in `folder`, with these environment variables."""
    environment = {k: v for k, v in env().items() if k not in ("VISUAL", "EDITOR")}
    child = pexpect.spawn(
        command()[0],
        command()[1:],
        cwd=str(folder),
        env={**environment, **variables},
        timeout=60,
        dimensions=(30, 100),
        encoding="utf-8",
    )
    child.expect("Ctrl-D leaves")
    child.expect_exact("\x1b[6n")  # the terminal's cursor question: answered, as a terminal does
    child.send("\x1b[1;1R")
    child.expect(">")
    return child


def test_open_starts_the_editor_at_the_answer_s_line_and_re_indexes_after(trained_folder):
    folder = trained_folder
    script = editor_script(folder)
    child = repl_in_a_terminal(folder, EDITOR=str(script))
    child.sendline(QUESTION)
    child.expect_exact("notes/ferry.md:3")  # the source under the answer
    child.expect(">")
    child.sendline("/open")
    child.expect("re-indexed: 1 changed")
    child.expect(">")
    args = (folder / "editor-args.txt").read_text().splitlines()
    assert args == ["+3", str(folder / "notes" / "ferry.md")]
    child.sendline("/open 9")
    child.expect(r"/open 9: (give a source number from 1 to \d|the last answer has one source)")
    child.expect(">")
    child.sendline("what colour is the funnel of the ferry?")
    child.expect_exact("notes/ferry.md:5")  # the sentence the editor added, found at once
    child.expect(">")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_open_without_an_editor_prints_the_path_and_line(session, monkeypatch):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    typed = f"/open\n{QUESTION}\n/open\n/open 0\nwhat is the capital of france?\n/open\n/open 1\n"
    code, text = drive(session, typed)
    lines = text.splitlines()
    assert code == 0 and "no answer yet: ask a question first" in lines
    declined = "the last answer was declined and cites nothing; /open N opens the closest"
    assert " ".join(text.split()).count(declined) == 1  # /open 1 opens the closest sentence
    assert re.fullmatch(r"notes/\S+:\d+  \(set \$EDITOR to open it there\)", lines[-1])
    assert "notes/ferry.md:3  (set $EDITOR to open it there)" in lines
    refusal = r"/open 0: (give a source number from 1 to \d+ \(/sources lists them\)|the last"
    refusal += r" answer has one source; /open opens it)"
    assert any(re.fullmatch(refusal, line) for line in lines), lines


def test_the_editor_command_for_vi_and_for_vs_code(tmp_path):
    from tinychat.editor import chosen_editor, editor_command

    note = tmp_path / "ferry.md"
    assert editor_command(["vi"], note, 3) == ["vi", "+3", str(note)]
    assert editor_command(["code", "--wait"], note, 3) == ["code", "--wait", "--goto", f"{note}:3"]
    assert editor_command(["/usr/bin/code"], note, 3)[1:] == ["--wait", "--goto", f"{note}:3"]
    assert chosen_editor({"VISUAL": "", "EDITOR": "emacs -nw"}) == ["emacs", "-nw"]
    assert chosen_editor({"VISUAL": "nano", "EDITOR": "vi"}) == ["nano"]
    assert chosen_editor({}) == []


def test_files_lists_the_notes_and_what_changed_since_training(session, tmp_path):
    (tmp_path / "notes" / "keras.txt").write_text("Keras is a library.\n")  # changed
    (tmp_path / "notes" / "zeppelin.md").write_text("# Airships\n\nThe Quorvax flies.\n")  # new
    code, text = drive(session, "/files\n/files AIRSHIP\n/files ferry\n/files nothing\n")
    assert code == 0
    assert text.splitlines()[1:] == [
        "  ferry.md        2 chunks",
        "  keras.txt       1 chunk  changed since training",
        "  tensorflow.txt  1 chunk",
        "  zeppelin.md     1 chunk  new since training",
        "4 files, 5 chunks (sentences); 2 changed since training: /retrain",
        "  zeppelin.md  1 chunk  new since training  heading: Airships",
        "'airship' is in the name or a heading of 1 of the 4 files",
        "  ferry.md  2 chunks  heading: Ferry",
        "'ferry' is in the name or a heading of 1 of the 4 files",
        "no note's name or heading holds 'nothing'; /files lists them all",
    ]


def test_save_writes_the_conversation_as_markdown_and_never_overwrites(session, tmp_path):
    typed = f"/save\n{QUESTION}\nwhat is the capital of france?\n/save\n/save\n/save mine.md\n"
    code, text = drive(session, typed + "/save mine.md\n")
    assert code == 0 and "nothing to save yet: ask a question first" in text
    saved = [path.name for path in tmp_path.glob("tinychat-*.md")]
    assert len(saved) == 2, saved  # two saves in a row: two files (the second numbered "-2")
    assert all(re.fullmatch(r"tinychat-\d{4}-\d\d-\d\d-\d{4}(-2)?\.md", name) for name in saved)
    said = [line for line in text.splitlines() if line.startswith("saved ")]
    assert said[-1] == "saved 2 questions and their answers to mine.md"
    assert "/save mine.md: mine.md exists; give another name" in text
    document = (tmp_path / "mine.md").read_text()
    answer = session.ask(QUESTION).text
    assert re.fullmatch(
        r"# tinychat, \d{4}-\d\d-\d\d \d\d:\d\d\n\nNotes: `notes`\n\n"
        rf"## {re.escape(QUESTION)}\n\n{re.escape(answer)}\n\nSource: `notes/ferry\.md:3`\n\n"
        r"## what is the capital of france\?\n\nThe notes don't say\.\n\n"
        r"Source: none \(the notes don't hold the answer: .+\)\n",
        document,
    ), document


def test_the_default_name_is_dated_and_numbered_when_taken(tmp_path):
    from tinychat.transcript import default_path

    moment = datetime(2026, 12, 8, 9, 5)
    assert default_path(tmp_path, moment) == tmp_path / "tinychat-2026-12-08-0905.md"
    (tmp_path / "tinychat-2026-12-08-0905.md").write_text("earlier")
    assert default_path(tmp_path, moment) == tmp_path / "tinychat-2026-12-08-0905-2.md"


def test_save_by_default_refuses_to_write_into_the_notes_folder(session, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "notes")
    code, text = drive(session, f"{QUESTION}\n/save\n")
    assert code == 0 and "/save: the current folder is in the notes folder" in text
    assert not list((tmp_path / "notes").glob("tinychat-*.md"))
