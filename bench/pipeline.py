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


def default_model_and_index(knowledge: Path):
    """The default config, the folder's chunks, a TF-IDF index over them and the default model
    compiled for training."""
    import numpy as np
    import tensorflow  # noqa: F401  ahead of tinychat.model: the order the figures were taken with

    from tinychat.config import load_config
    from tinychat.retrieval import build_retriever
    from tinychat.knowledge import Knowledge
    from tinychat.model import build_model

    config = load_config(ROOT / "tinychat.yaml")
    knowledge_files = Knowledge(knowledge, config.knowledge)
    knowledge_files.refresh()
    chunks = knowledge_files.chunks
    model = build_model(config.model)
    index = build_retriever("tfidf", chunks, np.asarray(model.token_embedding.embeddings.numpy()))

    import keras  # after tinychat.model, which chooses the backend

    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    return config, chunks, index, model


def prepared_dataset(config, chunks, index, steps: int):
    """Rows for `steps` batches made once up front, batched by tf.data (as train.py)."""
    import tensorflow as tf

    from tinychat.examples import make_rows

    batch = config.train.batch_size
    rows = make_rows(chunks, [c.text for c in chunks], index, config, steps * batch, seed=0)
    return (
        tf.data.Dataset.from_tensor_slices((rows.inputs, rows.targets, rows.weights))
        .repeat()
        .batch(batch, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def generated_dataset(config, chunks, index):
    """Batches made in Python by a generator, each at the moment it is needed."""
    import tensorflow as tf

    from tinychat.examples import make_rows

    batch = config.train.batch_size

    def python_batches():
        seed = 1
        while True:  # every batch built in Python at the moment it is needed
            fresh = make_rows(chunks, [c.text for c in chunks], index, config, batch, seed=seed)
            seed += 1
            yield fresh.inputs, fresh.targets, fresh.weights

    shape = tf.TensorSpec((batch, config.model.window), tf.int32)
    return tf.data.Dataset.from_generator(
        python_batches,
        output_signature=(shape, shape, tf.TensorSpec((batch, config.model.window), tf.float32)),
    )


def seconds_per_step(model, dataset, steps: int) -> float:
    """Mean seconds of `steps` training steps on `dataset`, after 3 steps to warm up."""
    model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)  # warm up
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return (time.perf_counter() - start) / steps


def pipeline_comparison(knowledge: Path, steps: int) -> tuple[float, float]:
    """Seconds per step with tf.data over prepared rows vs a per-step Python generator."""
    config, chunks, index, model = default_model_and_index(knowledge)
    prepared = prepared_dataset(config, chunks, index, steps)
    generated = generated_dataset(config, chunks, index)
    return seconds_per_step(model, prepared, steps), seconds_per_step(model, generated, steps)


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
