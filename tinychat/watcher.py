"""Watch the knowledge folder while the REPL is open and re-index in the background.

Uses watchfiles (the operating system's change notifications: no CPU while idle, even over
thousands of files) and falls back to a slow poll if it is unavailable. Whatever the
watcher does, `ChatSession.answer` still checks the folder before every answer, so an
answer never cites a deleted file or an old line.
"""

from __future__ import annotations

import threading
from typing import Callable

from tinychat.chat import ChatSession
from tinychat.errors import TinychatError

POLL_SECONDS = 2.0


class Watcher:
    """A daemon thread that syncs `session` when its knowledge folder changes."""

    def __init__(self, session: ChatSession, on_change: Callable[[], None] = lambda: None):
        self.session = session
        self.on_change = on_change
        self.stop_event = threading.Event()
        self.last_error = ""  # said once, not again at every change or poll while it lasts
        self.thread = threading.Thread(target=self._run, name="tinychat-watcher", daemon=True)

    def start(self) -> "Watcher":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=2)

    def _sync(self) -> None:
        try:
            self.session.sync()
            self.last_error = ""
        except TinychatError as error:  # e.g. the folder was emptied: say so once, keep watching
            if str(error) != self.last_error:
                self.last_error = str(error)
                self.session.on_notice(self.last_error)
        self.on_change()

    def _run(self) -> None:
        folder = str(self.session.knowledge.folder)
        try:
            from watchfiles import watch
        except ImportError:
            while not self.stop_event.wait(POLL_SECONDS):
                self._sync()
            return
        try:
            for _ in watch(folder, stop_event=self.stop_event, debounce=300, raise_interrupt=False):
                self._sync()
        except (
            OSError,
            RuntimeError,
        ):  # the folder vanished or cannot be watched: fall back to polling
            while not self.stop_event.wait(POLL_SECONDS):
                self._sync()
