"""Generation speed: the cached numpy runtime against three baselines, same weights, greedy.

    python bench/generate.py [--window 256] [--slow-chars 40] [--checkpoint CHECKPOINT]
                             [--questions 24]

Prints chars/s of (1) the numpy runtime with its key/value cache, (2) the same runtime
without a cache (the whole sequence recomputed for every character), (3) Keras
`model.predict` once per character, (4) a `tf.function` over a fixed window, the ratio of
(1) to each, and the time to the first character after a prompt that nearly fills the default
window: the prompt fed at once (`Runtime.prefill`, what the chat does) against one character at
a time (`Runtime.step`), and the ratio. All must produce the same text; the script fails if
they do not.

Then whole questions through `ChatSession` (retrieval, prompt, prefill, answer) on the bundled
knowledge with the default settings and trained weights: the checkpoint's, or a short training's
(a minute; its answers are shorter and rougher than a full training's). Per question: the chat
as it is, against the prompt fed one character at a time, and against a one-sentence context
(top-k 1), the same questions in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tinychat  # noqa: E402, F401  first: it sets numpy's BLAS to one thread before numpy loads
import numpy as np  # noqa: E402

from tinychat.config import Config, ModelConfig, PathsConfig, load_config  # noqa: E402
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
    runtime.prefill(ids[:-1])
    out = [int(np.argmax(runtime.step(int(ids[-1]))))]
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--window", type=int, default=256, help="model window; the prompt fills half of it"
    )
    parser.add_argument(
        "--slow-chars", type=int, default=40, help="characters for the slow baselines"
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="trained weights to use (default: fresh random weights, and a short training for"
        " the per-question figures)",
    )
    parser.add_argument(
        "--questions", type=int, default=24, help="questions for the per-question figures"
    )
    return parser.parse_args()


def load_weights(checkpoint_path: Path | None, window: int) -> tuple[ModelConfig, dict]:
    """The checkpoint's config and arrays, or fresh random weights for a model of `window`."""
    from tinychat import checkpoint
    from tinychat.model import build_model, get_arrays

    if checkpoint_path:
        trained = checkpoint.load(checkpoint_path)
        return trained.config, trained.arrays
    config = ModelConfig(window=window)
    return config, get_arrays(build_model(config))


def keras_model(config: ModelConfig, arrays: dict):
    from tinychat.model import build_model, set_arrays

    model = build_model(config)
    set_arrays(model, arrays)
    return model


def time_implementations(
    runtime: Runtime, model, ids: np.ndarray, chars: int, slow: int
) -> tuple[dict, dict]:
    """chars/s and output ids of each implementation, each warmed up first: the cached runtime
    generates `chars` characters, the slow baselines `slow`."""
    window = runtime.config.window
    rates, outputs = {}, {}
    cached(runtime, ids, 5)  # warm up
    outputs["cached"], _, rates["cached"] = cached(runtime, ids, chars)
    rates["no cache"], outputs["no cache"] = rate(lambda: uncached(runtime, ids, slow), slow)
    keras_predict(model, ids, 2, window)  # warm up (traces the predict function)
    rates["predict"], outputs["predict"] = rate(
        lambda: keras_predict(model, ids, slow, window), slow
    )
    tf_function_loop(model, ids, 2, window)  # warm up (traces)
    rates["tf.function"], outputs["tf.function"] = rate(
        lambda: tf_function_loop(model, ids, slow, window), slow
    )
    return rates, outputs


def first_character_seconds(
    config: ModelConfig, arrays: dict, from_checkpoint: bool
) -> tuple[int, float, float, bool]:
    """Prompt length, and the time to the first character after a prompt that fills the default
    window but an answer's room (the checkpoint's window when there is one), the prompt fed at
    once and one character at a time (best of 5 each), and whether both wrote the same
    character."""
    from tinychat.model import build_model, get_arrays

    first_config = ModelConfig() if not from_checkpoint else config
    runtime = Runtime(
        first_config, arrays if from_checkpoint else get_arrays(build_model(first_config))
    )
    long_prompt = prompt_ids(first_config.window - 64)
    at_once, by_step = [], []
    for _ in range(5):
        start = time.perf_counter()
        runtime.prefill(long_prompt[:-1])
        first = int(np.argmax(runtime.step(int(long_prompt[-1]))))
        at_once.append(time.perf_counter() - start)
        start = time.perf_counter()
        runtime.reset()
        for token in long_prompt:
            probs = runtime.step(int(token))
        by_step.append(time.perf_counter() - start)
    return len(long_prompt), min(at_once), min(by_step), first == int(np.argmax(probs))


# ---------------------------------------------------------------------------- whole questions


def trained_checkpoint(path: Path | None, state: Path):
    """The checkpoint at `path`, or one trained briefly on the bundled knowledge with the default
    model (into `state`)."""
    from tinychat import checkpoint

    if path:
        return checkpoint.load(path)
    from tinychat.knowledge import open_knowledge
    from tinychat.progress import Progress
    from tinychat.train import train

    config = bench_config(ModelConfig(), state)
    short = dataclasses.replace(config.train, steps=60, batch_size=16, early_stop=False)
    config = dataclasses.replace(config, train=short)
    knowledge = open_knowledge(config)
    knowledge.refresh()
    print("training briefly for the per-question figures ...", file=sys.stderr, flush=True)
    per_step = short.batch_size * config.model.window
    train(config, knowledge, fresh=True, progress=Progress(60, per_step, stream=sys.stderr))
    return checkpoint.load(checkpoint.weights_path(state))


def bench_config(model: ModelConfig, state: Path) -> Config:
    """The default settings with `model`, reading the bundled knowledge, writing into `state`."""
    config = load_config(ROOT / "tinychat.yaml")
    paths = PathsConfig(knowledge=ROOT / "knowledge", state=state)
    return dataclasses.replace(config, model=model, paths=paths)


def step_by_step(runtime: Runtime):
    """A stand-in for `runtime.prefill` that feeds the prompt one character at a time."""

    def prefill(ids: np.ndarray) -> None:
        runtime.reset()
        for token in ids:
            runtime.step(int(token))

    return prefill


def per_question(session, questions: list[str]) -> tuple[float, list[str]]:
    """Median seconds a whole question takes (after one to warm up), and the answers."""
    session.ask(questions[0])
    seconds, answers = [], []
    for question in questions:
        start = time.perf_counter()
        answers.append(session.ask(question).text)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), answers


def whole_questions(checkpoint_path: Path | None, count: int) -> dict:
    """Per-question medians of the chat as it is, the prompt fed step by step, and top-k 1."""
    from tinychat.chat import ChatSession
    from tinychat.evaluate import load_questions

    questions = [q.q for q in load_questions(ROOT / "tests/data/knowledge_questions.yaml")][:count]
    with tempfile.TemporaryDirectory() as state:
        trained = trained_checkpoint(checkpoint_path, Path(state))
        session = ChatSession(bench_config(trained.config, Path(state)), trained)
        figures = {}
        figures["chat"], answers = per_question(session, questions)
        prefill = session.runtime.prefill
        session.runtime.prefill = step_by_step(session.runtime)
        figures["step by step"], by_step = per_question(session, questions)
        session.runtime.prefill = prefill
        session.top_k = 1
        figures["top-k 1"], _ = per_question(session, questions)
        top_k = session.config.retrieval.top_k
    figures["same"] = answers == by_step
    figures["answer chars"] = statistics.mean(len(answer) for answer in answers)
    figures["label"] = f"{len(questions)} questions, top-k {top_k}, window {trained.config.window}"
    return figures


def print_questions(figures: dict) -> None:
    chat, by_step, one = figures["chat"], figures["step by step"], figures["top-k 1"]
    print(
        f"per question ({figures['label']}, answers of {figures['answer chars']:.0f} chars on"
        f" average): {chat * 1000:.1f} ms; prompt fed a character at a time {by_step * 1000:.1f} ms"
        f" (x{by_step / chat:.1f}); one-sentence context (top-k 1) {one * 1000:.1f} ms"
        f" (the chat takes x{chat / one:.2f} as long)"
    )


def print_rates(config: ModelConfig, prompt: int, chars: int, rates: dict) -> None:
    """The model, then chars/s of each implementation and how many times faster cached is."""
    fast, nocache = rates["cached"], rates["no cache"]
    predict, compiled = rates["predict"], rates["tf.function"]
    print(
        f"model: window {config.window}, {config.n_layers} layers, d_model {config.d_model};"
        f" prompt {prompt} chars, {chars} generated, greedy"
    )
    print(f"cached numpy runtime    {fast:9.0f} chars/s")
    print(f"numpy, no cache         {nocache:9.0f} chars/s   cached is x{fast / nocache:.1f}")
    print(f"keras predict per char  {predict:9.1f} chars/s   cached is x{fast / predict:.0f}")
    print(f"tf.function loop        {compiled:9.1f} chars/s   cached is x{fast / compiled:.1f}")


def main() -> None:
    args = parse_args()
    config, arrays = load_weights(args.checkpoint, args.window)
    model = keras_model(config, arrays)
    runtime = Runtime(config, arrays)
    ids = prompt_ids(config.window // 2)
    chars = config.window - len(ids)  # generation fills the window: no sliding
    slow = args.slow_chars
    rates, outputs = time_implementations(runtime, model, ids, chars, slow)
    long_prompt, at_once, by_step, first_same = first_character_seconds(
        config, arrays, bool(args.checkpoint)
    )

    fast_out = outputs["cached"]
    same = fast_out[:slow] == outputs["no cache"] == outputs["predict"] == outputs["tf.function"]
    same = same and first_same
    print_rates(config, len(ids), chars, rates)
    print(
        f"first character after a {long_prompt}-char prompt: {at_once * 1000:.1f} ms fed at once,"
        f" {by_step * 1000:.1f} ms a character at a time (x{by_step / at_once:.1f})"
    )
    print(f"outputs identical: {same}  ({decode(fast_out[:32])!r}...)")
    if not same:
        sys.exit("outputs differ between implementations")
    figures = whole_questions(args.checkpoint, args.questions)
    print_questions(figures)
    if not figures["same"]:
        sys.exit("answers differ between the prompt fed at once and step by step")


if __name__ == "__main__":
    main()
