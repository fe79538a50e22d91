"""The model's weights in one table, and the constants its two implementations share.

`model.py` (Keras, for training) and `runtime.py` (numpy, for chatting) compute the same thing;
`checkpoint.py` stores it. All three read the weights from `weight_shapes`, in its one order, as
llama2.c's `export.py` writes weights in the order `run.c` reads them. Never imports TensorFlow.

Shapes: D = d_model, F = d_ff, V = vocabulary, W = window, L = MATCH_CAP.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from tinychat.config import ModelConfig
from tinychat.vocab import VOCAB_SIZE

LAYER_NORM_EPSILON = 1e-5  # added to the variance before its square root (LayerNorm)
COPY_FLOOR = 1e-9  # keeps log() finite where the copy mix gives a character probability 0
MATCH_CAP = 16  # the copy path counts matching characters up to this many (model.match_lengths)

# One transformer block's arrays: checkpoint name under "blocks/<i>/" -> shape. BlockWeights below
# has one field per row, in this order, named with "_" for "/".
BLOCK_WEIGHTS = {
    "norm1/gamma": lambda c: (c.d_model,),
    "norm1/beta": lambda c: (c.d_model,),
    "attention/w_qkv": lambda c: (c.d_model, 3 * c.d_model),
    "attention/b_qkv": lambda c: (3 * c.d_model,),
    "attention/w_out": lambda c: (c.d_model, c.d_model),
    "attention/b_out": lambda c: (c.d_model,),
    "norm2/gamma": lambda c: (c.d_model,),
    "norm2/beta": lambda c: (c.d_model,),
    "feed_forward/w_in": lambda c: (c.d_model, c.d_ff),
    "feed_forward/b_in": lambda c: (c.d_ff,),
    "feed_forward/w_out": lambda c: (c.d_ff, c.d_model),
    "feed_forward/b_out": lambda c: (c.d_model,),
}


class BlockWeights(NamedTuple):
    """One block's arrays, as llama2.c's TransformerWeights names them: a field per checkpoint
    name."""

    norm1_gamma: np.ndarray  # (D,)  Block.norm1
    norm1_beta: np.ndarray  # (D,)
    attention_w_qkv: np.ndarray  # (D, 3D) Block.attention: query, key and value side by side
    attention_b_qkv: np.ndarray  # (3D,)
    attention_w_out: np.ndarray  # (D, D)
    attention_b_out: np.ndarray  # (D,)
    norm2_gamma: np.ndarray  # (D,)  Block.norm2
    norm2_beta: np.ndarray  # (D,)
    feed_forward_w_in: np.ndarray  # (D, F) Block.feed_forward
    feed_forward_b_in: np.ndarray  # (F,)
    feed_forward_w_out: np.ndarray  # (F, D)
    feed_forward_b_out: np.ndarray  # (D,)

    @classmethod
    def of(cls, arrays: dict[str, np.ndarray], layer: int) -> "BlockWeights":
        return cls(*(arrays[f"blocks/{layer}/{name}"] for name in BLOCK_WEIGHTS))


def weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every array of a model of this shape, by checkpoint name, in the one order all modules
    use."""
    shapes: dict[str, tuple[int, ...]] = {"token_embedding": (VOCAB_SIZE, config.d_model)}  # (V, D)
    if config.positions == "learned":
        shapes["position_embedding"] = (config.window, config.d_model)  # (W, D)
    for layer in range(config.n_layers):
        shapes |= {f"blocks/{layer}/{name}": shape(config) for name, shape in BLOCK_WEIGHTS.items()}
    shapes |= {
        "final_norm/gamma": (config.d_model,),
        "final_norm/beta": (config.d_model,),
        "head/w": (config.d_model, VOCAB_SIZE),
        "head/b": (VOCAB_SIZE,),
    }
    if config.copy:  # CopyHead: queries and keys read two positions, so they take 2D numbers
        shapes |= {
            "copy/w_query": (2 * config.d_model, config.d_model),
            "copy/w_key": (2 * config.d_model, config.d_model),
            "copy/w_gate": (config.d_model,),
            "copy/b_gate": (),
            "copy/match_bias": (MATCH_CAP + 1,),
            "copy/gate_match": (),
        }
    return shapes


def parameter_count(config: ModelConfig) -> int:
    """Number of trainable numbers in a model of this shape."""
    return sum(math.prod(shape) for shape in weight_shapes(config).values())


def alibi_slopes(n_heads: int) -> np.ndarray:
    """Per-head ALiBi slopes 2^(-8i/H): head i adds -slope * distance to its attention scores."""
    return np.array([2.0 ** (-8.0 * (i + 1) / n_heads) for i in range(n_heads)], dtype=np.float32)


# What training one step holds in memory, per element of one attention matrix (batch x window x
# window): each head of each layer keeps its scores, their softmax and both gradients, and the
# copy path one more set; measured 66 bytes at 2 heads, 2 layers (README), estimated 80 here.
ATTENTION_BYTES_PER_HEAD, COPY_ATTENTION_BYTES = 16, 16
FRAMEWORK_BYTES = 600 << 20  # TensorFlow itself, the examples and the optimizer's bookkeeping
LARGEST_TENSOR = 2**31 - 1  # elements: TensorFlow's int32 indexing fails past this


def training_bytes(config: ModelConfig, batch_size: int) -> int:
    """About how much memory training this model takes with `batch_size` rows a step."""
    pairs = batch_size * config.window * config.window  # one attention matrix per row
    attention = pairs * (ATTENTION_BYTES_PER_HEAD * config.n_heads * config.n_layers)
    copy = pairs * COPY_ATTENTION_BYTES if config.copy else 0
    positions = batch_size * config.window * config.n_layers  # each keeps its activations
    activations = positions * 4 * (8 * config.d_model + 4 * config.d_ff)
    return FRAMEWORK_BYTES + attention + copy + activations + 16 * parameter_count(config)


def largest_training_tensor(config: ModelConfig, batch_size: int) -> int:
    """Elements of the largest tensor a training step makes: the attention scores of a layer."""
    return batch_size * config.n_heads * config.window * config.window
