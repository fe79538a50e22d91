"""The log: every question and its answer, one JSON line each, in the state folder's `log.jsonl`.

The REPL, a pipe and `tinychat ask` append to it; `tinychat log` prints the last ones (as `llm
logs` does). A line holds the time, the question, the answer, whether it was declined, and the
sentences it was copied from (paths relative to the knowledge folder). Past MAX_LOG_BYTES the
older half is dropped, so the log stays bounded however long tinychat is used. A log that
cannot be written (a read-only state folder) never stops an answer: that is said once.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Callable

from tinychat.atomic import atomic_write
from tinychat.chat import Answer
from tinychat.errors import TinychatError
from tinychat.files import FileTooLarge, open_for_writing, read_regular
from tinychat.terminal import json_line, printable_line

LOG_NAME = "log.jsonl"
MAX_LOG_BYTES = 2 << 20  # some 8,000 answers; then the older half goes
READ_LIMIT = 4 * MAX_LOG_BYTES  # a log grown past this (by hand, or another program) is not read


def now() -> datetime:
    """The local time, with its offset (a function, so that tests can fix it)."""
    return datetime.now().astimezone()


def entry(answer: Answer) -> dict:
    """The log line of one answer: time, query, answer, abstained, cited (path, line, end_line)."""
    return {
        "time": now().isoformat(timespec="seconds"),
        "query": answer.query,
        "answer": answer.text,
        "abstained": answer.abstained,
        "cited": [
            {"path": hit.chunk.path, "line": hit.chunk.line, "end_line": hit.chunk.end_line}
            for hit in answer.cited
        ],
    }


class AnswerLog:
    """Appends answers to `state/log.jsonl`; on the first failure says so and stops trying."""

    def __init__(self, state: Path, on_notice: Callable[[str], None]):
        self.path, self.on_notice = Path(state) / LOG_NAME, on_notice
        self.broken = False

    def append(self, answer: Answer) -> None:
        """Add one answer's line; drop the older half first when the log is past its size."""
        if self.broken:
            return
        line = (json_line(entry(answer)) + "\n").encode("utf-8", errors="replace")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # never through a link planted in the state folder, never a FIFO
            descriptor = open_for_writing(self.path, append=True, permissions=0o600)
            try:
                os.write(descriptor, line)
                size = os.fstat(descriptor).st_size
            finally:
                os.close(descriptor)
            if size > MAX_LOG_BYTES:
                self._keep_newer_half()
        except (OSError, TinychatError) as error:
            self.broken = True
            problem = error.strerror if isinstance(error, OSError) else str(error)
            self.on_notice(f"note: the log {self.path} cannot be written ({problem}); not logging")

    def _keep_newer_half(self) -> None:
        data = read_regular(self.path, READ_LIMIT)
        lines = data.split(b"\n")
        kept = b"\n".join(lines[len(lines) // 2 :])
        atomic_write(self.path, kept, "log")


def last_entries(state: Path, count: int) -> list[dict]:
    """The last `count` entries of the log, oldest first; lines that do not parse are skipped."""
    path = Path(state) / LOG_NAME
    try:
        data = read_regular(path, READ_LIMIT) if os.path.lexists(path) else b""
    except FileTooLarge:
        raise TinychatError(
            f"{path}: larger than {READ_LIMIT >> 20} MB; move it away to start a new log"
        ) from None
    except OSError as error:
        raise TinychatError(f"{path}: cannot read the log ({error.strerror or error})") from None
    entries = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a full disk, say
        if isinstance(record, dict) and isinstance(record.get("query"), str):
            entries.append(record)
    return entries[-count:] if count else []


def format_entry(record: dict) -> str:
    """One entry as text: its time, '> question', then the answer and [file:line] it came from."""
    try:
        when = datetime.fromisoformat(str(record.get("time"))).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        when = "unknown time"
    cited = [
        f"{source.get('path')}:{source.get('line')}"
        for source in record.get("cited") or []
        if isinstance(source, dict)
    ]
    where = f"  [{', '.join(cited)}]" if cited else ""
    query, answer = printable_line(record["query"]), printable_line(str(record.get("answer", "")))
    return f"{when}\n> {query}\n{answer}{printable_line(where)}"
