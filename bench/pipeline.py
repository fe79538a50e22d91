"""What the input pipeline buys: training steps fed by tf.data against a Python generator.

    python bench/pipeline.py [--knowledge knowledge] [--pipeline-steps 60]

Times `--pipeline-steps` steps of the default model fed two ways: the tf.data pipeline used by
training (rows prepared once, batched by TensorFlow) against a Python generator that builds each
batch in Python at every step, and prints the ratio. (`bench/train.py` times whole trainings.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pipeline_comparison(knowledge: Path, steps: int) -> tuple[float, float]:
    """Seconds per step with tf.data over prepared rows vs a per-step Python generator."""
    import numpy as np
    import tensorflow as tf

    from tinychat.config import load_config
    from tinychat.examples import make_rows
    from tinychat.indexing import build_index
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

    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    rows = make_rows(chunks, [c.text for c in chunks], index, config, steps * batch, seed=0)
    prepared = (
        tf.data.Dataset.from_tensor_slices((rows.inputs, rows.targets, rows.weights))
        .repeat()
        .batch(batch, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )  # as train.py

    def python_batches():
        seed = 1
        while True:  # every batch built in Python at the moment it is needed
            fresh = make_rows(chunks, [c.text for c in chunks], index, config, batch, seed=seed)
            seed += 1
            yield fresh.inputs, fresh.targets, fresh.weights

    shape = tf.TensorSpec((batch, config.model.window), tf.int32)
    generated = tf.data.Dataset.from_generator(
        python_batches,
        output_signature=(shape, shape, tf.TensorSpec((batch, config.model.window), tf.float32)),
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
    args = parser.parse_args()
    prepared, generated = pipeline_comparison(args.knowledge, args.pipeline_steps)
    print(
        f"tf.data over prepared rows {prepared * 1000:.0f} ms/step,"
        f" Python generator {generated * 1000:.0f} ms/step: x{generated / prepared:.2f}"
    )


if __name__ == "__main__":
    main()
