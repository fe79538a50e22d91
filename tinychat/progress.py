"""The training progress bar, on stderr: step, loss, chars/s and time left.

On a terminal one line is redrawn in place; on a pipe or file a plain line is written
every tenth of the run, so logs stay readable.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from typing import TextIO

BAR_WIDTH = 16
SPARK = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"  # eight block heights, low to high
SPARK_POINTS = 24


def sparkline(values: list[float], points: int = SPARK_POINTS) -> str:
    """The shape of a series in block characters (the last `points` samples of an even thinning)."""
    values = [v for v in values if v == v]
    if len(values) > points:
        values = [values[int(i * (len(values) - 1) / (points - 1))] for i in range(points)]
    if not values:
        return ""
    low, high = min(values), max(values)
    return "".join(
        SPARK[int((v - low) / (high - low) * (len(SPARK) - 1)) if high > low else 0] for v in values
    )


def format_seconds(seconds: float) -> str:
    """'1:05' style; hours when needed."""
    seconds = max(0, int(round(seconds)))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Draws training progress; `update` is called after every step."""

    def __init__(
        self, total: int, chars_per_step: int, stream: TextIO | None = None, label: str = "training"
    ):
        self.total, self.chars_per_step, self.label = total, chars_per_step, label
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.perf_counter()
        self.last_drawn = 0.0
        self.last_step = 0
        self.first_step = 0  # steps a resumed run had done before this start
        self.ended: float | None = None  # when the last step ended: the run's time stops there
        self.loss = math.nan
        self.losses: list[float] = []  # one per step: the live curve
        self.at_most = False  # early stopping may end the run first: the time left is a bound

    def start(self, total: int, first_step: int = 0) -> None:
        self.total, self.started, self.losses, self.ended = total, time.perf_counter(), [], None
        self.first_step = self.last_step = first_step

    def elapsed(self) -> float:
        """Seconds from `start` to the last step (or to now, before it): the bar's last figures
        and the summary's are one measure."""
        return max((self.ended or time.perf_counter()) - self.started, 1e-9)

    def seconds_left(self, step: int) -> float:
        """The time the steps left will take at this run's pace so far (nan before the first)."""
        done = step - self.first_step
        return self.elapsed() / done * (self.total - step) if done > 0 else math.nan

    def line(self, step: int) -> str:
        elapsed = self.elapsed()
        filled = int(BAR_WIDTH * step / max(self.total, 1))
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        rate = (step - self.first_step) * self.chars_per_step / elapsed
        left = self.seconds_left(step)
        left_text = format_seconds(left) if left == left else "?"
        head = f"{self.label} [{bar}] {step}/{self.total} loss {self.loss:.3f}"
        bound = "at most " if self.at_most else ""
        tail = f" {rate / 1000:.1f}k chars/s {bound}{left_text} left"
        # A line wider than the terminal wraps, and "\r" can then no longer redraw it in place.
        room = (
            shutil.get_terminal_size().columns - 1 - len(head) - len(tail)
            if self.interactive
            else SPARK_POINTS + 1
        )
        curve = " " + sparkline(self.losses, min(SPARK_POINTS, room - 1)) if room > 8 else ""
        line = head + curve + tail
        return line[: shutil.get_terminal_size().columns - 1] if self.interactive else line

    def record(self, step: int, loss: float) -> float:
        """Keep the step's loss (and the time the last step ended); returns the time now."""
        self.loss = loss
        self.losses.append(loss)
        now = time.perf_counter()
        if step == self.total:
            self.ended = now
        return now

    def update(self, step: int, loss: float) -> None:
        now = self.record(step, loss)
        if self.interactive:
            if now - self.last_drawn >= 0.1 or step == self.total:
                self.stream.write("\r\x1b[2K" + self.line(step))
                self.stream.flush()
                self.last_drawn = now
        elif step * 10 // max(self.total, 1) > self.last_step * 10 // max(self.total, 1):
            self.stream.write(self.line(step) + "\n")
            self.stream.flush()
        self.last_step = step

    def phase(self, text: str) -> None:
        """Say what runs before the first step or after the last, where no bar would move."""
        if self.interactive:
            self.stream.write(f"\r\x1b[2K{self.label}: {text}...")
            self.stream.flush()

    def finish(
        self, final_loss: float, seconds: float, chars_per_second: float, notes: list[str] = ()
    ) -> None:
        """Replace the bar by a summary: steps, time and speed (the run's one measure of them,
        given by the caller), the loss curve and final loss, then `notes`."""
        end = "\r\x1b[2K" if self.interactive else ""
        resumed = f" (resumed at {self.first_step})" if self.first_step else ""
        self.stream.write(
            f"{end}{self.label}: {self.total} steps{resumed} in {format_seconds(seconds)},"
            f" {chars_per_second / 1000:.1f}k chars/s, loss {sparkline(self.losses)}"
            f" final {final_loss:.3f}\n"
        )
        for note in notes:
            self.stream.write(f"{self.label}: {note}\n")
        self.stream.flush()

    def cancelled(self) -> None:
        if self.interactive:
            self.stream.write("\n")
        self.stream.flush()
