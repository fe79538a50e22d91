"""The tiny character-level transformer, in Keras 3: the only definition of the architecture.

Read top to bottom: small pieces first (layer norm, attention, feed-forward, block), then
the model that stacks them. `runtime.py` is the same computation in numpy, one character
at a time; a test feeds both the same ids and checks they agree to float32 precision.

Shapes: B = batch, T = characters in the window, D = d_model, H = heads, V = vocabulary.
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np


@contextlib.contextmanager
def _quiet_stderr():
    """TensorFlow's C++ logging writes start-up notices to fd 2 whatever the log level: hide
    them."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
with _quiet_stderr():
    import keras
    import tensorflow  # noqa: F401  the backend, imported here so its notices are hidden too
from keras import ops  # noqa: E402

from tinychat.config import ModelConfig  # noqa: E402
from tinychat.architecture import (  # noqa: E402  shared with the numpy runtime
    COPY_FLOOR,
    LAYER_NORM_EPSILON,
    MATCH_CAP,
    alibi_slopes,
    weight_shapes,
)
from tinychat.vocab import VOCAB_SIZE  # noqa: E402

MASKED = -1e9  # added to attention scores a position may not see (finite, so no NaN)


def gelu(x):
    """GELU, tanh approximation (the runtime uses the same formula)."""
    return 0.5 * x * (1.0 + ops.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


class LayerNorm(keras.layers.Layer):
    """Normalise each position's vector to mean 0, variance 1, then scale and shift."""

    def build(self, input_shape):
        dim = input_shape[-1]
        self.gamma = self.add_weight(shape=(dim,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(dim,), initializer="zeros", name="beta")

    def call(self, x):
        mean = ops.mean(x, axis=-1, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=-1, keepdims=True)
        return (x - mean) / ops.sqrt(variance + LAYER_NORM_EPSILON) * self.gamma + self.beta


class Attention(keras.layers.Layer):
    """Causal multi-head self-attention: each position mixes the values of itself and the past."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def build(self, input_shape):
        dim = self.config.d_model
        self.w_qkv = self.add_weight(
            shape=(dim, 3 * dim), initializer="glorot_uniform", name="w_qkv"
        )
        self.b_qkv = self.add_weight(shape=(3 * dim,), initializer="zeros", name="b_qkv")
        self.w_out = self.add_weight(shape=(dim, dim), initializer="glorot_uniform", name="w_out")
        self.b_out = self.add_weight(shape=(dim,), initializer="zeros", name="b_out")

    def call(self, x, bias):
        """x: (B, T, D); bias: (H, T, T) added to the scores (causal mask + ALiBi)."""
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        heads, d_head = self.config.n_heads, self.config.d_head
        qkv = ops.matmul(x, self.w_qkv) + self.b_qkv  # (B, T, 3D)
        qkv = ops.reshape(qkv, (batch, length, 3, heads, d_head))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, B, H, T, d_head)
        query, key, value = qkv[0], qkv[1], qkv[2]
        key_t = ops.transpose(key, (0, 1, 3, 2))  # (B, H, d_head, T)
        # scaled before the product: (B, H, T, d_head) is 80 times smaller than (B, H, T, T)
        scores = ops.matmul(query / math.sqrt(d_head), key_t)  # (B, H, T, T)
        weights = ops.softmax(scores + bias, axis=-1)  # row t: how much t looks at each s <= t
        mixed = ops.matmul(weights, value)  # (B, H, T, d_head)
        mixed = ops.reshape(ops.transpose(mixed, (0, 2, 1, 3)), (batch, length, heads * d_head))
        return ops.matmul(mixed, self.w_out) + self.b_out, weights


class FeedForward(keras.layers.Layer):
    """Per-position two-layer MLP: D -> d_ff -> D."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def build(self, input_shape):
        dim, hidden = self.config.d_model, self.config.d_ff
        self.w_in = self.add_weight(shape=(dim, hidden), initializer="glorot_uniform", name="w_in")
        self.b_in = self.add_weight(shape=(hidden,), initializer="zeros", name="b_in")
        self.w_out = self.add_weight(
            shape=(hidden, dim), initializer="glorot_uniform", name="w_out"
        )
        self.b_out = self.add_weight(shape=(dim,), initializer="zeros", name="b_out")

    def call(self, x):
        return ops.matmul(gelu(ops.matmul(x, self.w_in) + self.b_in), self.w_out) + self.b_out


class Block(keras.layers.Layer):
    """Pre-norm transformer block: x + attention(norm(x)), then x + feed_forward(norm(x))."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.norm1 = LayerNorm(name="norm1")
        self.attention = Attention(config, name="attention")
        self.norm2 = LayerNorm(name="norm2")
        self.feed_forward = FeedForward(config, name="feed_forward")

    def call(self, x, bias):
        attended, weights = self.attention(self.norm1(x), bias)
        x = x + attended
        return x + self.feed_forward(self.norm2(x)), weights


class CopyHead(keras.layers.Layer):
    """Pointer-style copy path: attend to an earlier position s, propose the character after it.

    A gate decides per position how much of the output comes from copying and how much
    from the ordinary vocabulary softmax. It lets a tiny model reproduce names and numbers
    from [CONTEXT] that it could never memorise.
    """

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def build(self, input_shape):
        dim = self.config.d_model
        # Queries and keys read two positions (this one and the one before), so "where am I in
        # the line I am copying" is a match of the last two characters, not one.
        self.w_query = self.add_weight(
            shape=(2 * dim, dim), initializer="glorot_uniform", name="w_query"
        )
        self.w_key = self.add_weight(
            shape=(2 * dim, dim), initializer="glorot_uniform", name="w_key"
        )
        self.w_gate = self.add_weight(shape=(dim,), initializer="zeros", name="w_gate")
        self.b_gate = self.add_weight(shape=(), initializer="zeros", name="b_gate")
        # A learned bonus per match length (0 .. MATCH_CAP characters): starts by favouring long
        # matches.
        ramp = keras.initializers.Constant(np.linspace(0.0, 4.0, MATCH_CAP + 1).astype(np.float32))
        self.match_bias = self.add_weight(
            shape=(MATCH_CAP + 1,), initializer=ramp, name="match_bias"
        )
        # How much a long match opens the gate: text that has matched the context for a while is a
        # copy.
        self.gate_match = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(2.0), name="gate_match"
        )

    def call(self, hidden, ids, rows=None):
        """hidden: (B, T, D); ids: (B, T); rows: (B, R) the positions to predict at, or None for
        all (R = T). Returns copy probabilities (B, R, V), gate (B, R, 1), weights (B, R, T)."""
        length = ops.shape(ids)[1]
        # (B, T, D): the hidden state at t-1 (zeros at t = 0)
        previous = ops.concatenate([ops.zeros_like(hidden[:, :1]), hidden[:, :-1]], axis=1)
        pair = ops.concatenate([hidden, previous], axis=-1)  # (B, T, 2D)
        key = ops.matmul(pair, self.w_key)  # every position may be copied from
        positions = ops.arange(length)
        if rows is not None:
            pair, hidden = gather_rows(pair, rows), gather_rows(hidden, rows)  # (B, R, .)
        query = ops.matmul(pair, self.w_query) / math.sqrt(self.config.d_model)
        key_t = ops.transpose(key, (0, 2, 1))  # (B, D, T)
        scores = ops.matmul(query, key_t)  # (B, R, T)
        # Keeping its place: where the text before s matches the text before t the longest, s+1 is
        # most likely what comes next ("1112" copied from "900111" does not jump back into "111").
        matched = match_lengths(ids, rows)
        scores = scores + ops.take(self.match_bias, matched)
        asking = ops.expand_dims(positions, 0) if rows is None else rows  # (B or 1, R)
        # Position t may copy the character after s only if that character is known: s < t.
        earlier = ops.expand_dims(asking, -1) > positions  # (B or 1, R, T)
        weights = ops.softmax(ops.where(earlier, scores, MASKED), axis=-1)
        # (B, T): the character after each s (each earlier position votes for it)
        next_ids = ops.concatenate([ids[:, 1:], ops.zeros_like(ids[:, :1])], axis=1)
        copy_probs = ops.matmul(weights, ops.one_hot(next_ids, VOCAB_SIZE))  # (B, R, V)
        # At t = 0 nothing can be copied, so the gate is forced shut there.
        can_copy = ops.cast(ops.expand_dims(asking > 0, -1), hidden.dtype)  # (B or 1, R, 1)
        # (B, R, 1): the longest match so far; a long one opens the gate
        longest = ops.max(ops.where(earlier, matched, 0), axis=-1, keepdims=True)
        longest = ops.cast(longest, hidden.dtype) / MATCH_CAP
        gate_logit = (
            ops.matmul(hidden, ops.expand_dims(self.w_gate, -1))
            + self.b_gate
            + self.gate_match * longest
        )
        gate = ops.sigmoid(gate_logit) * can_copy
        return copy_probs, gate, weights


def gather_rows(x, rows):
    """(B, T) or (B, T, D) -> (B, R) or (B, R, D): each sequence's entries at its positions
    `rows` (B, R). One `take` from the batch laid end to end: Keras's take_along_axis broadcasts
    int64 indices, which oneDNN logs an error about on CPUs without AVX-512."""
    batch, length = ops.shape(x)[0], ops.shape(x)[1]
    flat = ops.reshape(x, (-1, *x.shape[2:]))  # (B * T, ...)
    return ops.take(flat, rows + ops.expand_dims(ops.arange(batch) * length, 1), axis=0)


def match_lengths(ids, rows=None):
    """(B, R, T) int: how many characters ending at t = rows[b, r] equal those ending at s (at most
    MATCH_CAP); `rows` (B, R) are the positions that ask, None for all of them (R = T).

    Row t, column s counts i = 0, 1, ... while ids[t - i] == ids[s - i]; `runtime.py` keeps the
    same numbers one row at a time. Worked example: ids "abcab" -> row 4 ("...b"), column 1
    ("ab"): 2.
    """
    length = ids.shape[1] or MATCH_CAP  # static in training: the window
    run = total = None
    # uint8 counts, a quarter of int32's memory traffic: they never pass MATCH_CAP
    for shift in range(min(MATCH_CAP, length)):
        # ids[t - shift] and ids[s - shift]; before the start, two fills that never match
        kept = ids[:, : ops.shape(ids)[1] - shift]
        back = ops.pad(kept, ((0, 0), (shift, 0)), constant_values=-1)
        asked = ops.pad(kept, ((0, 0), (shift, 0)), constant_values=-2)
        asked = asked if rows is None else gather_rows(asked, rows)
        equal = ops.cast(ops.expand_dims(asked, 2) == ops.expand_dims(back, 1), "uint8")
        run = equal if run is None else run * equal  # every character from t - shift to t matched
        total = run if total is None else total + run
    return ops.cast(total, "int32")


class TinyTransformer(keras.Model):
    """Characters in, log-probabilities of the next character out: (B, T) ids -> (B, T, V)."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.token_embedding = keras.layers.Embedding(
            VOCAB_SIZE,
            config.d_model,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.3),
            name="token_embedding",
        )
        if config.positions == "learned":
            self.position_embedding = keras.layers.Embedding(
                config.window,
                config.d_model,
                embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1),
                name="position_embedding",
            )
        self.blocks = [Block(config, name=f"block_{i}") for i in range(config.n_layers)]
        self.final_norm = LayerNorm(name="final_norm")
        self.head = keras.layers.Dense(VOCAB_SIZE, name="head")
        self.copy_head = CopyHead(config, name="copy_head") if config.copy else None
        self.slopes = (
            alibi_slopes(config.n_heads)
            if config.positions == "alibi"
            else np.zeros(config.n_heads, np.float32)
        )

    def attention_bias(self, length):
        """(H, T, T): -slope * distance for s <= t (ALiBi; zero slopes for learned positions),
        MASKED for s > t."""
        positions = ops.arange(length)
        # (T, T): t - s, the distance from query t back to key s
        distance = ops.expand_dims(positions, 1) - ops.expand_dims(positions, 0)
        distance = ops.cast(distance, "float32")
        bias = -ops.reshape(ops.convert_to_tensor(self.slopes), (-1, 1, 1)) * distance
        return ops.where(distance < 0, MASKED, bias)

    def call(self, ids, rows=None, return_attention: bool = False):
        """ids: (B, T); rows: (B, R) the positions whose next character is wanted, or None for
        all of them. Training asks only at the answers' positions: the blocks still read every
        position, but the head and the copy path, a (B, T, T) computation, run on R rows."""
        length = ops.shape(ids)[1]
        x = self.token_embedding(ids)  # (B, T, D)
        if self.config.positions == "learned":
            x = x + self.position_embedding(ops.arange(length))
        bias = self.attention_bias(length)
        attention = []
        for block in self.blocks:
            x, weights = block(x, bias)
            attention.append(weights)
        hidden = self.final_norm(x)  # (B, T, D): the copy path's keys read every position
        asked = hidden if rows is None else gather_rows(hidden, rows)  # (B, R, D)
        logits = self.head(asked)  # (B, R, V)
        if self.copy_head is None:
            log_probs = ops.log_softmax(logits, axis=-1)
        else:
            copy_probs, gate, copy_weights = self.copy_head(hidden, ids, rows)
            probs = (1.0 - gate) * ops.softmax(logits, axis=-1) + gate * copy_probs
            log_probs = ops.log(probs + COPY_FLOOR)
            attention.append(ops.expand_dims(copy_weights, 1))
        if return_attention:
            return log_probs, attention
        return log_probs


class AnswerRows(keras.Model):
    """A TinyTransformer as training calls it: (ids, rows) in, log-probabilities at rows out
    (Keras's fit passes its inputs as one argument). Shares the transformer's weights."""

    def __init__(self, transformer: TinyTransformer, **kwargs):
        super().__init__(**kwargs)
        self.transformer = transformer

    def call(self, inputs):
        ids, rows = inputs
        return self.transformer(ids, rows=rows)


def build_model(config: ModelConfig) -> TinyTransformer:
    """A freshly initialised model with its weights created (so they can be counted or loaded)."""
    model = TinyTransformer(config)
    model(np.zeros((1, 2), dtype=np.int32))
    return model


def named_weights(model: TinyTransformer) -> dict:
    """The model's variables under the checkpoint's names, in `architecture.weight_shapes` order."""
    return {name: _variable(model, name) for name in weight_shapes(model.config)}


KERAS_NAMES = {
    "token_embedding": ("token_embedding", "embeddings"),
    "position_embedding": ("position_embedding", "embeddings"),
    "head/w": ("head", "kernel"),
    "head/b": ("head", "bias"),
}  # Keras's own layers name their weights


def _variable(model: TinyTransformer, name: str):
    """The variable a checkpoint name points at: "blocks/0/attention/w_qkv" is
    model.blocks[0].attention.w_qkv."""
    path = KERAS_NAMES.get(name) or name.split("/")
    owner = model
    if path[0] == "blocks":
        owner, path = model.blocks[int(path[1])], path[2:]
    elif path[0] == "copy":
        owner, path = model.copy_head, path[1:]
    for attribute in path:
        owner = getattr(owner, attribute)
    return owner


def get_arrays(model: TinyTransformer) -> dict[str, np.ndarray]:
    """Every weight as a float32 numpy array, by checkpoint name."""
    return {
        name: np.asarray(variable.numpy(), dtype=np.float32)
        for name, variable in named_weights(model).items()
    }


def set_arrays(model: TinyTransformer, arrays: dict[str, np.ndarray]) -> None:
    """Load checkpoint arrays into the model (shapes were checked by `checkpoint`)."""
    for name, variable in named_weights(model).items():
        variable.assign(arrays[name])
