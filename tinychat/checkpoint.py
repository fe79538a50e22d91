"""Read and write the checkpoint: one HDF5 file holding the weights and their metadata.

Layout of `checkpoint.h5`: one dataset per weight, named as in `architecture.weight_shapes`
(e.g. `blocks/0/attention/w_qkv`), and a root attribute `tinychat` holding JSON metadata:
format version, model config, vocabulary, the knowledge fingerprint it was trained on and
training metrics, and a sha256 of each weight. It is written to a temporary file and renamed
into place, so a reader never sees half a checkpoint. Everything read is checked before it is
used: the file's bytes besides its arrays bound its metadata, which becomes a typed
`TrainingRecord` here; no array is read before its header (a dataset of real numbers in this
file, the expected shape) is, so a small file cannot allocate gigabytes; and each array read
must match its checksum, so bytes overwritten on disk are not answered with (a checkpoint
from before checksums is read without them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from tinychat.atomic import atomic_write, hdf5_bytes
from tinychat.config import ModelConfig, model_config_from
from tinychat.errors import TinychatError
from tinychat.architecture import weight_shapes
from tinychat.files import NotRegularFile, open_regular
from tinychat.guard import Refused, bytes_besides_datasets, checked_dataset, text_attribute
from tinychat.vocab import CHARS

FORMAT_VERSION = 1
# The metadata's bytes at most: its largest part names each note trained on with its hash, about
# 100 bytes a note; a checkpoint never records more (see `save`).
METADATA_LIMIT = 16 << 20
WEIGHTS_NAME = "checkpoint.h5"
# Its name in older state folders: Keras's name for a file of its own layout, which this is not.
OLD_WEIGHTS_NAME = "model.weights.h5"
FRESH = "run `tinychat train --fresh` to train a new one"


class OtherModelConfig(TinychatError):
    """The weights were trained for another model config (tinychat.yaml's `model` changed): whole
    and readable, but not for this model. The REPL trains a new one in the background."""

    def __init__(self, path: Path, changed: str):
        self.path, self.changed = path, changed
        super().__init__(
            f"{path}: weights were trained for another model config ({changed}); {FRESH}"
        )


# Trained weights stay within a few units (README, "Figures behind the code's constants");
# values this large only come from damage, and they overflow the forward pass into NaN
# probabilities.
MAX_WEIGHT = 1e4


@dataclasses.dataclass(frozen=True)
class TrainingRecord:
    """What a checkpoint says about its training, checked and typed by `load`."""

    fingerprint: str = ""  # sha256 over the knowledge files it was trained on
    files: int | None = None  # how many files and chunks that knowledge had
    chunks: int | None = None
    manifest: dict[str, str] | None = None  # {path: sha256}: to count the files changed since
    trained_at: datetime | None = None  # None when unknown
    steps: int | None = None
    seconds: float | None = None
    final_loss: float | None = None
    chars_per_second: float | None = None
    warm_start: bool = False  # continued from earlier weights


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Weights plus what they were made from."""

    config: ModelConfig
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]  # the metadata as saved (knowledge, metrics, ...), to save it again
    record: TrainingRecord = TrainingRecord()  # the same, checked: what the rest of tinychat reads

    @property
    def fingerprint(self) -> str:
        return self.record.fingerprint


def weights_path(state_dir: Path) -> Path:
    return Path(state_dir) / WEIGHTS_NAME


def adopt_old_name(state_dir: Path, on_notice: Callable[[str], None]) -> None:
    """Rename a checkpoint saved under OLD_WEIGHTS_NAME by an older tinychat to WEIGHTS_NAME.

    The user's weights are kept, never retrained: one rename (os.replace), said in one notice.
    A folder that already holds WEIGHTS_NAME is left as it is, the old file with it.
    """
    old, new = Path(state_dir) / OLD_WEIGHTS_NAME, weights_path(state_dir)
    if os.path.lexists(new) or not os.path.lexists(old):
        return
    try:
        os.replace(old, new)
    except FileNotFoundError:
        return  # another tinychat starting on this folder renamed it first
    except OSError as error:  # a read-only state folder: the user renames it, nothing is lost
        raise TinychatError(
            f"{old}: cannot rename it to {WEIGHTS_NAME}, the checkpoint's name now"
            f" ({error.strerror or error}); rename it yourself or fix the folder's permissions"
        ) from None
    on_notice(f"renamed {old} to {WEIGHTS_NAME}, the checkpoint's name now")


def save(
    path: Path, config: ModelConfig, arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> None:
    """Write weights and metadata to `path` atomically (temporary file, fsync, rename)."""
    header = {
        "format_version": FORMAT_VERSION,
        "model": dataclasses.asdict(config),
        "vocab": CHARS,
        **meta,
        "checksums": {name: checksum(array) for name, array in arrays.items()},
    }
    if len(json.dumps(header)) > METADATA_LIMIT // 2:  # notes past counting: only their number
        knowledge = {k: v for k, v in header.get("knowledge", {}).items() if k != "manifest"}
        header["knowledge"] = knowledge

    def fill(file: Any) -> None:
        for name, array in arrays.items():
            file.create_dataset(name, data=np.asarray(array, dtype=np.float32))
        file.attrs["tinychat"] = json.dumps(header)

    atomic_write(path, hdf5_bytes(fill), "weights")


def load(path: Path, expected: ModelConfig | None = None) -> Checkpoint:
    """Read and check a checkpoint. With `expected`, a different model config is an error."""
    import h5py

    path = Path(path)
    if not os.path.lexists(path):
        raise TinychatError(f"{path}: no trained weights yet; run `tinychat train`")
    try:  # through a descriptor checked to be a regular file: h5py would wait on a FIFO forever
        descriptor = open_regular(path)
    except NotRegularFile as error:
        raise TinychatError(f"{path}: {error.strerror}; move it away and {FRESH}") from None
    except OSError as error:
        problem = error.strerror or error
        raise TinychatError(f"{path}: cannot read the weights ({problem})") from None
    try:
        with os.fdopen(descriptor, "rb") as handle, h5py.File(handle, "r") as file:
            besides = bytes_besides_datasets(file, os.fstat(handle.fileno()).st_size)
            if besides > METADATA_LIMIT:
                raise Refused(f"it holds {besides:,} bytes besides its arrays")
            header = _read_header(file, path)
            config = _read_config(header, path)
            if expected is not None and config != expected:
                changed = _diff(config, expected)
                raise OtherModelConfig(path, changed)
            record = _read_record(header, path)
            arrays = _read_arrays(file, config, path, _checksums(header, config, path))
    except TinychatError:
        raise
    except Refused as refusal:
        raise TinychatError(f"{path}: the checkpoint is damaged ({refusal}); {FRESH}") from None
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as error:
        raise TinychatError(
            f"{path}: not a readable tinychat checkpoint ({type(error).__name__}); {FRESH}"
        ) from None
    meta = {
        key: value
        for key, value in header.items()
        if key not in ("format_version", "model", "vocab", "checksums")
    }
    return Checkpoint(config, arrays, meta, record)


def checksum(array: np.ndarray) -> str:
    """sha256 of an array as the checkpoint stores it (float32, little-endian)."""
    return hashlib.sha256(np.asarray(array, dtype="<f4").tobytes()).hexdigest()


def _read_header(file: Any, path: Path) -> dict[str, Any]:
    text = text_attribute(file, "tinychat", METADATA_LIMIT)
    if text is None:
        raise TinychatError(f"{path}: HDF5 file without tinychat metadata; {FRESH}")
    try:
        header = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        raise TinychatError(f"{path}: checkpoint metadata is damaged; {FRESH}") from None
    if not isinstance(header, dict):
        raise TinychatError(f"{path}: checkpoint metadata is damaged; {FRESH}")
    version = header.get("format_version")
    if type(version) is not int:  # "1" or 1.0 is damage, not another version
        raise _damaged(path, "format_version", version, "a whole number")
    if version != FORMAT_VERSION:
        raise TinychatError(
            f"{path}: checkpoint format {version}, this tinychat reads format"
            f" {FORMAT_VERSION}; {FRESH}"
        )
    if header.get("vocab") != CHARS:
        raise TinychatError(f"{path}: weights were trained with another vocabulary; {FRESH}")
    return header


def _read_config(header: dict[str, Any], path: Path) -> ModelConfig:
    """The model config, with the checks and types of the config file's `model:` section."""
    try:
        return model_config_from(header.get("model"), str(path))
    except TinychatError as error:
        detail = str(error).removeprefix(f"{path}: ")
        raise TinychatError(
            f"{path}: checkpoint model config is damaged or from another version"
            f" ({detail}); {FRESH}"
        ) from None


# ---------------------------------------------------------------------------- training record


def _read_record(header: dict[str, Any], path: Path) -> TrainingRecord:
    """The `knowledge`, `metrics` and `trained_at` metadata, each field checked for its type.

    Missing fields are unknown (older or hand-made checkpoints); present ones of the wrong
    type (`knowledge: null`, `metrics: "x"`, `trained_at: 5`) mean a damaged checkpoint.
    """
    knowledge, metrics = (_section(header, name, path) for name in ("knowledge", "metrics"))
    manifest = knowledge.get("manifest")
    if manifest is not None and not _text_mapping(manifest):
        raise _damaged(path, "knowledge.manifest", manifest, "a mapping of file names to hashes")
    return TrainingRecord(
        fingerprint=_typed(knowledge, "knowledge", "fingerprint", str, path) or "",
        files=_typed(knowledge, "knowledge", "files", int, path),
        chunks=_typed(knowledge, "knowledge", "chunks", int, path),
        manifest=manifest,
        trained_at=_timestamp(header, path),
        steps=_typed(metrics, "metrics", "steps", int, path),
        seconds=_typed(metrics, "metrics", "seconds", float, path),
        final_loss=_typed(metrics, "metrics", "final_loss", float, path),
        chars_per_second=_typed(metrics, "metrics", "chars_per_second", float, path),
        warm_start=bool(_typed(metrics, "metrics", "warm_start", bool, path)),
    )


def _text_mapping(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())


def _section(header: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = header.get(name, {})
    if not isinstance(value, dict):
        raise _damaged(path, name, value, "a mapping")
    return value


def _typed(section: dict[str, Any], prefix: str, name: str, kind: type, path: Path) -> Any:
    """`section[name]` if of type `kind` (an int passes as a float, `true` as no int), or None."""
    value = section.get(name)
    if value is None:
        return None
    fits = type(value) is kind or (kind is float and type(value) is int)
    if not fits:
        what = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}[kind]
        raise _damaged(path, f"{prefix}.{name}", value, what)
    return float(value) if kind is float else value


def _timestamp(header: dict[str, Any], path: Path) -> datetime | None:
    """When it was trained, as an aware datetime (UTC if the text gives no zone), or None."""
    stamp = header.get("trained_at")
    if stamp is None:
        return None
    if not isinstance(stamp, str):
        raise _damaged(path, "trained_at", stamp, "a date and time as text")
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None  # text, but not a date: the age is simply unknown
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _damaged(path: Path, field: str, value: Any, expected: str) -> TinychatError:
    scalar = isinstance(value, (str, int, float, bool, type(None)))
    shown = json.dumps(value)[:40] if scalar else type(value).__name__  # never a whole nested value
    return TinychatError(
        f"{path}: checkpoint metadata is damaged ({field} is {shown}, expected {expected}); {FRESH}"
    )


# ---------------------------------------------------------------------------- arrays


def _checksums(header: dict[str, Any], config: ModelConfig, path: Path) -> dict[str, str]:
    """{weight: sha256} as saved: one for every weight, or {} for a checkpoint saved before
    checksums were (it is read without them)."""
    saved = header.get("checksums")
    if saved is None:
        return {}
    if not _text_mapping(saved) or set(saved) != set(weight_shapes(config)):
        raise _damaged(path, "checksums", saved, "a sha256 for each weight")
    return saved


def _read_arrays(
    file: Any, config: ModelConfig, path: Path, checksums: dict[str, str]
) -> dict[str, np.ndarray]:
    """Every weight, each checked from its HDF5 header before a byte of it is read, then against
    its checksum."""
    arrays = {}
    for name, shape in weight_shapes(config).items():
        try:  # complex, text, compound or bool values are not weights, nor data kept elsewhere
            dataset = checked_dataset(file, name, shape, kinds="fiu")
        except Refused as refusal:
            raise TinychatError(f"{path}: weight {refusal}; {FRESH}") from None
        array = np.asarray(dataset[()], dtype=np.float32)
        if not np.all(np.isfinite(array)):
            raise TinychatError(
                f"{path}: weight {name} holds NaN or infinity (training diverged?); {FRESH}"
            )
        largest = float(np.abs(array).max()) if array.size else 0.0
        if largest > MAX_WEIGHT:
            raise TinychatError(
                f"{path}: weight {name} holds {largest:.3g}, beyond any trained"
                f" model's (at most {MAX_WEIGHT:g}): it is damaged; {FRESH}"
            )
        if name in checksums and checksum(array) != checksums[name]:
            raise TinychatError(
                f"{path}: weight {name} does not match its checksum: the file was changed or"
                f" damaged on disk; {FRESH}"
            )
        arrays[name] = array
    return arrays


def _diff(found: ModelConfig, expected: ModelConfig) -> str:
    changed = [
        f"model.{f.name} {getattr(found, f.name)} vs {getattr(expected, f.name)} now"
        for f in dataclasses.fields(found)
        if getattr(found, f.name) != getattr(expected, f.name)
    ]
    return ", ".join(changed)
