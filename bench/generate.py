"""Generation speed: the cached numpy runtime against three baselines, same weights, greedy.

    python bench/generate.py [--window 256] [--chars 200]

Prints chars/s of (1) the numpy runtime with its key/value cache, (2) the same runtime
without a cache (the whole sequence recomputed for every character), (3) Keras
`model.predict` once per character, (4) a `tf.function` over a fixed window, the ratio of
(1) to each, and the time to the first character after a 256-character prompt. All four
must produce the same text; the script fails if they do not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinychat.config import ModelConfig  # noqa: E402
from tinychat.runtime import Runtime  # noqa: E402
from tinychat.vocab import decode, encode  # noqa: E402

PROMPT = (
    "[CONTEXT]\nThe copy path lets a tiny model reproduce names and numbers from its context.\n"
    "Attention weights sum to one over the positions a character may see.\n[QUERY]\n"
    "what does the copy path do for a tiny model with a small window?\n[ANSWER]\n"
)


def prompt_ids(length: int) -> np.ndarray:
    text = (PROMPT * (length // len(PROMPT) + 1))[-length:]
    return encode(text)


def cached(runtime: Runtime, ids: np.ndarray, chars: int) -> tuple[list[int], float, float]:
    """Greedy generation with the key/value cache: ids, seconds to the first character, chars/s
    after it."""
    start = time.perf_counter()
    runtime.reset()
    for token in ids:
        probs = runtime.step(int(token))
    out = [int(np.argmax(probs))]
    first = time.perf_counter() - start
    for _ in range(chars - 1):
        out.append(int(np.argmax(runtime.step(out[-1]))))
    return out, first, (chars - 1) / (time.perf_counter() - start - first)


def uncached(runtime: Runtime, ids: np.ndarray, chars: int) -> list[int]:
    """The same runtime, but every character recomputes the whole sequence from scratch."""
    sequence, out = list(ids), []
    for _ in range(chars):
        window = sequence[-runtime.config.window :]
        runtime.reset()
        for token in window:
            probs = runtime.step(int(token))
        out.append(int(np.argmax(probs)))
        sequence.append(out[-1])
    return out


def keras_predict(model, ids: np.ndarray, chars: int, window: int) -> list[int]:
    sequence, out = list(ids), []
    for _ in range(chars):
        x = np.array([sequence[-window:]], np.int32)
        out.append(int(np.argmax(model.predict(x, verbose=0)[0, -1])))
        sequence.append(out[-1])
    return out


def tf_function_loop(model, ids: np.ndarray, chars: int, window: int) -> list[int]:
    """A compiled call over a fixed-size window (left-aligned, so positions match)."""
    import tensorflow as tf

    @tf.function(
        input_signature=[tf.TensorSpec((1, window), tf.int32), tf.TensorSpec((), tf.int32)]
    )
    def next_id(x, last):
        return tf.argmax(model(x)[0, last], output_type=tf.int32)

    sequence, out = list(ids), []
    for _ in range(chars):
        visible = sequence[-window:]
        x = np.zeros((1, window), np.int32)
        x[0, : len(visible)] = visible
        out.append(int(next_id(x, len(visible) - 1)))
        sequence.append(out[-1])
    return out


def rate(function, chars: int) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return chars / (time.perf_counter() - start), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--window", type=int, default=256, help="model window; the prompt fills half of it"
    )
    parser.add_argument(
        "--slow-chars", type=int, default=40, help="characters for the slow baselines"
    )
    parser.add_argument(
        "--checkpoint", type=Path, help="trained weights to use (default: fresh random weights)"
    )
    args = parser.parse_args()

    from tinychat import checkpoint
    from tinychat.model import build_model, get_arrays, set_arrays

    if args.checkpoint:
        trained = checkpoint.load(args.checkpoint)
        config, arrays = trained.config, trained.arrays
    else:
        config = ModelConfig(window=args.window)
        arrays = get_arrays(build_model(config))
    model = build_model(config)
    set_arrays(model, arrays)
    runtime = Runtime(config, arrays)
    ids = prompt_ids(config.window // 2)
    chars = config.window - len(ids)  # generation fills the window: no sliding

    cached(runtime, ids, 5)  # warm up
    fast_out, _, fast = cached(runtime, ids, chars)
    slow = args.slow_chars
    nocache, nocache_out = rate(lambda: uncached(runtime, ids, slow), slow)
    keras_predict(model, ids, 2, config.window)  # warm up (traces the predict function)
    predict, predict_out = rate(lambda: keras_predict(model, ids, slow, config.window), slow)
    tf_function_loop(model, ids, 2, config.window)  # warm up (traces)
    compiled, compiled_out = rate(lambda: tf_function_loop(model, ids, slow, config.window), slow)

    # Time to first character after a 256-character prompt, in the default 320-character window.
    first_config = ModelConfig() if not args.checkpoint else config
    first_runtime = Runtime(
        first_config, arrays if args.checkpoint else get_arrays(build_model(first_config))
    )
    long_prompt = prompt_ids(min(256, first_config.window - 1))
    first = min(cached(first_runtime, long_prompt, 1)[1] for _ in range(5))

    same = fast_out[:slow] == nocache_out == predict_out == compiled_out
    print(
        f"model: window {config.window}, {config.n_layers} layers, d_model {config.d_model};"
        f" prompt {len(ids)} chars, {chars} generated, greedy"
    )
    print(f"cached numpy runtime    {fast:9.0f} chars/s")
    print(f"numpy, no cache         {nocache:9.0f} chars/s   cached is x{fast / nocache:.1f}")
    print(f"keras predict per char  {predict:9.1f} chars/s   cached is x{fast / predict:.0f}")
    print(f"tf.function loop        {compiled:9.1f} chars/s   cached is x{fast / compiled:.1f}")
    print(f"first character after a {len(long_prompt)}-char prompt: {first * 1000:.1f} ms")
    print(f"outputs identical: {same}  ({decode(fast_out[:32])!r}...)")
    if not same:
        sys.exit("outputs differ between implementations")


if __name__ == "__main__":
    main()
