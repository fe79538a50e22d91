"""tinychat in a real pseudo-terminal, used as a person would (pexpect).

Typing a question, Ctrl-C at the prompt, /retrain in the background, history across restarts,
Ctrl-D leaving with exit code 0 and the terminal settings as they were.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from tests.cli_support import command, env, run, terminal

pexpect = pytest.importorskip("pexpect")
QUESTION = "when does the ferry leave?"


def spawn(folder: Path):
    child = terminal(folder)
    child.expect("Ctrl-D leaves")
    # Where is the cursor? A terminal answers; unanswered, prompt-toolkit waits a second for
    # the reply when it leaves.
    child.expect_exact("\x1b[6n")
    child.send("\x1b[1;1R")
    child.expect(">")
    return child


def expected_answer(folder: Path) -> str:
    result = run(folder, "--json", stdin=QUESTION + "\n")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["answer"]


def test_question_answer_ctrl_c_and_ctrl_d(trained_folder):
    answer = expected_answer(trained_folder)
    child = spawn(trained_folder)
    child.sendline(QUESTION)
    child.expect_exact(answer[:20])  # the greedy answer, as the pipe gives it
    child.expect(">")
    child.sendintr()  # Ctrl-C at the prompt clears the line; the session lives on
    child.sendline("/temp")
    child.expect("temperature 0")
    child.expect(
        ">"
    )  # wait for the prompt: a Ctrl-D sent sooner reaches a cooked tty, which swallows it
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_retrain_in_the_background_keeps_the_old_weights_answering_then_swaps(
    trained_folder,
):
    """/retrain returns to the prompt at once; the old weights answer (Ctrl-C during an answer
    does not reach the trainer child) until the new ones are swapped in between two answers."""
    folder = trained_folder
    weights = folder / "state" / "checkpoint.h5"
    before = weights.read_bytes()
    answer = expected_answer(folder)
    child = spawn(folder)
    child.sendline("/retrain")
    # how long it takes, at the pace of the training that made the weights (wrapped as the
    # terminal is wide: between any two words)
    words = "training in the background, 10 steps: at most \\d+:\\d\\d at the last training's pace;"
    child.expect(r"\s+".join(words.split()))
    child.expect(">")
    child.sendline(QUESTION)
    child.expect_exact(answer[:20])  # the old weights, while the new ones train
    child.expect(">")
    child.sendintr()  # at the prompt: clears the line; the trainer runs in a session of its own
    deadline = time.monotonic() + 60
    while weights.read_bytes() == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert weights.read_bytes() != before, "the background retrain never saved"
    time.sleep(1)  # the child exits right after saving
    child.sendline(QUESTION)
    child.expect("training finished: answers now use the new weights")
    child.expect(">")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_second_line_of_a_question_has_its_own_prompt(trained_folder):
    """Alt-Enter (Esc, Enter) starts a new line of the same question, shown after '... ' as the
    lines of a \"\"\" block are."""
    child = spawn(trained_folder)
    child.send("when does the\x1b\r")
    child.expect_exact("when does the")
    child.expect_exact("\n\x1b[0m...")  # the next line's prompt (its space: a cursor move)
    child.send("ferry leave?\r")
    child.expect_exact("notes/ferry.md:3")
    child.expect(">")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)


def test_arrow_up_recalls_history_across_restarts(trained_folder):
    folder = trained_folder
    child = spawn(folder)
    child.sendline("/topk 2")
    child.expect("top-k 2")
    child.expect(">")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child = spawn(folder)  # a new process: only the history file remembers
    child.send("\x1b[A")  # arrow up
    child.send("\r")
    child.expect("top-k 2")
    child.expect(">")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    assert "/topk 2" in (folder / "state" / "history").read_text()


def test_ctrl_d_leaves_the_terminal_as_it_was(trained_folder):
    shell = pexpect.spawn(
        "/bin/sh",
        cwd=str(trained_folder),
        env={**env(), "PS1": "$ "},
        timeout=60,
        encoding="utf-8",
    )
    shell.expect(r"\$ ")
    shell.sendline("stty -g > before.txt")
    shell.expect(r"\$ ")
    shell.sendline(" ".join(command()) + "; echo EXIT=$?")
    shell.expect("Ctrl-D leaves")
    shell.expect(">")
    time.sleep(0.3)
    shell.sendcontrol("d")
    shell.expect("EXIT=0")
    shell.expect(r"\$ ")
    shell.sendline("stty -g > after.txt; exit")
    shell.expect(pexpect.EOF)
    before, after = (trained_folder / name for name in ("before.txt", "after.txt"))
    assert before.read_text() == after.read_text()


def test_answers_are_written_one_character_at_a_time_and_ctrl_c_stops_one():
    """The REPL flushes each character as the model yields it; KeyboardInterrupt mid-answer
    returns to the prompt."""
    from tinychat.chat import Answer
    from tinychat.repl import Repl

    class Recording(io.StringIO):
        def __init__(self):
            super().__init__()
            self.flushed: list[str] = []

        def flush(self):
            self.flushed.append(self.getvalue())

    class Session:  # stands in for ChatSession: yields three characters, then is interrupted
        def prepare(self, query):
            return Answer(query)

        def generate(self, answer):
            yield "a"
            yield "b"
            yield "c"
            raise KeyboardInterrupt

    repl = Repl.__new__(Repl)  # only the streaming part is under test here
    repl.session, repl.out, repl.notices = Session(), Recording(), []
    repl.stream_answer("question")
    assert repl.out.flushed[:3] == [
        "a",
        "ab",
        "abc",
    ]  # visible after each character, not at the end
    assert repl.out.getvalue() == "abc [stopped]\n"
