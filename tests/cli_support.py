"""Helpers for tests of the real `tinychat` command: `call` runs `main(argv)` in this process;
`run` a fresh interpreter, where a real pipe, a terminal or a clean import is the point."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import NOTES, TINY_CONFIG, write_notes

ROOT = Path(__file__).resolve().parent.parent
# Every run in a folder made by `make_folder` uses its config, notes and state.
FOLDER_ARGS = ["--config", "tinychat.yaml", "--knowledge", "notes", "--state", "state"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tinychat", *FOLDER_ARGS, *args]


def as_a_shell_starts_it(argv: list[str]) -> list[str]:
    """`argv` started with Ctrl-C's signals at their defaults, as a shell starts a foreground
    job. A process started while its parent ignores SIGINT keeps ignoring it (the Unix rule,
    which Python follows), and a test worker can be ignoring it for a moment: seen as SIGINT
    and SIGQUIT both in the child's SigIgn, as C's system() leaves them while it waits."""
    reset = (
        "import os, signal, sys; "
        "[signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGQUIT)]; "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", reset, *argv]


def run(
    folder: Path, *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run tinychat in `folder` and wait for it."""
    return subprocess.run(
        command(*args),
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
    )


@dataclasses.dataclass
class Called:
    """What `call` saw, named as subprocess.CompletedProcess names it."""

    returncode: int
    stdout: str
    stderr: str


def call(folder: Path, *args: str, stdin: str = "") -> Called:
    """`main(argv)` in this process, as `run` would run tinychat in `folder`: the same
    arguments, `stdin` piped in, stdout and stderr captured (neither is a terminal)."""
    from tinychat.cli import main

    out, err = io.StringIO(), io.StringIO()
    piped = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8")
    saved_stdin, sys.stdin = sys.stdin, piped
    try:
        with (
            contextlib.chdir(folder),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = main([*FOLDER_ARGS, *args])
            except SystemExit as leaving:  # --help and --version leave through argparse
                code = leaving.code
    finally:
        sys.stdin = saved_stdin
    return Called(code, out.getvalue(), err.getvalue())


def make_folder(folder: Path) -> Path:
    """A folder as a new user has it: the tiny config and the notes, no weights yet.
    (A trained one: the `trained_folder` fixture.)"""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tinychat.yaml").write_text(TINY_CONFIG)
    write_notes(folder / "notes", NOTES)
    return folder


def terminal(folder: Path, columns: int = 100, **options):
    """tinychat started in a pseudo-terminal (pexpect) in `folder`, as a person starts it."""
    import pexpect

    return pexpect.spawn(
        command()[0],
        command()[1:],
        cwd=str(folder),
        env=env(),
        timeout=60,
        dimensions=(30, columns),
        **options,
    )
