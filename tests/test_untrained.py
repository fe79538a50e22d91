"""A pipe or `ask` on notes with no trained model yet: it says how long training takes before it
starts, --no-train answers at once, and while another process (a REPL) trains these notes it
answers from the best matching sentence instead of failing on the training lock."""

from __future__ import annotations

import json
import shutil

from tests.cli_support import call, make_folder
from tinychat.citation import RETRIEVED_MARK, UNTRAINED_MARK
from tinychat.startup import training_lock

QUESTION = "when does the ferry leave?"
BEST = "The ferry to Brisk leaves at 7 every morning."


def test_no_train_answers_at_once_with_the_best_sentence(tmp_path):
    folder = make_folder(tmp_path / "fresh")
    result = call(folder, "--no-train", stdin=f"{QUESTION}\n")
    assert result.returncode == 0 and result.stdout == f"{BEST}  {UNTRAINED_MARK}\n"
    assert "training" not in result.stderr
    record = json.loads(call(folder, "--no-train", "--json", stdin=f"{QUESTION}\n").stdout)
    assert record["answer"] == BEST and record["retrieved_only"] is True
    asked = call(folder, "ask", "--no-train", "--cite", QUESTION)
    assert asked.stdout == f"{BEST}  {UNTRAINED_MARK} [notes/ferry.md:3]\n"
    assert not (folder / "state" / "checkpoint.h5").exists()


def test_a_pipe_beside_a_training_answers_from_the_notes(tmp_path):
    """The training lock is held (a REPL's trainer): no "already training here" failure."""
    folder = make_folder(tmp_path / "fresh")
    with training_lock(folder / "state"):
        piped = call(folder, stdin=f"{QUESTION}\n")
        asked = call(folder, "ask", QUESTION)
    assert piped.returncode == asked.returncode == 0
    assert piped.stdout == asked.stdout == f"{BEST}  {RETRIEVED_MARK}\n"
    assert "is training a model for these notes; until it finishes, answers are the best" in (
        piped.stderr
    )
    assert "already training" not in piped.stderr + asked.stderr


def test_a_pipe_takes_the_weights_when_the_training_beside_it_ends(trained, tmp_path, capsys):
    import io

    from tests.conftest import with_paths
    from tinychat.chat import ChatSession
    from tinychat.cli import answer_lines

    config, _ = trained
    config = with_paths(config, tmp_path)
    shutil.copytree(trained[0].paths.knowledge, tmp_path / "notes")
    lock = training_lock(config.paths.state)
    lock.__enter__()
    session = ChatSession(config, None)

    def lines():
        yield f"{QUESTION}\n".encode()
        shutil.copy(trained[0].paths.state / "checkpoint.h5", config.paths.state)
        lock.__exit__(None, None, None)  # the training beside it has saved and ended
        yield f"{QUESTION}\n".encode()

    out = io.StringIO()
    assert answer_lines(session, lines(), out, as_json=False) == 0
    first, second = out.getvalue().splitlines()
    assert first == f"{BEST}  {RETRIEVED_MARK}" and RETRIEVED_MARK not in second
    assert "training finished: answers now use the new weights" in capsys.readouterr().err


def test_how_long_a_first_training_takes_is_said_before_it(monkeypatch):
    import os

    from tinychat.config import Config
    from tinychat.startup import training_estimate

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    idle = "about 2 to 3 minutes here (200 to 300 steps over 179 sentences)"
    assert training_estimate(Config(), 179) == idle
    monkeypatch.setattr(os, "getloadavg", lambda: (6.0, 6.0, 6.0))  # others keep 6 cores busy
    assert training_estimate(Config(), 179).startswith("about 7 to 11 minutes here")


def test_an_empty_folder_is_said_before_any_training(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    result = call(tmp_path, "--knowledge", "empty", stdin=f"{QUESTION}\n")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "no .txt or .md text found" in result.stderr and "training" not in result.stderr


def test_a_knowledge_folder_passed_but_missing_says_to_check_the_path(tmp_path):
    make_folder(tmp_path)
    for args in ([], ["info"], ["ask", "q"]):
        result = call(tmp_path, "--knowledge", "nonexist", *args, stdin="q\n")
        assert result.returncode == 1
        assert result.stderr == (
            "tinychat: nonexist: knowledge folder not found; check the --knowledge path\n"
        )
