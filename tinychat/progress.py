"""The training progress bar, on stderr: step, loss, chars/s and time left.

On a terminal one line is redrawn in place; on a pipe or file a plain line is written
every tenth of the run, so logs stay readable.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

BAR_WIDTH = 24


def format_seconds(seconds: float) -> str:
    """'1:05' style; hours when needed."""
    seconds = max(0, int(round(seconds)))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Draws training progress; `update` is called after every step."""

    def __init__(self, total: int, chars_per_step: int, stream: TextIO | None = None, label: str = "training"):
        self.total, self.chars_per_step, self.label = total, chars_per_step, label
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.perf_counter()
        self.last_drawn = 0.0
        self.last_step = 0
        self.loss = math.nan

    def start(self, total: int) -> None:
        self.total, self.started, self.last_step = total, time.perf_counter(), 0

    def line(self, step: int) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        done = step / max(self.total, 1)
        filled = int(BAR_WIDTH * done)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        rate = step * self.chars_per_step / elapsed
        left = elapsed / done - elapsed if done > 0 else math.nan
        left_text = format_seconds(left) if left == left else "?"
        return (f"{self.label} [{bar}] {step}/{self.total}  loss {self.loss:.3f}  "
                f"{rate / 1000:.1f}k chars/s  {left_text} left")  # fmt: skip

    def update(self, step: int, loss: float) -> None:
        self.loss = loss
        now = time.perf_counter()
        if self.interactive:
            if now - self.last_drawn >= 0.1 or step == self.total:
                self.stream.write("\r\x1b[2K" + self.line(step))
                self.stream.flush()
                self.last_drawn = now
        elif step * 10 // max(self.total, 1) > self.last_step * 10 // max(self.total, 1):
            self.stream.write(self.line(step) + "\n")
            self.stream.flush()
        self.last_step = step

    def finish(self, final_loss: float) -> None:
        elapsed = time.perf_counter() - self.started
        end = "\r\x1b[2K" if self.interactive else ""
        self.stream.write(f"{end}{self.label}: {self.total} steps in {format_seconds(elapsed)}, final loss {final_loss:.3f}\n")
        self.stream.flush()

    def cancelled(self) -> None:
        if self.interactive:
            self.stream.write("\n")
        self.stream.flush()
