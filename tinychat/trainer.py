"""Training in a child process, so the REPL keeps answering (and never imports TensorFlow).

The REPL side (`Trainer`) starts `python -m tinychat.trainer`, sends it the config pickled on
its stdin, and reads one line per event from its stdout:

    progress STEP TOTAL LOSS SECONDS_LEFT     notice TEXT     phase TEXT
    stopped STEP TOTAL                         error TEXT      summary TEXT

The child's stderr (TensorFlow's chatter, a traceback if it crashed) goes to `trainer.log` in
the state folder, never over the prompt (nor through a link planted there, nor into a FIFO:
the messages are then dropped, and that is said). The child runs in its own session, so a
Ctrl-C typed while an answer streams does not reach it. Exit codes: 0 trained and saved, 1 an
error it named, EXIT_STOPPED stopped on request with its progress saved, negative killed by a
signal.

Stopping: SIGTERM (or SIGINT) sets a flag that training checks after every step; it then saves
its progress (`resume`) and exits. Before training has begun there is nothing to save, so it
exits at once. The REPL sends SIGTERM and waits STOP_SECONDS, then kills.

A REPL killed with kill -9 cannot stop its child, so the child watches for that itself: its
stdin is a pipe whose only writer is the REPL, and when the REPL dies, for whatever reason,
the kernel closes that pipe and a thread in the child reads end-of-file, which it treats as
SIGTERM (progress saved, then exit). We chose this over Linux's prctl(PR_SET_PDEATHSIG):
the pipe works on every POSIX system without ctypes, it ends in the same clean stop as
/quit (PDEATHSIG only delivers a signal, so the handler would be needed anyway), and
PDEATHSIG fires when the parent *thread* that started the child exits, not the process,
which would stop training early if a /retrain were ever started from a helper thread.
"""

from __future__ import annotations

import math
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TextIO

from tinychat.config import Config
from tinychat.errors import TinychatError
from tinychat.files import open_for_writing, read_tail
from tinychat.progress import Progress, format_seconds

if TYPE_CHECKING:
    from tinychat.checkpoint import TrainingRecord

LOG_NAME = "trainer.log"
EXIT_STOPPED = 3
STOP_SECONDS = 10.0  # a clean stop takes one step and a save; past this the child is killed
LINE_SECONDS = 0.2  # the child reports progress at most this often
LOG_TAIL = 64 << 10  # bytes of the log read back for its last line: TensorFlow's chatter is long


# ---------------------------------------------------------------------------- the REPL's side


def expected_seconds(record: "TrainingRecord | None", steps: int) -> float:
    """How long `steps` steps take at the pace of the training that `record` describes (nan when
    there is none, or it does not say)."""
    if record is None or not record.steps or record.seconds is None:
        return math.nan
    return record.seconds / record.steps * steps


def bound(config: Config) -> str:
    """'at most ' when early stopping may end a run before its last step, else ''."""
    return "at most " if config.train.early_stop else ""


def length(config: Config, seconds: float) -> str:
    """'at most 2:40', how long a run's steps will take ('' when not known)."""
    return "" if seconds != seconds else f"{bound(config)}{format_seconds(seconds)}"


class Trainer:
    """One background training run: start it, follow its progress, stop it."""

    def __init__(
        self,
        config: Config,
        fresh: bool,
        on_change: Callable[[], None] = lambda: None,
        expected: float = math.nan,
    ):
        self.config, self.fresh, self.on_change = config, fresh, on_change
        self.expected = expected  # seconds its steps take, at most with early stopping (or nan)
        self.process: subprocess.Popen | None = None
        self.step, self.total = 0, 0
        self.loss = float("nan")
        self.left = float("nan")
        self.phase = "starting"  # what the toolbar says before the first step
        self.notices: list[str] = []  # from the child, shown by the REPL between prompts
        self.error = ""
        self.stopped_at = 0
        self.stopping = False  # we asked it to stop: its ending is not news
        self.exit_code: int | None = None  # set when the child has ended and its output is read
        self.reader = threading.Thread(target=self._read, name="tinychat-trainer", daemon=True)

    def start(self) -> "Trainer":
        state = self.config.paths.state
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # worded as `tinychat train` words it
            raise TinychatError(
                f"{state}: cannot write in the state folder ({error.strerror or error});"
                " pass --state DIR or fix its permissions"
            ) from None
        package_root = str(Path(__file__).resolve().parent.parent)  # the same tinychat in the child
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        log = self._open_log()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tinychat.trainer"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # Ctrl-C on the terminal is for the REPL, not the trainer
                env={**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
        finally:
            if log != subprocess.DEVNULL:
                os.close(log)  # the child holds its own copy
        assert self.process.stdin is not None
        # The config, then nothing: the open pipe is the child's sign that the REPL lives.
        self.process.stdin.write(pickle.dumps((self.config, self.fresh)))
        self.process.stdin.flush()
        self.reader.start()
        return self

    def _open_log(self) -> int:
        """A descriptor of the state folder's trainer.log, or DEVNULL (said once) when it is a
        link, a FIFO or anything else tinychat must not write into."""
        path = self.config.paths.state / LOG_NAME
        try:
            return open_for_writing(path)
        except OSError as error:
            self.notices.append(
                f"note: {path} {error.strerror or error}; the trainer's messages are not kept"
            )
            return subprocess.DEVNULL

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def running(self) -> bool:
        return self.process is not None and self.exit_code is None

    def status(self) -> str:
        """One line for the toolbar: step, loss and time left, or the phase."""
        if self.exit_code is not None:
            return ""
        if self.step and self.phase == "training":
            left = format_seconds(self.left) if self.left == self.left else "?"
            progress = f"training {self.step}/{self.total} loss {self.loss:.2f}"
            return f"{progress} {bound(self.config)}{left} left"
        # before the first step, how long the steps will take; then the bar's own time left
        expected = length(self.config, self.expected) if not self.step else ""
        return f"training: {self.phase}" + (f" ({expected})" if expected else "")

    def stop(self, timeout: float = STOP_SECONDS) -> int | None:
        """Ask the child to stop (its progress is saved) and wait; kill it past `timeout`.
        Returns its exit code."""
        if self.process is None:
            return None
        self.stopping = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=2)
        return self.process.returncode

    def _read(self) -> None:
        """Follow the child's lines until it ends (a daemon thread)."""
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            self._event(raw.decode("utf-8", errors="replace").rstrip("\n"))
            self.on_change()
        code = self.process.wait()
        if self.process.stdin:
            try:
                self.process.stdin.close()
            except OSError:  # the pipe is broken: the child is gone, which is what closing says
                pass
        self.exit_code = code
        self.on_change()

    def _event(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "progress":
            step, total, loss, left = rest.split()
            self.step, self.total = int(step), int(total)
            self.loss, self.left = float(loss), float(left)
            self.phase = "training"
        elif kind == "phase":
            self.phase = rest
        elif kind == "notice":
            self.notices.append(rest)
        elif kind == "error":
            self.error = rest
        elif kind == "stopped":
            self.stopped_at, self.total = (int(word) for word in rest.split())

    def failure(self) -> str:
        """Why the child ended without new weights, in one line ('' if it did not fail)."""
        code = self.exit_code
        if code in (0, None) or (self.stopping and code in (EXIT_STOPPED, -signal.SIGTERM)):
            return ""
        if code == EXIT_STOPPED:  # stopped by someone else's SIGTERM
            return f"training stopped at step {self.stopped_at} of {self.total} (progress saved)"
        if code < 0:
            return f"training ended by signal {-code} (killed?) at step {self.step}"
        return f"training failed: {self.error or self._last_log_line()}"

    def _last_log_line(self) -> str:
        try:
            tail = read_tail(self.config.paths.state / LOG_NAME, LOG_TAIL)
            lines = tail.decode("utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        last = next((line for line in reversed(lines) if line.strip()), "")
        return f"{last.strip()} (see {self.config.paths.state / LOG_NAME})"


# ---------------------------------------------------------------------------- the child's side


class LineProgress(Progress):
    """Progress as protocol lines on `stream`, at most one per LINE_SECONDS."""

    def __init__(self, total: int, chars_per_step: int, stream: TextIO):
        super().__init__(total, chars_per_step, stream=stream)
        self.interactive = False
        self.training = threading.Event()  # set once steps run: from then on a stop saves progress

    def start(self, total: int, first_step: int = 0) -> None:
        super().start(total, first_step)
        self.training.set()

    def update(self, step: int, loss: float) -> None:
        now = self.record(step, loss)
        if now - self.last_drawn >= LINE_SECONDS or step == self.total:
            left = self.seconds_left(step)
            self.stream.write(f"progress {step} {self.total} {loss:.4f} {left:.1f}\n")
            self.stream.flush()
            self.last_drawn = now
        self.last_step = step

    def phase(self, text: str) -> None:
        self.stream.write(f"phase {text}\n")
        self.stream.flush()

    def finish(
        self, final_loss: float, seconds: float, chars_per_second: float, notes: list[str] = ()
    ) -> None:
        self.stream.write(
            f"summary {self.total} steps in {format_seconds(seconds)},"
            f" {chars_per_second / 1000:.1f}k chars/s, final loss {final_loss:.3f}\n"
        )
        self.stream.flush()

    def cancelled(self) -> None:
        pass


class _Lines:
    """The child's stdout, which outlives its reader when the REPL is killed: a write to the
    closed pipe must not abort the stop (and save) that the REPL's death set off."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
        except OSError:  # BrokenPipeError: no one is listening any more
            pass

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError:
            pass

    def isatty(self) -> bool:
        return False


def child_main(stdin: Any = None, out: Any = None) -> int:
    """The child process: read the config, train, report on `out`; returns the exit code."""
    stdin = stdin or sys.stdin.buffer
    out = out or sys.stdout
    config, fresh = pickle.load(stdin)
    stop = threading.Event()
    progress = LineProgress(config.train.steps, config.train.batch_size * config.model.window, out)

    def on_stop(signum: int, frame: Any) -> None:
        stop.set()
        if not progress.training.is_set():
            raise SystemExit(EXIT_STOPPED)  # nothing trained yet, so nothing to save

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    lifeline = threading.Thread(
        target=_watch_parent, args=(stdin.fileno(),), name="lifeline", daemon=True
    )
    lifeline.start()
    return _train(config, fresh, progress, stop, out)


def _watch_parent(fd: int) -> None:
    """End-of-file on stdin: the REPL is gone (quit or killed). Stop as if sent SIGTERM.
    Reads the file descriptor, not sys.stdin: a buffered reader's lock held by this thread
    would abort the interpreter's shutdown."""
    while os.read(fd, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _train(
    config: Config, fresh: bool, progress: LineProgress, stop: threading.Event, out: TextIO
) -> int:
    from tinychat.errors import TinychatError
    from tinychat.knowledge import open_knowledge
    from tinychat.resume import TrainingStopped
    from tinychat.startup import check_training_fits, keras_home, training_lock

    def say(kind: str, text: str) -> None:
        out.write(f"{kind} {' '.join(text.split())}\n")  # one line whatever the text holds
        out.flush()

    try:
        check_training_fits(config)
        knowledge = open_knowledge(config)
        knowledge.refresh()  # the REPL has shown its warnings already
        if not knowledge.chunks:
            raise TinychatError(f"{config.paths.knowledge}: no .txt or .md text to train on")
        keras_home(config.paths.state)
        with training_lock(config.paths.state):
            from tinychat.train import train  # TensorFlow: in this process only

            progress.phase(f"preparing examples from {len(knowledge.chunks)} sentences")
            train(
                config,
                knowledge,
                fresh=fresh,
                progress=progress,
                stop=stop,
                on_notice=lambda text: say("notice", text),
            )
    except TrainingStopped as stopped:
        say("stopped", f"{stopped.step} {stopped.total}")
        return EXIT_STOPPED
    except TinychatError as error:
        say("error", str(error))
        return 1
    return 0


if __name__ == "__main__":
    try:
        code = child_main(out=_Lines(sys.stdout))
    except SystemExit as exit:  # stopped before training began
        code = exit.code if isinstance(exit.code, int) else 1
    os._exit(code)  # everything is saved; skip TensorFlow's slow and thread-laden teardown
