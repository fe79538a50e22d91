"""Numpy forward pass over checkpoint arrays, one character at a time. Never imports TensorFlow.

The same computation as `model.py`, written llama2.c-style: `step(token)` takes one
position in, writes that position's keys and values into a preallocated cache, and
returns the next character's probabilities. The prompt is fed through the same `step`
(prefill), so prompt and generation share one path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tinychat.config import ModelConfig
from tinychat.vocab import VOCAB_SIZE

LAYER_NORM_EPSILON = 1e-5  # model.py imports these, so both compute the same thing
COPY_FLOOR = 1e-9  # keeps log() finite where the copy mix gives a character probability 0
MATCH_CAP = 16  # the copy path counts matching characters up to this many (model.match_lengths)


def alibi_slopes(n_heads: int) -> np.ndarray:
    """Per-head ALiBi slopes 2^(-8i/H): head i adds -slope * distance to its attention scores."""
    return np.array([2.0 ** (-8.0 * (i + 1) / n_heads) for i in range(n_heads)], dtype=np.float32)


def weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every array the runtime needs, by checkpoint name, with its shape."""
    d, ff, v = config.d_model, config.d_ff, VOCAB_SIZE
    shapes: dict[str, tuple[int, ...]] = {"token_embedding": (v, d)}
    if config.positions == "learned":
        shapes["position_embedding"] = (config.window, d)
    for i in range(config.n_layers):
        p = f"blocks/{i}"
        shapes |= {
            f"{p}/norm1/gamma": (d,), f"{p}/norm1/beta": (d,),
            f"{p}/attention/w_qkv": (d, 3 * d), f"{p}/attention/b_qkv": (3 * d,),
            f"{p}/attention/w_out": (d, d), f"{p}/attention/b_out": (d,),
            f"{p}/norm2/gamma": (d,), f"{p}/norm2/beta": (d,),
            f"{p}/feed_forward/w_in": (d, ff), f"{p}/feed_forward/b_in": (ff,),
            f"{p}/feed_forward/w_out": (ff, d), f"{p}/feed_forward/b_out": (d,),
        }  # fmt: skip
    shapes |= {"final_norm/gamma": (d,), "final_norm/beta": (d,), "head/w": (d, v), "head/b": (v,)}
    if config.copy:
        shapes |= {"copy/w_query": (2 * d, d), "copy/w_key": (2 * d, d), "copy/w_gate": (d,), "copy/b_gate": (),
                   "copy/match_bias": (MATCH_CAP + 1,), "copy/gate_match": ()}
    return shapes


def parameter_count(config: ModelConfig) -> int:
    """Number of trainable numbers in a model of this shape."""
    return sum(math.prod(shape) for shape in weight_shapes(config).values())


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Layer norm of one position's vector (D,). Dot products: cheaper than mean() at this size."""
    centered = x - x.sum() / x.shape[0]
    return centered * (gamma / math.sqrt(centered @ centered / x.shape[0] + LAYER_NORM_EPSILON)) + beta


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def softmax(x: np.ndarray) -> np.ndarray:
    """Over the last axis, shifted by the maximum so exp() cannot overflow."""
    e = np.exp(x - np.maximum.reduce(x, axis=-1, keepdims=True))
    return e / np.add.reduce(e, axis=-1, keepdims=True)


@dataclass
class Trace:
    """What the last `step` calls looked at, kept only when asked (for /why and /probs)."""

    attention: list[list[np.ndarray]] = field(default_factory=list)  # per step: per layer (H, t+1)
    copy: list[np.ndarray] = field(default_factory=list)  # per step: (t,) copy weights
    gate: list[float] = field(default_factory=list)


class Runtime:
    """A model loaded from checkpoint arrays, with a key/value cache for one sequence."""

    def __init__(self, config: ModelConfig, arrays: dict[str, np.ndarray]):
        self.config = config
        self.w = {name: np.asarray(arrays[name], dtype=np.float32) for name in weight_shapes(config)}
        n, h, dh, window = config.n_layers, config.n_heads, config.d_head, config.window
        self.key_cache = np.zeros((n, h, window, dh), np.float32)  # head-major: one matmul per layer
        self.value_cache = np.zeros((n, h, window, dh), np.float32)
        self.copy_keys = np.zeros((window, config.d_model), np.float32)
        self.previous_hidden = np.zeros(config.d_model, np.float32)  # final hidden state at t-1
        self.tokens = np.zeros(window, np.int64)
        self.match = np.zeros(window, np.int64)  # row t of model.match_lengths, for s < t
        slopes = alibi_slopes(h) if config.positions == "alibi" else np.zeros(h, np.float32)
        # ALiBi bias for a query at position t over keys 0..t is alibi[:, window-1-t:]: -slope * (t - s).
        self.alibi = -slopes[:, None] * np.arange(window - 1, -1, -1, dtype=np.float32)[None, :]  # (H, window)
        self.blocks = [self._block_weights(i) for i in range(n)]
        self.position = 0
        self.trace: Trace | None = None

    def _block_weights(self, i: int) -> tuple[np.ndarray, ...]:
        p = f"blocks/{i}"
        names = ("norm1/gamma", "norm1/beta", "attention/w_qkv", "attention/b_qkv", "attention/w_out",
                 "attention/b_out", "norm2/gamma", "norm2/beta", "feed_forward/w_in", "feed_forward/b_in",
                 "feed_forward/w_out", "feed_forward/b_out")  # fmt: skip
        return tuple(self.w[f"{p}/{name}"] for name in names)

    def reset(self) -> None:
        """Start a new sequence (the cache is overwritten, not cleared: positions >= `position` are unused)."""
        self.position = 0

    def step(self, token: int) -> np.ndarray:
        """Feed one character at the next position; return the next character's probabilities (V,)."""
        if self.position == self.config.window:
            self._slide()
        t = self.position
        self.tokens[t] = token
        if self.config.copy:  # match_lengths row t from row t-1: one more equal character, or none
            longer = np.minimum(np.concatenate([[0], self.match[: t - 1]]) + 1, MATCH_CAP) if t else self.match[:0]
            self.match[:t] = (self.tokens[:t] == token) * longer
        heads, d_head, dim = self.config.n_heads, self.config.d_head, self.config.d_model
        x = self.w["token_embedding"][token]  # (D,)
        if self.config.positions == "learned":
            x = x + self.w["position_embedding"][t]
        attention_rows = []
        for layer, (g1, b1, w_qkv, b_qkv, w_o, b_o, g2, b2, w_in, b_in, w_out, b_out) in enumerate(self.blocks):
            qkv = layer_norm(x, g1, b1) @ w_qkv + b_qkv  # (3D,): query, key, value side by side
            q, k, v = qkv[:dim], qkv[dim : 2 * dim], qkv[2 * dim :]
            self.key_cache[layer, :, t] = k.reshape(heads, d_head)  # stored for all later positions
            self.value_cache[layer, :, t] = v.reshape(heads, d_head)
            keys = self.key_cache[layer, :, : t + 1]  # (H, t+1, d_head)
            scores = (keys @ q.reshape(heads, d_head, 1))[:, :, 0] / math.sqrt(d_head)  # (H, t+1)
            weights = softmax(scores + self.alibi[:, self.config.window - 1 - t :])  # (H, t+1)
            mixed = (weights[:, None, :] @ self.value_cache[layer, :, : t + 1]).reshape(-1)  # (H,1,d_head) -> (D,)
            x = x + mixed @ w_o + b_o
            x = x + gelu(layer_norm(x, g2, b2) @ w_in + b_in) @ w_out + b_out
            attention_rows.append(weights)
        hidden = layer_norm(x, self.w["final_norm/gamma"], self.w["final_norm/beta"])
        probs = softmax(hidden @ self.w["head/w"] + self.w["head/b"])  # (V,)
        copy_weights, gate = np.zeros(t, np.float32), 0.0
        if self.config.copy:
            pair = np.concatenate([hidden, self.previous_hidden if t > 0 else 0.0 * hidden])  # (2D,)
            self.previous_hidden = hidden
            self.copy_keys[t] = pair @ self.w["copy/w_key"]
            if t > 0:  # copy the character that followed an earlier position s < t
                scores = self.copy_keys[:t] @ (pair @ self.w["copy/w_query"]) / math.sqrt(self.config.d_model)
                scores = scores + self.w["copy/match_bias"][self.match[:t]]
                copy_weights = softmax(scores)  # (t,)
                copy_probs = np.bincount(self.tokens[1 : t + 1], weights=copy_weights, minlength=VOCAB_SIZE)
                longest = float(self.match[:t].max()) / MATCH_CAP  # a long match opens the gate
                logit = float(hidden @ self.w["copy/w_gate"] + self.w["copy/b_gate"] + self.w["copy/gate_match"] * longest)
                gate = 1.0 / (1.0 + math.exp(-logit))
                probs = (1.0 - gate) * probs + gate * copy_probs
        if self.trace is not None:
            self.trace.attention.append(attention_rows)
            self.trace.copy.append(copy_weights)
            self.trace.gate.append(gate)
        self.position += 1
        return probs

    def _slide(self) -> None:
        """The window is full: keep its last half and recompute it, as the model would see it."""
        keep = self.tokens[self.config.window // 2 :].copy()
        trace, self.trace = self.trace, None  # the recomputation is not part of what was shown
        self.position = 0
        for token in keep:
            self.step(int(token))
        self.trace = trace

    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        """(T, V) log-probabilities after each of `ids`, from a fresh sequence: the Keras model's output."""
        self.reset()
        floor = COPY_FLOOR if self.config.copy else 0.0
        return np.stack([np.log(self.step(int(token)) + floor) for token in ids])


def sample(probs: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Pick the next id: argmax at temperature 0, else a draw from probs^(1/temperature)."""
    if temperature <= 0:
        return int(np.argmax(probs))
    logits = np.log(probs + COPY_FLOOR) / temperature
    return int(rng.choice(len(probs), p=softmax(logits)))
