"""The progress display and the folder watcher, tested directly (no training, no terminal)."""

from __future__ import annotations

import io
import threading

from tinychat.progress import Progress, format_seconds, sparkline
from tinychat.watcher import Watcher


def test_sparkline_and_seconds():
    assert sparkline([3.0, 2.0, 1.0]) == "\u2588\u2584\u2581"  # high, middle, low
    assert sparkline([float("nan"), 1.0, 1.0]) == "\u2581\u2581"  # a flat curve; NaN left out
    assert len(sparkline(list(map(float, range(100))), points=10)) == 10
    assert (
        format_seconds(65) == "1:05"
        and format_seconds(3725) == "1:02:05"
        and format_seconds(-3) == "0:00"
    )


def test_a_pipe_gets_a_line_every_tenth_of_the_run_and_one_summary():
    stream = io.StringIO()  # not a terminal: plain lines, no redrawing
    progress = Progress(100, chars_per_step=1000, stream=stream)
    progress.start(100)
    for step in range(1, 101):
        progress.update(step, loss=1.0 / step)
    progress.finish(0.01, seconds=10.0, chars_per_second=10_000.0, notes=["a note"])
    lines = stream.getvalue().splitlines()
    bars = [line for line in lines if line.startswith("training [")]
    assert len(bars) == 10 and bars[-1].startswith("training [################] 100/100")
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert (
        lines[-2].startswith("training: 100 steps in 0:10, 10.0k chars/s")
        and lines[-1] == "training: a note"
    )


def test_the_time_left_is_a_bound_when_training_may_stop_early():
    stream = io.StringIO()
    progress = Progress(100, chars_per_step=1000, stream=stream)
    progress.start(100)
    progress.update(10, loss=0.5)
    assert progress.line(10).endswith(" left") and " at most " not in progress.line(10)
    progress.at_most = True  # train.py sets it when early stopping is on
    assert " at most " in progress.line(10) and progress.line(10).endswith(" left")


class FakeSession:
    """What the watcher needs of a chat session: sync, and where to say a problem."""

    def __init__(self, fail: bool = False):
        self.synced = threading.Event()
        self.notices: list[str] = []
        self.fail = fail
        self.knowledge = type("Knowledge", (), {"folder": None})()

    def sync(self) -> None:
        from tinychat.errors import TinychatError

        self.synced.set()
        if self.fail:
            raise TinychatError("notes: knowledge folder not found")

    def on_notice(self, message: str) -> None:
        self.notices.append(message)


def test_the_watcher_syncs_when_a_note_changes_and_says_a_problem_once(tmp_path):
    session = FakeSession(fail=True)
    session.knowledge.folder = tmp_path
    changed = threading.Event()
    watcher = Watcher(session, on_change=changed.set).start()
    try:
        for name in ("note.txt", "other.txt"):  # two changes: the same problem twice
            session.synced.clear()
            for attempt in range(20):  # the watcher may take a moment to start watching
                (tmp_path / name).write_text(f"A note, version {attempt}.\n")
                if session.synced.wait(0.5):
                    break
            assert session.synced.is_set() and changed.is_set()
    finally:
        watcher.stop()
    assert session.notices == ["notes: knowledge folder not found"]  # said once, not raised
    assert not watcher.thread.is_alive()  # stop() ends the thread
