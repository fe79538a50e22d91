"""Training speed: the default training on the bundled knowledge, and what the input pipeline buys.

    python bench/train.py [--knowledge knowledge] [--pipeline-steps 60]

1. Runs `tinychat train --fresh` with the default configuration in a temporary state folder
   and prints its wall time (against the 5-minute budget) and training chars/s.
2. Times `--pipeline-steps` steps of the same model fed two ways: the tf.data pipeline used
   by training (rows prepared once, batched by TensorFlow) against a Python generator that
   builds each batch in Python at every step, and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET_SECONDS = 300


def full_training(knowledge: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as state:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tinychat", "--config", str(ROOT / "tinychat.yaml"), "--knowledge",
                        str(knowledge), "--state", state, "train", "--fresh"],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wall = time.perf_counter() - start
        from tinychat import checkpoint

        metrics = checkpoint.load(checkpoint.weights_path(Path(state))).meta["metrics"]
    return {"wall_s": wall, **metrics}


def pipeline_comparison(knowledge: Path, steps: int) -> tuple[float, float]:
    """Seconds per step with tf.data over prepared rows vs a per-step Python generator."""
    import numpy as np
    import tensorflow as tf

    from tinychat.config import load_config
    from tinychat.examples import make_rows
    from tinychat.index_cache import build_index
    from tinychat.knowledge import Knowledge
    from tinychat.model import build_model

    config = load_config(ROOT / "tinychat.yaml")
    knowledge_files = Knowledge(knowledge, config.knowledge)
    knowledge_files.refresh()
    chunks = knowledge_files.chunks
    model = build_model(config.model)
    index = build_index("tfidf", chunks, np.asarray(model.token_embedding.embeddings.numpy()))
    batch = config.train.batch_size

    import keras

    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    rows = make_rows(chunks, [c.text for c in chunks], index, config, steps * batch, seed=0)
    prepared = (tf.data.Dataset.from_tensor_slices((rows.inputs, rows.targets, rows.weights))
                .repeat().batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE))  # as train.py

    def python_batches():
        seed = 1
        while True:  # every batch built in Python at the moment it is needed
            fresh = make_rows(chunks, [c.text for c in chunks], index, config, batch, seed=seed)
            seed += 1
            yield fresh.inputs, fresh.targets, fresh.weights

    shape = tf.TensorSpec((batch, config.model.window), tf.int32)
    generated = tf.data.Dataset.from_generator(
        python_batches, output_signature=(shape, shape, tf.TensorSpec((batch, config.model.window), tf.float32))
    )
    timings = []
    for dataset in (prepared, generated):
        model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)  # warm up
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        timings.append((time.perf_counter() - start) / steps)
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, default=ROOT / "knowledge")
    parser.add_argument("--pipeline-steps", type=int, default=60)
    parser.add_argument("--skip-full", action="store_true", help="only the pipeline comparison")
    args = parser.parse_args()

    if not args.skip_full:
        result = full_training(args.knowledge)
        print(f"default training: {result['steps']} steps, wall {result['wall_s']:.0f} s"
              f" (budget {BUDGET_SECONDS} s: x{result['wall_s'] / BUDGET_SECONDS:.2f}),"
              f" fit {result['seconds']:.0f} s, {result['chars_per_second'] / 1000:.1f}k chars/s,"
              f" final loss {result['final_loss']:.3f}")  # fmt: skip
        print(json.dumps(result))
    prepared, generated = pipeline_comparison(args.knowledge, args.pipeline_steps)
    print(f"tf.data over prepared rows {prepared * 1000:.0f} ms/step, Python generator {generated * 1000:.0f} ms/step:"
          f" x{generated / prepared:.2f}")


if __name__ == "__main__":
    main()
