"""Training progress saved part-way through a run, so a stopped training resumes. No TensorFlow.

`train` writes `training-progress.h5` in the state folder every SAVE_EVERY steps and when it
is asked to stop: the model's weights, the optimizer's variables (Adam's moments and its step
count, which also drives the learning-rate schedule) and a JSON header naming the run. A later
training of the same run (same model and training settings, same knowledge, same number of
steps, same starting weights) continues from the saved step; any other run ignores the file.
The REPL reads only the header, to say "resuming training from step 300 of 1000" at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinychat.atomic import atomic_write, hdf5_bytes
from tinychat.errors import TinychatError

PROGRESS_NAME = "training-progress.h5"
PROGRESS_VERSION = 1
SAVE_EVERY = 100  # steps between saves: a lost stretch costs at most this many steps


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
    header = _header(progress_path(state))
    return int(header["step"]) if header and header.get("run") == identity else 0


def load_progress(state: Path, identity: dict[str, Any]) -> SavedProgress | None:
    """Saved progress of this run, or None."""
    import h5py

    path = progress_path(state)
    if not saved_step(state, identity):
        return None
    try:
        with h5py.File(path, "r") as file:
            names = _names(file["weights"])
            weights = {name: np.asarray(file[f"weights/{name}"][()]) for name in names}
            count = len(file["optimizer"])
            optimizer = [np.asarray(file[f"optimizer/{number}"][()]) for number in range(count)]
    except (OSError, KeyError, ValueError):
        return None  # damaged: start the run over rather than fail
    return SavedProgress(saved_step(state, identity), identity["steps"], weights, optimizer)


def discard(state: Path) -> None:
    """Remove saved progress (the run finished, so it has nothing left to resume)."""
    progress_path(state).unlink(missing_ok=True)


def _header(path: Path) -> dict[str, Any] | None:
    import h5py

    if not path.is_file():
        return None
    try:
        with h5py.File(path, "r") as file:
            header = json.loads(file.attrs["tinychat_progress"])
    except (OSError, KeyError, ValueError, TypeError):
        return None
    if not isinstance(header, dict) or header.get("version") != PROGRESS_VERSION:
        return None
    return header


def _names(group: Any) -> list[str]:
    """Dataset names under an HDF5 group, nested ones as 'blocks/0/attention/w_qkv'."""
    names: list[str] = []
    group.visit(lambda name: names.append(name) if hasattr(group[name], "shape") else None)
    return names
