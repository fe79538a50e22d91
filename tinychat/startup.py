"""Starting a session: read the notes, load the trained weights or train them first, and
keep one trainer per state folder (the training lock).

Shared by the command line and the background trainer. TensorFlow is imported here only
inside `run_training`, so loading existing weights stays cheap.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from tinychat import checkpoint
from tinychat.chat import ChatSession
from tinychat.checkpoint import Checkpoint
from tinychat.config import Config
from tinychat.errors import TinychatError
from tinychat.knowledge import Knowledge, open_knowledge
from tinychat.resume import PROGRESS_NAME
from tinychat.terminal import printable_line

LOCK_NAME = "train.lock"


def notice(message: str) -> None:
    """Progress, notices and warnings go to stderr, never to stdout; each is one line."""
    print(printable_line(message), file=sys.stderr, flush=True)


def scan_knowledge(config: Config) -> Knowledge:
    """The knowledge folder, read, with its warnings shown."""
    knowledge = open_knowledge(config)
    changes = knowledge.refresh()
    knowledge.save_manifest()
    for warning in changes.warnings:
        notice(warning)
    if not knowledge.has_text():
        raise knowledge.no_text()
    return knowledge


def run_training(
    config: Config, fresh: bool, steps: int | None = None, knowledge: Knowledge | None = None
) -> Checkpoint:
    """Train (importing TensorFlow only now) and return the new checkpoint."""
    knowledge = knowledge or scan_knowledge(config)
    with training_lock(config.paths.state):
        notice(
            f"training on {len(knowledge.files)} files ({len(knowledge.chunks)} chunks)"
            f" from {config.paths.knowledge}"
        )
        from tinychat.progress import Progress
        from tinychat.train import train

        progress = Progress(
            steps or config.train.steps,
            chars_per_step=config.train.batch_size * config.model.window,
        )
        try:
            train(config, knowledge, fresh=fresh, steps=steps, progress=progress, on_notice=notice)
        except KeyboardInterrupt:  # leaves as Ctrl-C does everywhere else: exit code 130
            progress.cancelled()
            notice("training cancelled; the previous weights (if any) are unchanged")
            raise
    return checkpoint.load(checkpoint.weights_path(config.paths.state), expected=config.model)


@contextlib.contextmanager
def training_lock(state: Path) -> Iterator[None]:
    """One trainer per state folder; the OS releases the lock even if the trainer is killed.

    A state folder that cannot be written is said here, before training starts, not after a
    full training when the weights cannot be saved.
    """
    import fcntl

    path = state / LOCK_NAME
    try:
        state.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(path, flags, 0o644)
    except IsADirectoryError:
        raise TinychatError(f"{path}: is a folder, not a lock file; remove it") from None
    except OSError as error:
        problem = error.strerror or error
        raise TinychatError(
            f"{state}: cannot write in the state folder ({problem});"
            " pass --state DIR or fix its permissions"
        ) from None
    with os.fdopen(descriptor, "r+") as lock:
        if not stat.S_ISREG(os.fstat(lock.fileno()).st_mode):
            raise TinychatError(f"{path}: is not a regular file; remove it, then train")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read(200).strip() or "another process"
            raise TinychatError(
                f"{state}: {holder} is already training here; wait for it to finish"
            ) from None
        _check_writable(state)
        lock.seek(0)
        lock.truncate()
        lock.write(f"tinychat (pid {os.getpid()})")
        lock.flush()
        # Left by a trainer killed mid-save (never read), an older one's under the old name. Only
        # trainers write these, and we hold the lock.
        for name in (checkpoint.WEIGHTS_NAME, checkpoint.OLD_WEIGHTS_NAME, PROGRESS_NAME):
            for stale in state.glob(f".{name}.*.tmp"):
                stale.unlink(missing_ok=True)
        try:
            yield
        finally:
            lock.truncate(0)


def _check_writable(state: Path) -> None:
    """Create and remove a file where the weights will be written, as saving them will."""
    try:
        prefix = f".{checkpoint.WEIGHTS_NAME}."  # the name of a stale save: removed if left behind
        handle, probe = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=state)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise TinychatError(
            f"{state}: cannot write the weights there ({error.strerror or error});"
            " pass --state DIR or fix its permissions"
        ) from None


def load_or_train(config: Config) -> Checkpoint:
    """The trained checkpoint; trains first when there is none yet."""
    path = checkpoint.weights_path(config.paths.state)
    if not path.exists():
        notice(f"no trained weights in {config.paths.state}: training first (once)")
        return run_training(config, fresh=True)
    return checkpoint.load(path, expected=config.model)


def open_session(
    config: Config, train_missing: bool = True, background: bool = False
) -> ChatSession:
    """A chat session on the configured knowledge, training first if there are no weights yet;
    with `train_missing` false, a session without weights (the REPL trains in the background),
    also when the weights are for another model config (tinychat.yaml's `model` changed).
    `background`: a retrieval stage is built in the background (the REPL), not before answering."""
    if not config.paths.knowledge.is_dir():  # the first thing to fix, whatever the weights say
        raise TinychatError(
            f"{config.paths.knowledge}: knowledge folder not found;"
            " create it or pass --knowledge DIR"
        )
    model = None
    if train_missing or checkpoint.weights_path(config.paths.state).exists():
        try:
            model = load_or_train(config)
        except checkpoint.OtherModelConfig as error:
            if train_missing:
                raise
            # The REPL answers from the notes meanwhile and trains a new model in the background;
            # the old weights stay on disk until the new ones replace them.
            notice(
                f"note: {error.path} holds weights for another model config ({error.changed});"
                " a new model trains in the background"
            )
    if model is None:
        scan_knowledge(config)  # its warnings, and the one-line error for a folder with no notes
    session = ChatSession(config, model, on_notice=notice, background=background)
    if session.stale:
        stale = session.stale.replace(": /retrain", "")
        notice(f"note: {stale}; `tinychat train` (or /retrain) updates it")
    return session
