"""Training progress saved part-way through a run, so a stopped training resumes. No TensorFlow.

`train` writes `training-progress.h5` in the state folder every SAVE_EVERY steps and when it
is asked to stop: the model's weights, the optimizer's variables (Adam's moments and its step
count, which also drives the learning-rate schedule) and a JSON header naming the run. A later
training of the same run (same model and training settings, same knowledge, same number of
steps, same starting weights) continues from the saved step; any other run ignores the file.
The REPL reads only the header, to say "resuming training from step 300 of 1000" at once.
The file is read only after its size, header and every array's shape check out (`guard`).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from tinychat.architecture import parameter_count, weight_shapes
from tinychat.atomic import atomic_write, hdf5_bytes
from tinychat.config import ModelConfig
from tinychat.errors import TinychatError
from tinychat.guard import OBJECT_BYTES, Refused, checked_dataset, open_hdf5, text_attribute

PROGRESS_NAME = "training-progress.h5"
PROGRESS_VERSION = 1
SAVE_EVERY = 100  # steps between saves: a lost stretch costs at most this many steps
HEADER_LIMIT = 64 << 10  # bytes of the JSON header: it names the run's settings, a few KB


class TrainingStopped(Exception):
    """Training was asked to stop; its progress up to `step` is saved."""

    def __init__(self, step: int, total: int):
        super().__init__(f"training stopped at step {step} of {total}; progress saved")
        self.step, self.total = step, total


@dataclass(frozen=True)
class SavedProgress:
    """What a resumed run starts from."""

    step: int
    total: int
    weights: dict[str, np.ndarray]
    optimizer: list[np.ndarray]  # in the order of the optimizer's `variables`


def progress_path(state: Path) -> Path:
    return Path(state) / PROGRESS_NAME


def base_of(previous: Any) -> str:
    """The `base` of a warm start from checkpoint `previous`: when it was trained, as saved."""
    trained_at = previous.record.trained_at
    return trained_at.isoformat() if trained_at else ""


def run_identity(
    config: Any, fingerprint: str, steps: int, warm: bool, base: str
) -> dict[str, Any]:
    """What must be equal for saved progress to belong to this run: `base` names the weights a
    warm start began from (their `trained_at`), '' for a run from scratch."""
    import dataclasses

    return json.loads(
        json.dumps(
            {
                "model": dataclasses.asdict(config.model),
                "train": dataclasses.asdict(config.train),
                "retriever": config.retrieval.retriever,
                "fingerprint": fingerprint,
                "steps": steps,
                "warm": warm,
                "base": base,
            }
        )
    )


def save_progress(
    state: Path,
    identity: dict[str, Any],
    step: int,
    weights: dict[str, np.ndarray],
    optimizer: list[np.ndarray],
) -> bool:
    """Write the progress file atomically (a kill mid-save leaves the previous one); False when
    it cannot be written (a full disk): that costs only the chance to resume, not the training."""
    header = {"version": PROGRESS_VERSION, "step": step, "run": identity}

    def fill(file: Any) -> None:
        for name, array in weights.items():
            file.create_dataset(f"weights/{name}", data=np.asarray(array))
        for number, array in enumerate(optimizer):
            file.create_dataset(f"optimizer/{number}", data=np.asarray(array))
        file.attrs["tinychat_progress"] = json.dumps(header)

    try:
        atomic_write(progress_path(state), hdf5_bytes(fill), "training progress")
    except TinychatError:
        return False
    return True


def saved_step(state: Path, identity: dict[str, Any]) -> int:
    """The step saved progress of this run reached, or 0 (none, another run's, or unreadable)."""
    try:
        with _opened(state, identity) as (file, step):
            return step
    except (Refused, OSError, KeyError, ValueError, TypeError, RuntimeError):
        return 0


def load_progress(
    state: Path, identity: dict[str, Any], on_notice: Callable[[str], None] = lambda text: None
) -> SavedProgress | None:
    """Saved progress of this run, or None: none, another run's, or damaged (said in a notice).

    Every array is checked from its header against the model's weights and Adam's variables
    before it is read, so a small damaged file cannot make the run allocate gigabytes.
    """
    path = progress_path(state)
    model = _model(identity)
    try:
        with _opened(state, identity) as (file, step):
            if not step:
                return None
            weights = {
                name: np.asarray(checked_dataset(file, f"weights/{name}", shape)[()])
                for name, shape in weight_shapes(model).items()
            }
            optimizer = [
                np.asarray(checked_dataset(file, f"optimizer/{number}", shape, kinds)[()])
                for number, (shape, kinds) in enumerate(optimizer_variables(model))
            ]
    except Refused as refusal:
        problem = str(refusal)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as error:
        problem = f"cannot be read: {getattr(error, 'strerror', None) or type(error).__name__}"
    else:
        return SavedProgress(step, identity["steps"], weights, optimizer)
    on_notice(f"note: {path} is damaged ({problem}); the training starts over")
    return None


def optimizer_variables(model: ModelConfig) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype kinds) of Adam's variables in the order Keras keeps them: its step count,
    then each weight's first and second moments, weights in `weight_shapes`' order (a test
    holds this against Keras)."""
    moments = [(shape, "f") for shape in weight_shapes(model).values() for _ in ("m", "v")]
    return [((), "iu"), *moments]


def progress_limit(model: ModelConfig) -> int:
    """The largest progress file a run of `model` writes: its weights and Adam's two moments
    (float32), HDF5's own bytes per array, and the header."""
    arrays = 3 * len(weight_shapes(model)) + 1
    return 3 * 4 * parameter_count(model) + OBJECT_BYTES * (arrays + 4) + HEADER_LIMIT


def discard(state: Path) -> None:
    """Remove saved progress (the run finished, so it has nothing left to resume)."""
    progress_path(state).unlink(missing_ok=True)


@contextlib.contextmanager
def _opened(state: Path, identity: dict[str, Any]) -> Iterator[tuple[Any, int]]:
    """(the open file, the step it saved) when it holds this run's progress; step 0 when there
    is none or it is another run's. Refused when its size or header cannot be this run's."""
    path = progress_path(state)
    if not os.path.lexists(path):
        yield None, 0
        return
    with open_hdf5(path, progress_limit(_model(identity))) as file:
        header = json.loads(text_attribute(file, "tinychat_progress", HEADER_LIMIT) or "null")
        if not isinstance(header, dict) or header.get("version") != PROGRESS_VERSION:
            yield file, 0  # an older tinychat's, or not ours: another run
            return
        if header.get("run") != identity:
            yield file, 0
            return
        step, total = header.get("step"), identity["steps"]
        if type(step) is not int or not 0 < step < total:
            raise Refused(f"its step is {json.dumps(step)[:20]}, not one of 1 to {total - 1}")
        yield file, step


def _model(identity: dict[str, Any]) -> ModelConfig:
    """The model config a run's identity names (made from a checked config: no surprises)."""
    return ModelConfig(**identity["model"])
