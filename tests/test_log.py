"""The log of questions and answers: appended by the pipe, `ask` and the REPL, printed by
`tinychat log`, kept within its size."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.cli_support import call
from tests.test_repl import drive

QUESTION = "when does the ferry leave?"
DECLINED = "what is the capital of france?"


@pytest.fixture
def fixed_clock(monkeypatch):
    import tinychat.log

    moment = datetime(2026, 12, 8, 9, 5, tzinfo=timezone.utc)
    monkeypatch.setattr(tinychat.log, "now", lambda: moment)


def test_log_prints_the_last_questions_and_answers(trained_folder, fixed_clock):
    empty = call(trained_folder, "log")
    assert empty.returncode == 0 and empty.stdout == ""
    assert empty.stderr == f"no questions logged yet in {trained_folder / 'state' / 'log.jsonl'}\n"
    piped = call(trained_folder, stdin=f"{QUESTION}\n{DECLINED}\n")
    answer = piped.stdout.splitlines()[0]
    asked = call(trained_folder, "ask", "how many bicycles does the ferry carry?")
    result = call(trained_folder, "log")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == (
        f"2026-12-08 09:05\n> {QUESTION}\n{answer}  [ferry.md:3]\n\n"
        f"2026-12-08 09:05\n> {DECLINED}\nThe notes don't say.\n\n"
        f"2026-12-08 09:05\n> how many bicycles does the ferry carry?\n"
        f"{asked.stdout.strip()}  [ferry.md:4]\n"
    )
    last = call(trained_folder, "log", "-n", "1", "--json")
    assert last.returncode == 0
    assert json.loads(last.stdout) == {
        "time": "2026-12-08T09:05:00+00:00",
        "query": "how many bicycles does the ferry carry?",
        "answer": asked.stdout.strip(),
        "abstained": False,
        "cited": [{"path": "ferry.md", "line": 4, "end_line": 4}],
    }
    refused = call(trained_folder, "log", "-n", "0")
    assert refused.returncode == 1
    assert refused.stderr == "tinychat: log -n 0: give a whole number of at least 1\n"


def test_the_repl_logs_each_answer(session):
    from tinychat.log import last_entries

    code, _ = drive(session, f"{QUESTION}\n/temp\n{DECLINED}\n")
    entries = last_entries(session.config.paths.state, 10)
    assert code == 0 and [entry["query"] for entry in entries] == [QUESTION, DECLINED]
    assert entries[1]["abstained"] is True and entries[1]["cited"] == []


def test_the_log_keeps_its_newer_half_past_its_size(session, monkeypatch):
    import tinychat.log
    from tinychat.log import AnswerLog, last_entries

    monkeypatch.setattr(tinychat.log, "MAX_LOG_BYTES", 2000)
    log = AnswerLog(session.config.paths.state, pytest.fail)
    answer = session.ask(QUESTION)
    for number in range(40):
        answer.query = f"question {number}"
        log.append(answer)
    path = session.config.paths.state / "log.jsonl"
    assert path.stat().st_size <= 2000 + 400  # one line past the size, then halved
    entries = last_entries(session.config.paths.state, 100)
    assert entries[-1]["query"] == "question 39" and len(entries) < 40


def test_a_log_that_cannot_be_written_is_said_once(session, tmp_path):
    from tinychat.log import AnswerLog

    (session.config.paths.state / "log.jsonl").mkdir(parents=True)  # a folder in its place
    said: list[str] = []
    log = AnswerLog(session.config.paths.state, said.append)
    answer = session.ask(QUESTION)
    log.append(answer)
    log.append(answer)
    assert len(said) == 1 and said[0].startswith("note: the log ") and "not logging" in said[0]


def test_the_log_is_never_written_through_a_link(tmp_path):
    from tinychat.chat import Answer
    from tinychat.log import LOG_NAME, AnswerLog

    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / LOG_NAME).symlink_to(victim)
    notes: list[str] = []
    AnswerLog(tmp_path / "state", notes.append).append(Answer("q", text="a"))
    assert victim.read_text() == "keep\n" and len(notes) == 1 and "not logging" in notes[0]
