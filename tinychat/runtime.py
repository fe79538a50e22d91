"""Numpy forward pass over checkpoint arrays, one character at a time. Never imports TensorFlow.

The same computation as `model.py`, written llama2.c-style: `step(token)` feeds one character at
the next position, writes that position's keys and values into a preallocated cache, and returns
the next character's probabilities. `prefill(ids)` feeds a whole prompt at once, as the Keras
model does: one matrix product per stage over all its positions instead of one per character,
leaving the cache exactly as `step` would. Read it beside `model.py`: each stage names the Keras
class it mirrors, and tests check that `step`, `prefill` and Keras agree to 1e-5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tinychat.architecture import (
    COPY_FLOOR,
    MATCH_CAP,
    LAYER_NORM_EPSILON,
    BlockWeights,
    alibi_slopes,
    weight_shapes,
)
from tinychat.config import ModelConfig
from tinychat.vocab import VOCAB_SIZE


def layer_norm_rows(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Layer norm of each row of (T, D): `layer_norm` for a whole prompt."""
    centered = x - x.mean(axis=-1, keepdims=True)
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    return centered * (gamma / np.sqrt(variance + LAYER_NORM_EPSILON)) + beta


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Layer norm of one position's vector (D,). Dot products: cheaper than mean() at this size."""
    centered = x - x.sum() / x.shape[0]
    return (
        centered * (gamma / math.sqrt(centered @ centered / x.shape[0] + LAYER_NORM_EPSILON)) + beta
    )


def feed_forward(block: BlockWeights, x: np.ndarray) -> np.ndarray:
    """FeedForward.call: (D,) -> F -> (D,)."""
    return (
        gelu(x @ block.feed_forward_w_in + block.feed_forward_b_in) @ block.feed_forward_w_out
        + block.feed_forward_b_out
    )


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (model.gelu)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def softmax(x: np.ndarray) -> np.ndarray:
    """Over the last axis, shifted by the maximum so exp() cannot overflow."""
    e = np.exp(x - np.maximum.reduce(x, axis=-1, keepdims=True))
    return e / np.add.reduce(e, axis=-1, keepdims=True)


def softmax_in_place(x: np.ndarray) -> np.ndarray:
    """`softmax`, overwriting `x`: a prompt's (H, T, T) scores are megabytes, and each
    temporary copy of them cost as much as the arithmetic."""
    x -= np.maximum.reduce(x, axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= np.add.reduce(x, axis=-1, keepdims=True)
    return x


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
        self.w = {
            name: np.asarray(arrays[name], dtype=np.float32) for name in weight_shapes(config)
        }
        self.blocks = [BlockWeights.of(self.w, layer) for layer in range(config.n_layers)]
        n, h, dh, window = config.n_layers, config.n_heads, config.d_head, config.window
        # (layers, H, W, d_head), head-major: one matmul per layer and head
        self.key_cache = np.zeros((n, h, window, dh), np.float32)
        self.value_cache = np.zeros((n, h, window, dh), np.float32)
        self.copy_keys = np.zeros((window, config.d_model), np.float32)  # CopyHead's, s < pos
        self.previous_hidden = np.zeros(config.d_model, np.float32)  # final hidden state at pos - 1
        self.tokens = np.zeros(window, np.int64)
        self.match = np.zeros(window, np.int64)  # row pos of model.match_lengths, for s < pos
        slopes = alibi_slopes(h) if config.positions == "alibi" else np.zeros(h, np.float32)
        # (H, 2W-1): ALiBi's bias -slope * distance for distances W-1 down to 0, then -inf for
        # the W-1 later positions a query may not see. A query at pos over keys s = 0..T-1 reads
        # bias[:, W-1-pos : W-1-pos+T], that is -slope * (pos - s), masked where s > pos.
        distance = np.arange(window - 1, -window, -1, dtype=np.float32)
        self.bias = np.where(distance >= 0, -slopes[:, None] * distance, -np.inf).astype(np.float32)
        self.position = 0  # where the next character goes
        self.trace: Trace | None = None

    def reset(self) -> None:
        """Start a new sequence (the cache is overwritten, not cleared: positions >= `position`
        are unused)."""
        self.position = 0

    def step(self, token: int) -> np.ndarray:
        """Feed one character at the next position; return the next character's probabilities (V,).

        When the window is full, its last half slides to the front and is recomputed (`_slide`):
        the model never saw positions past the window, so neither does the runtime."""
        if self.position == self.config.window:
            self._slide()
        pos = self.position
        self.tokens[pos] = token
        x = self.w["token_embedding"][token]  # TinyTransformer.token_embedding: (D,)
        if self.config.positions == "learned":
            x = x + self.w["position_embedding"][pos]  # TinyTransformer.position_embedding
        attention_rows = []
        for layer, block in enumerate(self.blocks):  # Block.call
            attended, weights = self._attention(
                layer, block, layer_norm(x, block.norm1_gamma, block.norm1_beta), pos
            )
            x = x + attended  # residual connection around the attention
            # FeedForward.call, and its residual connection
            x = x + feed_forward(block, layer_norm(x, block.norm2_gamma, block.norm2_beta))
            attention_rows.append(weights)
        # TinyTransformer.final_norm
        hidden = layer_norm(x, self.w["final_norm/gamma"], self.w["final_norm/beta"])
        probs = softmax(hidden @ self.w["head/w"] + self.w["head/b"])  # TinyTransformer.head: (V,)
        copy_weights, gate = np.zeros(pos, np.float32), 0.0
        if self.config.copy:
            probs, copy_weights, gate = self._copy(hidden, probs, token, pos)
        if self.trace is not None:
            self.trace.attention.append(attention_rows)
            self.trace.copy.append(copy_weights)
            self.trace.gate.append(gate)
        self.position += 1
        return probs

    def prefill(self, ids: np.ndarray) -> None:
        """Feed `ids` from a fresh sequence all at once, leaving the cache and the copy path's
        state as `step` would after each of them (no probabilities: the last prompt character
        goes through `step`, which returns them). A prompt longer than the window goes through
        `step`, which slides."""
        self.reset()
        count = len(ids)
        if count > self.config.window:
            for token in ids:
                self.step(int(token))
            return
        if count == 0:
            return
        tokens = np.asarray(ids, np.int64)
        self.tokens[:count] = tokens
        x = self.w["token_embedding"][tokens]  # TinyTransformer.token_embedding: (T, D)
        if self.config.positions == "learned":
            x = x + self.w["position_embedding"][:count]
        for layer, block in enumerate(self.blocks):  # Block.call, every position at once
            x = x + self._attention_rows(
                layer, block, layer_norm_rows(x, block.norm1_gamma, block.norm1_beta)
            )
            x = x + feed_forward(block, layer_norm_rows(x, block.norm2_gamma, block.norm2_beta))
        hidden = layer_norm_rows(x, self.w["final_norm/gamma"], self.w["final_norm/beta"])
        if self.config.copy:  # CopyHead's keys: each position's hidden state and the last one's
            before = np.concatenate([np.zeros_like(hidden[:1]), hidden[:-1]])
            self.copy_keys[:count] = np.concatenate([hidden, before], axis=1) @ self.w["copy/w_key"]
            self.previous_hidden = hidden[-1]
            self.match[: count - 1] = self._match_row(count - 1)
        self.position = count

    def _attention_rows(self, layer: int, block: BlockWeights, x: np.ndarray) -> np.ndarray:
        """Attention.call over positions 0..T-1 at once, causal: (T, D) in, (T, D) out."""
        count, heads, d_head = x.shape[0], self.config.n_heads, self.config.d_head
        qkv = x @ block.attention_w_qkv + block.attention_b_qkv  # (T, 3D)
        # (3, H, T, d_head): query, key and value, head-major like the cache
        query, key, value = qkv.reshape(count, 3, heads, d_head).transpose(1, 2, 0, 3)
        self.key_cache[layer, :, :count] = key
        self.value_cache[layer, :, :count] = value
        # contiguous operands: numpy hands a stack of matrices to BLAS only then, and its own
        # loop over strided views was most of a prompt's time
        key_t = np.ascontiguousarray(key.transpose(0, 2, 1))  # (H, d_head, T)
        scores = np.ascontiguousarray(query) @ key_t  # (H, T, T)
        scores /= math.sqrt(d_head)
        scores += self._bias_rows(count)  # ALiBi's bias for s <= pos, -inf for s > pos
        weights = softmax_in_place(scores)
        mixed = (weights @ self.value_cache[layer, :, :count]).transpose(1, 0, 2)  # (T, H, d_head)
        return mixed.reshape(count, -1) @ block.attention_w_out + block.attention_b_out

    def _bias_rows(self, count: int) -> np.ndarray:
        """(H, T, T) view of `bias` whose row pos is bias[:, W-1-pos : W-1-pos+T], the bias of a
        query at pos: every row is a shifted window of the same array, so nothing is copied."""
        window = self.config.window
        # (H, 2W-T, T): windows[:, j] = bias[:, j : j+T]; row pos is window W-1-pos
        windows = np.lib.stride_tricks.sliding_window_view(self.bias, count, axis=1)
        return windows[:, window - count : window][:, ::-1]

    def _match_row(self, pos: int) -> np.ndarray:
        """model.match_lengths, row `pos`: for each s < pos, how many characters up to s equal
        those up to pos (at most MATCH_CAP), what `_copy` builds one step at a time."""
        s = np.arange(pos)
        length = np.zeros(pos, np.int64)
        still = np.ones(pos, bool)
        for back in range(MATCH_CAP):
            still &= (s >= back) & (self.tokens[np.maximum(s - back, 0)] == self.tokens[pos - back])
            length += still
        return length

    def _attention(
        self, layer: int, block: BlockWeights, x: np.ndarray, pos: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Attention.call, one position: (D,) in, (D,) out, and the weights (H, pos+1) it used."""
        heads, d_head, dim = self.config.n_heads, self.config.d_head, self.config.d_model
        # (3D,): query, key, value side by side
        qkv = x @ block.attention_w_qkv + block.attention_b_qkv
        query, key, value = qkv[:dim], qkv[dim : 2 * dim], qkv[2 * dim :]
        self.key_cache[layer, :, pos] = key.reshape(heads, d_head)  # stored for all later positions
        self.value_cache[layer, :, pos] = value.reshape(heads, d_head)
        keys = self.key_cache[layer, :, : pos + 1]  # (H, pos+1, d_head)
        scores = (keys @ query.reshape(heads, d_head, 1))[:, :, 0] / math.sqrt(d_head)  # (H, pos+1)
        # + ALiBi's distance bias, the row of a query at `pos`
        weights = softmax(scores + self.bias[:, self.config.window - 1 - pos : self.config.window])
        # (H, 1, pos+1) @ (H, pos+1, d_head) -> (H, 1, d_head) -> (D,)
        mixed = (weights[:, None, :] @ self.value_cache[layer, :, : pos + 1]).reshape(-1)
        return mixed @ block.attention_w_out + block.attention_b_out, weights

    def _copy(
        self, hidden: np.ndarray, probs: np.ndarray, token: int, pos: int
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """CopyHead.call, one position: mix `probs` with "the character after an earlier
        position s"."""
        # model.match_lengths, row pos from row pos-1: one more equal character, or none
        longer = (
            np.minimum(np.concatenate([[0], self.match[: pos - 1]]) + 1, MATCH_CAP)
            if pos
            else self.match[:0]
        )
        self.match[:pos] = (self.tokens[:pos] == token) * longer
        # (2D,): this position's hidden state and the last one's
        pair = np.concatenate([hidden, self.previous_hidden if pos > 0 else 0.0 * hidden])
        self.previous_hidden = hidden
        self.copy_keys[pos] = pair @ self.w["copy/w_key"]
        if pos == 0:
            return probs, np.zeros(0, np.float32), 0.0  # nothing to copy yet: the gate is shut
        query = pair @ self.w["copy/w_query"]
        scores = self.copy_keys[:pos] @ query / math.sqrt(self.config.d_model)  # (pos,)
        # + the bonus of a long match
        weights = softmax(scores + self.w["copy/match_bias"][self.match[:pos]])
        # (V,): each earlier position s votes for the character after it
        copied = np.bincount(self.tokens[1 : pos + 1], weights=weights, minlength=VOCAB_SIZE)
        longest = float(self.match[:pos].max()) / MATCH_CAP  # a long match opens the gate
        logit = float(
            hidden @ self.w["copy/w_gate"]
            + self.w["copy/b_gate"]
            + self.w["copy/gate_match"] * longest
        )
        gate = 1.0 / (1.0 + math.exp(-logit))
        return (1.0 - gate) * probs + gate * copied, weights, gate

    def _slide(self) -> None:
        """The window is full: keep its last half and recompute it, as the model would see it."""
        keep = self.tokens[self.config.window // 2 :].copy()
        trace, self.trace = self.trace, None  # the recomputation is not part of what was shown
        self.position = 0
        for token in keep:
            self.step(int(token))
        self.trace = trace

    def log_probs(self, ids: np.ndarray) -> np.ndarray:
        """(T, V) log-probabilities after each of `ids`, from a fresh sequence: the Keras model's
        output."""
        self.reset()
        floor = COPY_FLOOR if self.config.copy else 0.0
        return np.stack([np.log(self.step(int(token)) + floor) for token in ids])


def sample(probs: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Pick the next id: argmax at temperature 0, else a draw from probs^(1/temperature)."""
    if temperature <= 0:
        return int(np.argmax(probs))
    logits = np.log(probs + COPY_FLOOR)
    # the largest first: divided by a tiny temperature the rest go to -inf, never inf - inf = NaN
    with np.errstate(over="ignore"):  # -inf is the intended result, not a problem to say
        logits = (logits - logits.max()) / temperature
    return int(rng.choice(len(probs), p=softmax(logits)))
