"""The numpy runtime and the Keras model are one model: same weights in, same probabilities out."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tinychat.config import ModelConfig
from tinychat.architecture import parameter_count, weight_shapes
from tinychat.runtime import Runtime

VARIANTS = [
    ModelConfig(window=64),
    ModelConfig(window=64, positions="learned", copy=False),
    ModelConfig(window=48, n_heads=4, n_layers=1, d_ff=24),
]


def keras_model_and_arrays(config: ModelConfig, seed: int = 0):
    from tinychat.model import build_model, get_arrays, set_arrays

    model = build_model(config)
    arrays = get_arrays(model)
    rng = np.random.default_rng(seed)
    for name in arrays:  # the gate starts shut; open it so the copy path is exercised too
        if name.startswith("copy/") or name.endswith("beta") or name.endswith("b_qkv"):
            arrays[name] = rng.normal(scale=0.5, size=arrays[name].shape).astype(np.float32)
    set_arrays(model, arrays)
    return model, arrays


@pytest.mark.parametrize(
    "config", VARIANTS, ids=lambda c: f"{c.positions}-copy{c.copy}-h{c.n_heads}"
)
def test_runtime_matches_keras(config):
    model, arrays = keras_model_and_arrays(config)
    ids = np.random.default_rng(1).integers(0, 97, size=(1, config.window)).astype(np.int32)
    keras_probs = np.exp(np.asarray(model(ids))[0])
    numpy_probs = np.exp(Runtime(config, arrays).log_probs(ids[0]))
    assert np.abs(keras_probs - numpy_probs).max() < 1e-5
    assert np.allclose(numpy_probs.sum(-1), 1.0, atol=1e-4)
    assert {name: tuple(a.shape) for name, a in arrays.items()} == weight_shapes(config)


def test_attention_rows_sum_to_one_and_match_keras():
    config = VARIANTS[0]
    model, arrays = keras_model_and_arrays(config)
    ids = np.random.default_rng(2).integers(0, 97, size=(1, 40)).astype(np.int32)
    _, keras_attention = model(ids, return_attention=True)
    runtime = Runtime(config, arrays)
    from tinychat.runtime import Trace

    runtime.trace = Trace()
    runtime.log_probs(ids[0])
    for t, rows in enumerate(runtime.trace.attention):
        for layer, weights in enumerate(rows):  # (H, t+1) per layer
            assert np.allclose(weights.sum(-1), 1.0, atol=1e-5)
            assert np.allclose(
                weights, np.asarray(keras_attention[layer])[0, :, t, : t + 1], atol=1e-5
            )
    copy = np.asarray(keras_attention[-1])[0, 0]  # the copy head's weights, (T, T)
    for t, weights in enumerate(runtime.trace.copy[1:], start=1):
        assert np.allclose(weights, copy[t, :t], atol=1e-5)


def test_sliding_window_recomputes_the_last_half():
    config = ModelConfig(window=32)
    model, arrays = keras_model_and_arrays(config)
    ids = np.random.default_rng(3).integers(0, 97, size=45)
    runtime = Runtime(config, arrays)
    runtime.reset()
    for token in ids:
        probs = runtime.step(int(token))
    # after the slide the runtime holds the last window//2 tokens of the first 32, then the rest
    visible = np.concatenate([ids[16:32], ids[32:]])[None].astype(np.int32)
    assert np.abs(np.exp(np.asarray(model(visible))[0, -1]) - probs).max() < 1e-5


@pytest.mark.parametrize(
    "config", VARIANTS, ids=lambda c: f"{c.positions}-copy{c.copy}-h{c.n_heads}"
)
def test_prefill_leaves_what_step_leaves(config):
    """The prompt fed at once gives the next character's probabilities Keras gives, and leaves the
    cache and the copy path's match lengths as feeding it one character at a time does. The
    second half repeats the first, so matches reach MATCH_CAP."""
    model, arrays = keras_model_and_arrays(config)
    at_once, by_step = Runtime(config, arrays), Runtime(config, arrays)
    rng = np.random.default_rng(4)
    for length in (1, 2, 17, config.window - 1, config.window, config.window + 9):
        ids = rng.integers(0, 4, size=length)
        ids[length // 2 :] = ids[: length - length // 2]
        at_once.prefill(ids[:-1])
        probs = at_once.step(int(ids[-1]))
        by_step.reset()
        for token in ids:
            expected = by_step.step(int(token))
        assert at_once.position == by_step.position
        assert np.abs(probs - expected).max() < 1e-5
        used = by_step.position
        for cache in ("key_cache", "value_cache"):
            here, there = getattr(at_once, cache), getattr(by_step, cache)
            assert np.allclose(here[:, :, :used], there[:, :, :used], atol=1e-5)
        assert np.allclose(at_once.copy_keys[:used], by_step.copy_keys[:used], atol=1e-5)
        assert (at_once.match[: used - 1] == by_step.match[: used - 1]).all()
        if length <= config.window:
            keras_last = np.exp(np.asarray(model(ids[None].astype(np.int32)))[0, -1])
            assert np.abs(keras_last - probs).max() < 1e-5


@pytest.mark.parametrize(
    "config", VARIANTS, ids=lambda c: f"{c.positions}-copy{c.copy}-h{c.n_heads}"
)
def test_asking_at_some_rows_gives_what_those_rows_give_when_all_are_asked(config):
    """Training asks only at the answers' positions: the same numbers as the whole window's
    output at those positions, the copy path's match lengths included (repeats make them long)."""
    model, _ = keras_model_and_arrays(config)
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 4, size=(3, config.window)).astype(np.int32)
    ids[:, config.window // 2 :] = ids[:, : config.window - config.window // 2]
    rows = np.sort(rng.choice(config.window, size=(3, 9)), axis=1).astype(np.int32)
    rows[0, 0] = 0  # where nothing can be copied yet
    every = np.asarray(model(ids))
    asked = np.asarray(model(ids, rows=rows))
    assert np.abs(asked - np.take_along_axis(every, rows[..., None], axis=1)).max() < 1e-5


def test_answer_rows_hold_every_weighted_position():
    from tinychat.train import answer_rows

    weights = np.zeros((4, 20), np.float32)
    weights[0, 3:9] = 1.0  # six positions, the longest span
    weights[1, 15:20] = 1.0  # ends at the window's end
    weights[2, 0:2] = 1.0  # starts at the window's start
    rows = answer_rows(weights)  # row 3 has no weights: any six positions
    assert rows.shape == (4, 6)
    assert (np.diff(rows, axis=1) == 1).all() and rows.min() >= 0 and rows.max() < 20
    picked = np.take_along_axis(weights, rows, axis=1)
    assert (picked.sum(axis=1) == weights.sum(axis=1)).all()


def test_numpy_multiplies_on_one_thread_in_tinychat():
    """OpenBLAS's threads wait on each other over matrices this small: a prompt's prefill took
    ten times longer with them on a busy machine. The setting must come before numpy loads."""
    import subprocess
    import sys

    shown = "import tinychat, numpy, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", shown], capture_output=True, text=True, env=environment
    )
    assert done.stdout.strip() == "1", done.stderr


def test_parameter_budget():
    assert 7_000 <= parameter_count(ModelConfig()) <= 12_000
    learned = ModelConfig(positions="learned", window=64, copy=False)
    assert parameter_count(learned) == parameter_count(ModelConfig(copy=False)) + 64 * 16


def test_one_table_names_every_weight_for_model_runtime_and_checkpoint():
    """BlockWeights' fields are the table's names in its order; Keras names its variables by the
    table."""
    from tinychat.architecture import BLOCK_WEIGHTS, BlockWeights
    from tinychat.model import build_model, named_weights

    assert list(BlockWeights._fields) == [name.replace("/", "_") for name in BLOCK_WEIGHTS]
    model = build_model(ModelConfig(window=32))
    names = named_weights(model)
    assert list(names) == list(weight_shapes(model.config))
    assert all(
        tuple(variable.shape) == weight_shapes(model.config)[name]
        for name, variable in names.items()
    )
    assert len({id(variable) for variable in names.values()}) == len(
        names
    )  # each name its own variable
