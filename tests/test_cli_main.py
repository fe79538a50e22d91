"""The command line called in-process through `main(argv)`: exact output and exit codes."""

from __future__ import annotations

import pytest

from tinychat.cli import main


@pytest.mark.parametrize("argv", [["--top-k", "0", "info"], ["ask", "--top-k", "0", "what is keras?"]])
def test_top_k_zero_is_refused_in_one_line(argv, capsys):
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "tinychat: command line: retrieval.top_k=0 is out of range; allowed 1 to 50\n"
