"""Train the model on the knowledge folder and write the checkpoint. Imports TensorFlow.

The sections follow one run, top to bottom: data (knowledge chunks -> training rows ->
tf.data), model (its starting weights, its optimizer), resume (a stopped run's state), fit
(with progress and an early stop), measure (bits per answer character on questions about
sentences kept out of training) and save (the checkpoint, written atomically); `train`, last,
runs them in that order. Only imported when training is needed, so chatting with trained
weights never pays for TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np

# first: imports TensorFlow quietly
from tinychat.model import AnswerRows, build_model, get_arrays, set_arrays

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tinychat import checkpoint  # noqa: E402
from tinychat.config import Config  # noqa: E402
from tinychat.errors import TinychatError  # noqa: E402
from tinychat.examples import make_rows, qa_example  # noqa: E402
from tinychat.knowledge import Knowledge  # noqa: E402
from tinychat.progress import Progress  # noqa: E402
from tinychat.prompt import build_prompt  # noqa: E402
from tinychat import resume  # noqa: E402
from tinychat.retrieval import Retriever, build_retriever  # noqa: E402
from tinychat.sentences import Chunk  # noqa: E402
from tinychat.vocab import encode  # noqa: E402

# past this rows repeat (new shuffles): each is Python work done before fit can start
MAX_UNIQUE_ROWS = 4_096
REPORT_EVERY = 50  # steps between loss reports and held-out checks (Keras's "epoch")
# Sentences kept out of training, to measure on: this share of them, at most this many, and
# none from a folder of fewer sentences than this.
HELD_OUT_SHARE, HELD_OUT_MAX, HELD_OUT_MIN_NOTES = 0.1, 24, 20
# stop when a check lowers the held-out answers' bits/char by less than a quarter ...
STOP_GAIN = 0.25
MIN_STEPS = 150  # ... but a new model never before this many steps


@dataclasses.dataclass(frozen=True)
class TrainResult:
    steps: int
    seconds: float
    final_loss: float
    chars_per_second: float
    warm_start: bool
    # Bits per answer character on questions about sentences kept out of training (or, in a
    # folder too small to keep any out, about the trained ones), with their context and without.
    heldout_bpc_context: float
    heldout_bpc_no_context: float


@dataclasses.dataclass(frozen=True)
class _Run:
    """What a training run decided before its first step; every section below reads it."""

    config: Config
    steps: int  # the run's length, counted from its step 0
    first_step: int  # steps a stopped run had done before this fit (0 for a new run)
    warm: bool  # continues from the current checkpoint's weights
    identity: dict[str, Any]  # what saved progress must match to be resumed (`resume`)
    progress: Progress


# ---------------------------------------------------------------------------- data


def split_held_out(chunks: list[Chunk], seed: int) -> tuple[list[Chunk], list[Chunk]]:
    """(sentences to train on, sentences kept out to measure on): a tenth, at most HELD_OUT_MAX,
    none for a folder of fewer than HELD_OUT_MIN_NOTES sentences (it needs them all)."""
    if len(chunks) < HELD_OUT_MIN_NOTES:
        return chunks, []
    count = min(HELD_OUT_MAX, max(1, int(len(chunks) * HELD_OUT_SHARE)))
    held = set(
        np.random.default_rng(seed + 7).choice(len(chunks), size=count, replace=False).tolist()
    )
    return [c for i, c in enumerate(chunks) if i not in held], [
        c for i, c in enumerate(chunks) if i in held
    ]


def _file_text(knowledge: Knowledge, path: str) -> str:
    """A file's text for raw-text rows: its chunks, one per line (already read and normalised)."""
    return "\n".join(chunk.text for chunk in knowledge.files[path].chunks)


def _training_data(
    run: _Run, knowledge: Knowledge, trained_on: list[Chunk], index: Retriever
) -> tf.data.Dataset:
    """Rows of raw text and of questions as the chat prompts them, in endless shuffled batches."""
    config, batch = run.config, run.config.train.batch_size
    texts = [_file_text(knowledge, path) for path in sorted(knowledge.files)]
    count = min(run.steps * batch, MAX_UNIQUE_ROWS)
    rows = make_rows(
        trained_on,
        texts,
        index,
        config,
        count,
        config.train.seed,
        on_rows=lambda done: run.progress.phase(f"making training examples {done:,}/{count:,}"),
    )
    asked = answer_rows(rows.weights)
    targets, weights = (np.take_along_axis(a, asked, axis=1) for a in (rows.targets, rows.weights))
    return (
        tf.data.Dataset.from_tensor_slices(((rows.inputs, asked), targets, weights))
        .shuffle(len(rows.inputs), seed=config.train.seed)
        .repeat()
        .batch(batch, drop_remainder=True)
        .skip(run.first_step)  # a resumed run sees the batches an unbroken one would have seen next
        .prefetch(tf.data.AUTOTUNE)
    )


def answer_rows(weights: np.ndarray) -> np.ndarray:
    """(N, R) int32: the positions each row learns from, the R ending at its last weighted one;
    R is the longest weighted span of any row. With the loss on answers only, R is an answer's
    length, a quarter of the window: the copy path's (T, T) work shrinks to (R, T)."""
    weighted = weights > 0
    window = weights.shape[1]
    first = np.where(weighted.any(axis=1), weighted.argmax(axis=1), 0)
    end = np.where(weighted.any(axis=1), window - weighted[:, ::-1].argmax(axis=1), 1)
    span = max(1, int((end - first).max()))
    start = np.clip(end - span, 0, window - span)
    return (start[:, None] + np.arange(span)).astype(np.int32)


# ---------------------------------------------------------------------------- model


def _start_from_previous(
    model, config: Config, fresh: bool, on_notice: Callable[[str], None]
) -> tuple[bool, str]:
    """Load the current checkpoint's weights into `model` unless `fresh`: (warm, when the
    weights were trained). An unusable checkpoint just means a start from scratch."""
    path = checkpoint.weights_path(config.paths.state)
    if fresh or not path.is_file():
        return False, ""
    try:
        previous = checkpoint.load(path, expected=config.model)
        set_arrays(model, previous.arrays)
        return True, resume.base_of(previous)
    except Exception as error:  # noqa: BLE001  any unusable checkpoint just means a fresh start
        on_notice(f"starting from scratch: {error}")
        return False, ""


def _compile(learner: AnswerRows, run: _Run) -> None:
    """Adam with a warmup and a cosine decay; a warm start learns at 0.3 times the rate."""
    learning_rate = run.config.train.learning_rate * (0.3 if run.warm else 1.0)
    warmup = max(1, min(100, run.steps // 10))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(1, run.steps - warmup),
        warmup_target=learning_rate,
        warmup_steps=warmup,
        alpha=0.1,
    )
    learner.compile(
        optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0),
        # Outputs are log-probabilities; the mean is over weighted characters only, so the loss
        # shown is per character (Keras's default divides by padding and prompt positions too).
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        jit_compile=False,  # XLA measured no faster for a model this small, and compiles slowly
    )
    # Adam's variables made now, not inside fit's first step: a tf.function that creates
    # variables is traced a second time, which was a third of a short training.
    learner.optimizer.build(learner.trainable_variables)


# ---------------------------------------------------------------------------- resume


def _restore(learner: AnswerRows, saved: resume.SavedProgress) -> None:
    """Weights and optimizer state (Adam's moments, its step count) as they were saved."""
    # the optimizer's variables exist: _compile built them
    set_arrays(learner.transformer, saved.weights)
    variables = learner.optimizer.variables
    if len(variables) != len(saved.optimizer):
        raise TinychatError(
            "saved training progress does not match this optimizer; delete"
            f" {resume.PROGRESS_NAME} in the state folder to start over"
        )
    for variable, value in zip(variables, saved.optimizer):
        variable.assign(value)


# ---------------------------------------------------------------------------- fit


class _ProgressCallback(keras.callbacks.Callback):
    """Feeds Keras's per-batch logs to a `Progress` display; saves progress to resume from
    every `resume.SAVE_EVERY` steps, and stops (saving first) once `stop` is set."""

    def __init__(self, progress: Progress, steps_per_epoch: int, first_step: int, save, stop):
        super().__init__()
        self.progress, self.steps_per_epoch, self.epoch = progress, steps_per_epoch, 0
        self.first_step = first_step  # steps done before this fit (a resumed run)
        self.save: Callable[[int], None] = save
        self.stop: threading.Event = stop
        self.stopped_at = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.first_step + self.epoch * self.steps_per_epoch + batch + 1
        self.progress.update(step, float((logs or {}).get("loss", math.nan)))
        if self.stop.is_set():
            self.save(step)
            self.stopped_at = step
            self.model.stop_training = True  # Keras ends fit after this batch
        elif step % resume.SAVE_EVERY == 0 and step < self.progress.total:
            self.save(step)
        if step == self.progress.total:
            # Keras takes a while to return from fit after the last step: say so rather than
            # sit still at "0:00 left".
            self.progress.phase("finishing: the last step is done")


class _EarlyStop(keras.callbacks.Callback):
    """Every REPORT_EVERY steps, bits/char of answers about sentences kept out of training; stops
    when they no longer fall by STOP_GAIN: the model copies what it has never seen, it has
    learned. A warm start has learned already: its bits before the first step are the mark the
    first check must beat, and it may stop there (MIN_STEPS guards a new model's first steps)."""

    def __init__(
        self,
        held_out: "_Examples | None",
        steps_per_epoch: int,
        first_step: int = 0,
        enabled: bool = True,
        progress: "Progress | None" = None,
        warm: bool = False,
    ):
        super().__init__()
        self.held_out, self.steps_per_epoch, self.first_step = held_out, steps_per_epoch, first_step
        self.enabled, self.progress, self.warm = enabled, progress, warm
        self.min_steps = 0 if warm else MIN_STEPS
        self.bits: list[float] = []

    def on_train_begin(self, logs=None):
        if self.warm and self.enabled and self.held_out is not None:
            self.bits.append(self.held_out.bits(self.model))

    def on_epoch_end(self, epoch, logs=None):
        if self.held_out is None or not (self.enabled or epoch + 1 == self.params.get("epochs")):
            return  # measured every check when it may stop training, else once at the end
        self.bits.append(self.held_out.bits(self.model))
        steps = self.first_step + (epoch + 1) * self.steps_per_epoch
        learned = len(self.bits) >= 2 and self.bits[-1] > (1 - STOP_GAIN) * self.bits[-2]
        if self.enabled and steps >= self.min_steps and learned:
            self.model.stop_training = True
            if self.progress is not None:
                self.progress.phase(
                    f"finishing: answers about unseen sentences stopped improving at step {steps}"
                )


@dataclasses.dataclass(frozen=True)
class _Fitted:
    """How a fit ended."""

    steps: int  # the step it ended at: fewer than planned when it stopped early
    final_loss: float
    bits: list[float]  # held-out bits/char per answer character at each check, with context


def _fit(
    learner: AnswerRows,
    dataset: tf.data.Dataset,
    run: _Run,
    measured_on: list[Chunk],
    index: Retriever,
    early_stop: bool,
    stop: threading.Event,
) -> _Fitted:
    """Keras `fit`, drawing progress, saving it to resume from and stopping early when answers
    about `measured_on` stop improving. Raises resume.TrainingStopped once `stop` is set."""
    config, progress = run.config, run.progress

    def save_progress(step: int) -> None:
        optimizer = [np.asarray(variable.numpy()) for variable in learner.optimizer.variables]
        weights = get_arrays(learner.transformer)
        resume.save_progress(config.paths.state, run.identity, step, weights, optimizer)

    remaining = run.steps - run.first_step
    steps_per_epoch = _largest_divisor_at_most(remaining, REPORT_EVERY)
    progress.start(run.steps, run.first_step)
    callback = _ProgressCallback(progress, steps_per_epoch, run.first_step, save_progress, stop)
    stopper = _EarlyStop(
        held_out_examples(measured_on, index, config),
        steps_per_epoch,
        run.first_step,
        enabled=early_stop,
        progress=progress,
        warm=run.warm,
    )
    history = learner.fit(
        dataset,
        epochs=remaining // steps_per_epoch,
        steps_per_epoch=steps_per_epoch,
        verbose=0,
        shuffle=False,  # the tf.data pipeline shuffles
        callbacks=[callback, stopper],
    )
    if callback.stopped_at:
        progress.cancelled()
        raise resume.TrainingStopped(callback.stopped_at, run.steps)
    losses = history.history["loss"]
    steps = run.first_step + len(losses) * steps_per_epoch  # fewer when it stopped early
    return _Fitted(steps, float(losses[-1]), stopper.bits)


def _largest_divisor_at_most(number: int, limit: int) -> int:
    return max(d for d in range(1, min(number, limit) + 1) if number % d == 0)


# ---------------------------------------------------------------------------- measure


@dataclasses.dataclass(frozen=True)
class _Examples:
    """Prompts and answers as model rows, with a mask on each answer's characters and its
    newline."""

    inputs: np.ndarray  # (N, window) ids
    targets: np.ndarray  # (N, window) the next ids
    mask: np.ndarray  # (N, window) True where the target is part of the answer

    @classmethod
    def of(cls, prompts: list[str], answers: list[str], window: int) -> "_Examples":
        inputs = np.zeros((len(prompts), window), np.int32)
        targets = np.zeros((len(prompts), window), np.int32)
        mask = np.zeros((len(prompts), window), bool)
        for row, (prompt, answer) in enumerate(zip(prompts, answers)):
            ids = encode(prompt + answer + "\n")[: window + 1]
            length = len(ids) - 1
            inputs[row, :length], targets[row, :length] = ids[:-1], ids[1:]
            mask[row, len(encode(prompt)) - 1 : length] = True  # from the last prompt character on
        return cls(inputs, targets, mask)

    def bits(self, learner: AnswerRows) -> float:
        """Bits per answer character the model needs (predict_on_batch: compiled, unlike
        model(x)), asked at the answers' positions only."""
        asked = answer_rows(self.mask)
        # (N, R, V), natural log
        log_probs = np.asarray(learner.predict_on_batch((self.inputs, asked)))
        targets = np.take_along_axis(self.targets, asked, axis=1)
        picked = np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
        return float(-picked[np.take_along_axis(self.mask, asked, axis=1)].mean() / math.log(2))


def held_out_examples(
    chunks: list[Chunk], index, config: Config, without_context: bool = False
) -> "_Examples | None":
    """Questions about `chunks` (kept out of training), as the chat would prompt them, or with
    an empty [CONTEXT]."""
    rng = np.random.default_rng(config.train.seed + 1_000_003)
    examples = [qa_example(chunk, chunks, index, config, rng) for chunk in chunks]
    examples = [e for e in examples if e is not None]
    if not examples:
        return None
    window, room = config.model.window, config.generation.max_answer_chars
    prompts = [
        build_prompt([], e.query, window, room).text if without_context else e.prompt
        for e in examples
    ]
    return _Examples.of(prompts, [e.answer for e in examples], window)


def _measure(
    learner: AnswerRows, run: _Run, fitted: _Fitted, measured_on: list[Chunk], index: Retriever
) -> TrainResult:
    """Time and speed, the final loss, and held-out bits/char with their context and without."""
    config, progress = run.config, run.progress
    # One measure of time and speed per run: the bar's, which the summary and metrics repeat.
    seconds = progress.elapsed()
    progress.total = fitted.steps  # the summary says how many steps ran
    # Window positions through the model per second, as the bar counts them.
    positions = (fitted.steps - run.first_step) * config.train.batch_size * config.model.window
    progress.phase("measuring answers without their context")  # a few seconds with the bar at 0:00
    bare = held_out_examples(measured_on, index, config, without_context=True)
    with_context = fitted.bits[-1] if fitted.bits else math.nan
    without_context = bare.bits(learner) if bare is not None else math.nan
    return TrainResult(
        fitted.steps,
        seconds,
        fitted.final_loss,
        positions / seconds,
        run.warm,
        with_context,
        without_context,
    )


def _summarize(progress: Progress, result: TrainResult, held_out: list[Chunk]) -> None:
    """The summary that replaces the progress bar."""
    about = (
        f"{len(held_out)} sentences kept out of training"
        if held_out
        else "the trained sentences (too few to keep any out)"
    )
    progress.finish(
        result.final_loss,
        result.seconds,
        result.chars_per_second,
        [
            (
                f"new questions about {about}: the model gave each answer character"
                f" {_sure(result.heldout_bpc_context)} on average with the notes in its context,"
                f" {_sure(result.heldout_bpc_no_context)} without (the gap is how much it reads"
                " the notes)"
            ),
        ],
    )


def _sure(bits: float) -> str:
    """Bits per character as the probability they mean: 0.02 bits is '99%', 7.7 bits '0.5%'."""
    probability = 2.0**-bits if bits == bits else math.nan
    if probability != probability:
        return "?"
    return f"{probability:.0%}" if probability >= 0.1 else f"{probability:.1%}"


# ---------------------------------------------------------------------------- save


def _save(model, config: Config, knowledge: Knowledge, result: TrainResult) -> None:
    """The checkpoint, with what it was trained on and how; the run's saved progress goes."""
    meta = {
        "knowledge": {
            "fingerprint": knowledge.fingerprint(),
            "files": len(knowledge.files),
            "chunks": len(knowledge.chunks),
            "manifest": knowledge.manifest_hashes(),
        },
        "train": dataclasses.asdict(config.train),
        "retriever": config.retrieval.retriever,
        "metrics": dataclasses.asdict(result),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = checkpoint.weights_path(config.paths.state)
    checkpoint.save(path, config.model, get_arrays(model), meta)
    resume.discard(config.paths.state)  # finished: nothing left to resume


# ---------------------------------------------------------------------------- the run


def train(
    config: Config,
    knowledge: Knowledge,
    fresh: bool = False,
    steps: int | None = None,
    progress: Progress | None = None,
    on_notice: Callable[[str], None] = lambda message: None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train on `knowledge` and save the checkpoint in the state folder.

    Continues from the current weights (at most `train.retrain_steps`, lower learning rate) when a
    checkpoint of the same model config exists and `fresh` is false; else starts from scratch.
    Saved progress of the same run (`resume`) is picked up where it stopped. Setting `stop`
    saves progress and raises `resume.TrainingStopped`; Ctrl-C raises KeyboardInterrupt. Either
    way the previous weights stay.
    """
    keras.utils.set_random_seed(config.train.seed)
    chunks = knowledge.chunks
    if not chunks:
        raise TinychatError(
            f"{knowledge.folder}: no text to train on; add .txt or .md files with sentences"
        )
    model = build_model(config.model)
    warm, base = _start_from_previous(model, config, fresh, on_notice)
    steps = steps or (config.train.retrain_steps if warm else config.train.steps)
    identity = resume.run_identity(config, knowledge.fingerprint(), steps, warm, base)
    saved = resume.load_progress(config.paths.state, identity, on_notice)
    per_step = config.train.batch_size * config.model.window  # characters through the model
    progress = progress or Progress(steps, chars_per_step=per_step)
    run = _Run(config, steps, saved.step if saved else 0, warm, identity, progress)

    embedding = np.asarray(model.token_embedding.embeddings.numpy())
    index = build_retriever(config.retrieval.retriever, chunks, embedding)
    trained_on, held_out = split_held_out(chunks, config.train.seed)
    dataset = _training_data(run, knowledge, trained_on, index)
    learner = AnswerRows(model)
    _compile(learner, run)
    if saved:
        _restore(learner, saved)
        on_notice(f"resuming training from step {saved.step} of {steps}")

    measured_on = held_out or chunks  # a folder too small to keep sentences out: what it trained on
    early_stop = config.train.early_stop and bool(held_out)
    progress.at_most = early_stop
    fitted = _fit(learner, dataset, run, measured_on, index, early_stop, stop or threading.Event())
    result = _measure(learner, run, fitted, measured_on, index)
    _summarize(progress, result, held_out)
    _save(model, config, knowledge, result)
    return result
