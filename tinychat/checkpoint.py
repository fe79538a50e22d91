"""Read and write the checkpoint: one HDF5 file holding the weights and their metadata.

Layout of `model.weights.h5`: one dataset per weight, named as in `architecture.weight_shapes`
(e.g. `blocks/0/attention/w_qkv`), and a root attribute `tinychat` holding JSON metadata:
format version, model config, vocabulary, the knowledge fingerprint it was trained on and
training metrics. It is written to a temporary file and renamed into place, so a reader
never sees half a checkpoint. Everything read is checked before any array is used.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from tinychat.atomic import atomic_write
from tinychat.config import ModelConfig
from tinychat.errors import TinychatError
from tinychat.architecture import weight_shapes
from tinychat.vocab import CHARS

FORMAT_VERSION = 1
WEIGHTS_NAME = "model.weights.h5"
FRESH = "run `tinychat train --fresh` to train a new one"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Weights plus what they were made from."""

    config: ModelConfig
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]  # knowledge fingerprint, files, metrics, trained_at

    @property
    def fingerprint(self) -> str:
        return self.meta.get("knowledge", {}).get("fingerprint", "")


def weights_path(state_dir: Path) -> Path:
    return Path(state_dir) / WEIGHTS_NAME


def save(path: Path, config: ModelConfig, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write weights and metadata to `path` atomically (temporary file, fsync, rename)."""
    import h5py

    header = {"format_version": FORMAT_VERSION, "model": dataclasses.asdict(config), "vocab": CHARS, **meta}

    def write(temporary: str) -> None:
        with h5py.File(temporary, "w") as file:
            for name, array in arrays.items():
                file.create_dataset(name, data=np.asarray(array, dtype=np.float32))
            file.attrs["tinychat"] = json.dumps(header)

    atomic_write(path, write, "weights")


def load(path: Path, expected: ModelConfig | None = None) -> Checkpoint:
    """Read and check a checkpoint. With `expected`, a different model config is an error."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise TinychatError(f"{path}: no trained weights yet; run `tinychat train`")
    try:
        with h5py.File(path, "r") as file:
            header = _read_header(file, path)
            config = _read_config(header, path)
            if expected is not None and config != expected:
                raise TinychatError(f"{path}: weights were trained for another model config ({_diff(config, expected)}); {FRESH}")
            arrays = _read_arrays(file, config, path)
    except TinychatError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise TinychatError(f"{path}: not a readable tinychat checkpoint ({type(error).__name__}); {FRESH}") from None
    meta = {key: value for key, value in header.items() if key not in ("format_version", "model", "vocab")}
    return Checkpoint(config, arrays, meta)


def _read_header(file: Any, path: Path) -> dict[str, Any]:
    text = file.attrs.get("tinychat")
    if text is None:
        raise TinychatError(f"{path}: HDF5 file without tinychat metadata; {FRESH}")
    try:
        header = json.loads(text)
    except (TypeError, ValueError):
        raise TinychatError(f"{path}: checkpoint metadata is damaged; {FRESH}") from None
    if not isinstance(header, dict):
        raise TinychatError(f"{path}: checkpoint metadata is damaged; {FRESH}")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise TinychatError(
            f"{path}: checkpoint format {version!r}, this tinychat reads format {FORMAT_VERSION}; {FRESH}"
        )
    if header.get("vocab") != CHARS:
        raise TinychatError(f"{path}: weights were trained with another vocabulary; {FRESH}")
    return header


def _read_config(header: dict[str, Any], path: Path) -> ModelConfig:
    try:
        config = ModelConfig(**header["model"])
        config.check(str(path))
    except (KeyError, TypeError):
        raise TinychatError(f"{path}: checkpoint model config is damaged or from another version; {FRESH}") from None
    return config


def _read_arrays(file: Any, config: ModelConfig, path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for name, shape in weight_shapes(config).items():
        if name not in file:
            raise TinychatError(f"{path}: weight {name} is missing; {FRESH}")
        array = np.asarray(file[name][()], dtype=np.float32)
        if array.shape != shape:
            raise TinychatError(f"{path}: weight {name} has shape {array.shape}, expected {shape}; {FRESH}")
        if not np.all(np.isfinite(array)):
            raise TinychatError(f"{path}: weight {name} holds NaN or infinity (training diverged?); {FRESH}")
        arrays[name] = array
    return arrays


def _diff(found: ModelConfig, expected: ModelConfig) -> str:
    changed = [
        f"model.{f.name} {getattr(found, f.name)} vs {getattr(expected, f.name)} now"
        for f in dataclasses.fields(found)
        if getattr(found, f.name) != getattr(expected, f.name)
    ]
    return ", ".join(changed)
