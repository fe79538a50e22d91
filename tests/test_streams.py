"""Standard output full or closed, standard input closed: one line on stderr and exit code 1,
never a traceback, in a real process (the streams are the point)."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from tests.cli_support import command, env

QUESTION = "when does the ferry leave?"


def shell(folder, line: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`line` run by sh in `folder`, where $TC is the tinychat command."""
    tinychat = " ".join(map(shlex.quote, command()))
    return subprocess.run(
        ["sh", "-c", line.replace("$TC", tinychat)],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env(),
    )


def said_once(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr


@pytest.mark.parametrize(
    "line",
    ["$TC --json > /dev/full", "$TC ask " + QUESTION + " > /dev/full", "$TC info > /dev/full"],
    ids=["pipe", "ask", "info"],
)
def test_a_full_standard_output_is_one_line(trained_folder, line):
    result = shell(trained_folder, line, stdin=QUESTION + "\n")
    said_once(result, "tinychat: cannot write the output (No space left on device)")


def test_a_closed_standard_output_is_one_line(trained_folder):
    result = shell(trained_folder, "$TC --json >&-", stdin=QUESTION + "\n")
    said_once(result, "standard output is closed")


def test_a_closed_standard_input_is_one_line(trained_folder):
    said_once(shell(trained_folder, "$TC <&-"), "standard input is closed")
    answered = shell(trained_folder, "$TC ask " + QUESTION + " <&-")
    assert answered.returncode == 0 and "7" in answered.stdout, answered.stderr
