"""Checkpoint: round trip, and every damaged or mismatched file gets one clear line."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from tinychat import checkpoint
from tinychat.config import ModelConfig
from tinychat.errors import TinychatError
from tinychat.architecture import weight_shapes

CONFIG = ModelConfig(window=64)


def arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        name: rng.normal(size=shape).astype(np.float32)
        for name, shape in weight_shapes(CONFIG).items()
    }


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "checkpoint.h5"
    checkpoint.save(
        path,
        CONFIG,
        arrays(),
        {"knowledge": {"fingerprint": "abc"}, "metrics": {"final_loss": 1.5}},
    )
    return path


def test_round_trip(saved):
    loaded = checkpoint.load(saved, expected=CONFIG)
    assert (
        loaded.config == CONFIG
        and loaded.fingerprint == "abc"
        and loaded.meta["metrics"]["final_loss"] == 1.5
    )
    for name, array in arrays().items():
        assert np.array_equal(loaded.arrays[name], array)
    assert not list(saved.parent.glob("*.tmp"))


def edit_header(path, **changes):
    with h5py.File(path, "r+") as file:
        header = json.loads(file.attrs["tinychat"])
        header.update(changes)
        file.attrs["tinychat"] = json.dumps(header)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:200]), "not a readable tinychat checkpoint"),
        (lambda p: p.write_bytes(b""), "not a readable tinychat checkpoint"),
        (lambda p: p.write_bytes(os.urandom(5000)), "not a readable tinychat checkpoint"),
        (lambda p: edit_header(p, format_version=99), "format 99"),
        (lambda p: edit_header(p, vocab="abc"), "another vocabulary"),
        (lambda p: edit_header(p, model={"d_model": 16}), "another model config"),
        (lambda p: h5py.File(p, "w").close(), "without tinychat metadata"),
    ],
)
def test_damaged_files_name_the_problem(saved, damage, message):
    damage(saved)
    with pytest.raises(TinychatError) as error:
        checkpoint.load(saved, expected=CONFIG)
    text = str(error.value)
    assert (
        message in text
        and str(saved) in text
        and "tinychat train --fresh" in text
        and "\n" not in text
    )


def test_other_config_is_refused_with_the_difference(saved):
    now = ModelConfig().window
    with pytest.raises(TinychatError, match=rf"model.window 64 vs {now} now.*train --fresh"):
        checkpoint.load(saved, expected=ModelConfig())


def test_missing_weight_and_nan(saved):
    with h5py.File(saved, "r+") as file:
        del file["head/w"]
    with pytest.raises(TinychatError, match="head/w is missing"):
        checkpoint.load(saved)
    broken = arrays()
    broken["head/b"][0] = np.nan
    checkpoint.save(saved, CONFIG, broken, {})
    with pytest.raises(TinychatError, match="NaN"):
        checkpoint.load(saved)


def test_no_weights_yet(tmp_path):
    with pytest.raises(TinychatError, match="no trained weights yet"):
        checkpoint.load(tmp_path / "checkpoint.h5")


# ---------------------------------------------------------------------------- hostile checkpoints


def edit_model(path, **changes):
    with h5py.File(path, "r+") as file:
        header = json.loads(file.attrs["tinychat"])
        header["model"].update(changes)
        file.attrs["tinychat"] = json.dumps(header)


def replace_dataset(path, name, **dataset):
    with h5py.File(path, "r+") as file:
        del file[name]
        file.create_dataset(name, **dataset)


def replace_with_group(path, name):
    with h5py.File(path, "r+") as file:
        del file[name]
        file.create_group(name)


HEADER = [  # (metadata field, value, what the one line says)
    ("knowledge", None, "knowledge is null, expected a mapping"),
    ("knowledge", "oops", 'knowledge is "oops", expected a mapping'),
    ("metrics", "x", 'metrics is "x", expected a mapping'),
    ("trained_at", 5, "trained_at is 5, expected a date and time as text"),
    ("format_version", "1", 'format_version is "1", expected a whole number'),
    ("knowledge", {"files": "3"}, 'knowledge.files is "3", expected a whole number'),
    ("knowledge", {"manifest": []}, "knowledge.manifest is list, expected a mapping"),
    ("metrics", {"warm_start": "yes"}, 'metrics.warm_start is "yes"'),
    ("metrics", {"steps": True}, "metrics.steps is true, expected a whole number"),
    ("model", "x", "model must be a mapping of keys"),
]
MODEL = [
    ("d_model", 16.0, "model.d_model=16.0 must be a whole number"),
    ("copy", "yes", "model.copy='yes' must be true or false"),
]
ARRAYS = [
    (np.full(97, 3e38, np.float32), "holds 3e+38, beyond"),
    (np.zeros(97, np.complex64), "holds complex64 values"),
    (np.zeros(97, bool), "holds bool values"),
    (np.array([b"x"] * 97), "holds |S1 values"),
]
DAMAGE = (
    [(lambda p, k=key, v=value: edit_header(p, **{k: v}), said) for key, value, said in HEADER]
    + [(lambda p, k=key, v=value: edit_model(p, **{k: v}), said) for key, value, said in MODEL]
    + [(lambda p, a=x: replace_dataset(p, "head/b", data=a), said) for x, said in ARRAYS]
    + [(lambda p: replace_with_group(p, "head/b"), "weight head/b is not an array")]
)


@pytest.mark.parametrize("damage, message", DAMAGE, ids=[message[:24] for _, message in DAMAGE])
def test_metadata_and_arrays_of_the_wrong_type_are_one_line(saved, damage, message):
    damage(saved)
    with pytest.raises(TinychatError) as error:
        checkpoint.load(saved, expected=CONFIG)
    text = str(error.value)
    assert message in text and str(saved) in text and "\n" not in text
    assert "tinychat train --fresh" in text


def test_a_small_file_declaring_a_huge_array_allocates_nothing(saved):
    import tracemalloc

    replace_dataset(
        saved, "head/b", shape=(30000, 30000), dtype="f4", chunks=(1000, 1000), compression="gzip"
    )
    assert saved.stat().st_size < 200_000  # 3.35 GiB once decompressed
    tracemalloc.start()
    try:
        with pytest.raises(TinychatError, match=r"head/b has shape \(30000, 30000\), expected"):
            checkpoint.load(saved, expected=CONFIG)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000


def test_a_fifo_checkpoint_does_not_hang(tmp_path):
    from tests.conftest import finishes

    os.mkfifo(tmp_path / "checkpoint.h5")
    with pytest.raises(TinychatError, match="is a FIFO"):
        finishes(lambda: checkpoint.load(tmp_path / "checkpoint.h5"))


def test_the_training_record_is_typed(saved):
    knowledge = {"fingerprint": "abc", "files": 2, "manifest": {"a.txt": "0" * 64}}
    edit_header(
        saved,
        trained_at="2020-01-01T10:00:00",
        metrics={"steps": 30, "seconds": 7},
        knowledge=knowledge,
    )
    record = checkpoint.load(saved).record
    assert record.trained_at.tzinfo is not None  # a stamp without a zone is taken as UTC
    assert (record.steps, record.seconds, record.final_loss, record.files) == (30, 7.0, None, 2)
    assert record.manifest == {"a.txt": "0" * 64} and record.fingerprint == "abc"
    edit_header(saved, trained_at="last tuesday")
    assert checkpoint.load(saved).record.trained_at is None  # shown as "at an unknown time"
