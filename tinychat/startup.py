"""Starting a session: read the notes, load the trained weights or train them first, and
keep one trainer per state folder (the training lock).

Shared by the command line and the background trainer. TensorFlow is imported here only
inside `run_training`, so loading existing weights stays cheap.
"""

from __future__ import annotations

import contextlib
import errno
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
from tinychat.files import NO_FOLLOW
from tinychat.knowledge import Knowledge, no_folder, open_knowledge
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


def check_training_fits(config: Config) -> None:
    """One line naming the keys when training this config would not fit in this machine's
    memory, or would make a tensor past TensorFlow's int32 indexing: said before it starts,
    not after swapping for minutes."""
    from tinychat.architecture import LARGEST_TENSOR, largest_training_tensor, training_bytes

    model, batch = config.model, config.train.batch_size
    keys = (
        f"model.window={model.window}, model.n_heads={model.n_heads},"
        f" model.n_layers={model.n_layers} and train.batch_size={batch}"
    )
    if largest_training_tensor(model, batch) > LARGEST_TENSOR:
        raise TinychatError(
            f"{keys} make an attention tensor past TensorFlow's 2^31 elements;"
            " lower train.batch_size or model.window"
        )
    needed, memory = training_bytes(model, batch), physical_memory()
    if memory and needed > memory:
        raise TinychatError(
            f"{keys} need about {needed / 2**30:.1f} GB to train, more than this machine's"
            f" {memory / 2**30:.1f} GB; lower train.batch_size or model.window"
        )


def physical_memory() -> int:
    """This machine's memory in bytes, or 0 where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0


def keras_home(state: Path) -> None:
    """Keras writes its settings (keras.json) into ~/.keras when imported: into the state folder
    instead, where everything tinychat writes lives, unless the user chose a KERAS_HOME."""
    os.environ.setdefault("KERAS_HOME", str(Path(state).resolve() / "keras"))


def run_training(
    config: Config, fresh: bool, steps: int | None = None, knowledge: Knowledge | None = None
) -> Checkpoint:
    """Train (importing TensorFlow only now) and return the new checkpoint."""
    check_training_fits(config)
    knowledge = knowledge or scan_knowledge(config)
    keras_home(config.paths.state)
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
        # never through a link: the lock is emptied and written, and would empty its target
        flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | NO_FOLLOW | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(path, flags, 0o644)
    except IsADirectoryError:
        raise TinychatError(f"{path}: is a folder, not a lock file; remove it") from None
    except OSError as error:
        if error.errno == errno.ELOOP and os.path.islink(path):
            raise TinychatError(f"{path}: is a link, not a lock file; remove it") from None
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


def training_holder(state: Path) -> str | None:
    """Who trains in `state` now ('tinychat (pid N)'), or None: asked of the lock without
    taking it, so that a training is not said to start when it could not."""
    import fcntl

    try:
        flags = os.O_RDONLY | os.O_NONBLOCK | NO_FOLLOW | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(state / LOCK_NAME, flags)
    except OSError:
        return None  # no lock file: no one trains (or training will say what is wrong)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)  # conflicts with a trainer's
    except BlockingIOError:
        return os.read(descriptor, 200).decode("utf-8", "replace").strip() or "another process"
    except OSError:
        return None
    finally:
        os.close(descriptor)  # also lets go of the shared lock, if it was taken
    return None


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


def load_or_train(config: Config, hint: str = "") -> Checkpoint:
    """The trained checkpoint; trains first when there is none yet, saying first how long that
    takes (and `hint`, another way, if there is one)."""
    path = checkpoint.weights_path(config.paths.state)
    if not path.exists():
        knowledge = scan_knowledge(config)  # a folder with no notes is said before any training
        also = f"; {hint}" if hint else ""
        notice(
            f"no trained weights in {config.paths.state}: training first (once),"
            f" {training_estimate(config, len(knowledge.chunks))}{also}"
        )
        return run_training(config, fresh=True, knowledge=knowledge)
    return checkpoint.load(path, expected=config.model)


# Seconds per character through the model in training (0.5 s a step of the default 32 x 640),
# and the seconds around the steps (loading TensorFlow, making examples, measuring at the end),
# measured on an idle 2-core machine; on a busy one the training shares the cores.
SECONDS_PER_CHAR = 0.5 / (32 * 640)
SECONDS_AROUND = 40
TYPICAL_STEPS = (200, 300)  # where early stopping usually ends a first training


def training_estimate(config: Config, chunks: int) -> str:
    """How long a first training takes, in words: 'about 2 to 3 minutes here (200 to 300 steps
    over 179 sentences)'. A guess from the model's size and how busy the machine is now."""
    train = config.train
    low, high = (min(steps, train.steps) for steps in TYPICAL_STEPS)
    if not train.early_stop:
        low = high = train.steps
    cores = os.cpu_count() or 1
    try:  # the processes already running share the cores with the training
        busy = (os.getloadavg()[0] + cores) / cores
    except OSError:  # no load average on this system
        busy = 1.0
    per_step = SECONDS_PER_CHAR * train.batch_size * config.model.window * busy
    fewest, most = (SECONDS_AROUND + steps * per_step for steps in (low, high))
    steps = f"{low} steps" if low == high else f"{low} to {high} steps"
    return f"{_duration(fewest, most)} here ({steps} over {chunks} sentences)"


def _duration(fewest: float, most: float) -> str:
    if most < 90:
        return f"about {max(10, round(most / 10) * 10)} seconds"
    low, high = max(1, round(fewest / 60)), max(1, round(most / 60))
    if low == high:
        return f"about {low} minute{'s' * (low != 1)}"
    return f"about {low} to {high} minutes"


def training_elsewhere(state: Path) -> str:
    """Who holds the training lock of `state` ("tinychat (pid 42)"), or '' when no one trains."""
    import fcntl

    try:
        descriptor = os.open(state / LOCK_NAME, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return ""  # no lock file: no one has trained here
    with os.fdopen(descriptor) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return lock.read(200).strip() or "another process"
        except OSError:
            return ""
        fcntl.flock(lock, fcntl.LOCK_UN)
    return ""


def pick_up_weights(session: ChatSession) -> None:
    """A session answering without weights takes the weights a training elsewhere (another
    process) has finished since, between two answers."""
    path = checkpoint.weights_path(session.config.paths.state)
    if session.checkpoint is not None or not path.exists():
        return
    if training_elsewhere(session.config.paths.state):
        return  # still training (a retrain of weights for another model config)
    try:
        trained = checkpoint.load(path, expected=session.config.model)
    except TinychatError:
        return  # weights for another model config: the best matching sentence goes on answering
    session.use(trained)
    session.sync()
    notice("training finished: answers now use the new weights")


def open_session(
    config: Config, train_missing: bool = True, hint: str = "", background: bool = False
) -> ChatSession:
    """A chat session on the configured knowledge, training first if there are no weights yet;
    with `train_missing` false, a session without weights (the REPL trains in the background),
    also when the weights are for another model config (tinychat.yaml's `model` changed).

    While another process trains these notes (a REPL), a session without weights is opened
    instead of waiting for its lock: answers are the best matching sentence until it ends.
    `hint` follows the notice that training comes first. `background`: a retrieval stage is
    built in the background (the REPL), not before answering."""
    if not config.paths.knowledge.is_dir():  # the first thing to fix, whatever the weights say
        raise no_folder(config.paths.knowledge)
    weights = checkpoint.weights_path(config.paths.state)
    holder = "" if weights.exists() else training_elsewhere(config.paths.state)
    if train_missing and holder:
        notice(
            f"{holder} is training a model for these notes; until it finishes, answers are"
            " the best matching sentence"
        )
        train_missing = False
    model = None
    if train_missing or weights.exists():
        try:
            model = load_or_train(config, hint)
        except checkpoint.OtherModelConfig as error:
            if train_missing:
                raise
            # Answers come from the notes until a new model is trained (the REPL starts one);
            # the old weights stay on disk until the new ones replace them.
            notice(
                f"note: {error.path} holds weights for another model config ({error.changed});"
                " answers are the best matching sentence until a new model is trained"
            )
    if model is None:
        scan_knowledge(config)  # its warnings, and the one-line error for a folder with no notes
    session = ChatSession(config, model, on_notice=notice, background=background)
    if session.stale:
        stale = session.stale.replace(": /retrain", "")
        notice(f"note: {stale}; `tinychat train` (or /retrain) updates it")
    return session
