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
    return {name: rng.normal(size=shape).astype(np.float32) for name, shape in weight_shapes(CONFIG).items()}


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.weights.h5"
    checkpoint.save(path, CONFIG, arrays(), {"knowledge": {"fingerprint": "abc"}, "metrics": {"final_loss": 1.5}})
    return path


def test_round_trip(saved):
    loaded = checkpoint.load(saved, expected=CONFIG)
    assert loaded.config == CONFIG and loaded.fingerprint == "abc" and loaded.meta["metrics"]["final_loss"] == 1.5
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
    assert message in text and str(saved) in text and "tinychat train --fresh" in text and "\n" not in text


def test_other_config_is_refused_with_the_difference(saved):
    with pytest.raises(TinychatError, match=r"model.window 64 vs 320 now.*train --fresh"):
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
        checkpoint.load(tmp_path / "model.weights.h5")
