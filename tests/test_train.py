"""Training: a few steps lower the loss; the same seed gives the same weights; retraining
continues."""

from __future__ import annotations

import io
import math
import os
import shutil

import numpy as np

from tests.conftest import tiny_config, write_notes
from tinychat import checkpoint
from tinychat.architecture import weight_shapes
from tinychat.knowledge import open_knowledge
from tinychat.progress import Progress


def run(config, fresh=True, steps=None):
    from tinychat.train import train

    knowledge = open_knowledge(config)
    knowledge.refresh()
    result = train(
        config, knowledge, fresh=fresh, steps=steps, progress=Progress(1, 1, stream=io.StringIO())
    )
    return result, checkpoint.load(checkpoint.weights_path(config.paths.state))


def test_training_lowers_the_loss_and_is_repeatable(tmp_path, trained):
    _, first = trained
    uniform = math.log(97)
    assert first.meta["metrics"]["final_loss"] < uniform - 0.5  # 30 steps already learn something
    assert (
        first.meta["metrics"]["heldout_bpc_context"]
        < first.meta["metrics"]["heldout_bpc_no_context"] + 1.0
    )
    # the same seed and knowledge, trained again elsewhere, give the same weights
    write_notes(tmp_path / "notes")
    _, again = run(tiny_config(tmp_path))
    for name, array in first.arrays.items():
        assert np.allclose(array, again.arrays[name], atol=1e-5), name


def test_continuing_starts_from_the_current_weights(trained, tmp_path):
    config, first = trained
    shutil.copytree(config.paths.knowledge.parent, tmp_path, dirs_exist_ok=True)
    config = tiny_config(tmp_path)
    second, model = run(config, fresh=False)
    assert not first.meta["metrics"]["warm_start"] and second.warm_start
    assert second.steps == config.train.retrain_steps
    assert model.meta["metrics"]["final_loss"] < first.meta["metrics"]["final_loss"]
    knowledge = open_knowledge(config)
    knowledge.refresh()
    assert model.fingerprint == knowledge.fingerprint() and len(model.fingerprint) == 64


def test_a_retrain_stops_once_its_answers_stop_improving(tmp_path):
    """A retrain from the current weights stops early as the first training does, measured from
    where those weights start: at a learning rate too small to change them, its first check
    (step 50) gains nothing on them, and it stops there rather than running retrain_steps."""
    import dataclasses

    rooms = {  # 24 sentences: enough to keep some out of training and check on them
        f"floor{floor}.txt": "".join(
            f"Room {floor}{room} has locker code {1000 + 37 * (4 * floor + room)}.\n"
            for room in range(4)
        )
        for floor in range(6)
    }
    write_notes(tmp_path / "notes", rooms)
    config = tiny_config(tmp_path)
    slow = dataclasses.replace(config.train, retrain_steps=100, batch_size=4, learning_rate=1e-6)
    config = dataclasses.replace(config, train=slow)
    run(config)
    second, _ = run(config, fresh=False)
    assert second.warm_start and second.steps == 50


def test_training_stops_when_answers_about_unseen_sentences_stop_improving():
    from tinychat.train import MIN_STEPS, _EarlyStop

    class Measured:  # held-out bits/char at each check, as training would give them
        def __init__(self, values):
            self.values = iter(values)

        def bits(self, model):
            return next(self.values)

    class Model:
        stop_training = False

    def stopped_after(values, enabled=True) -> int:
        stopper, model = _EarlyStop(Measured(values), 50, enabled=enabled), Model()
        stopper.set_model(model)
        stopper.set_params({"epochs": len(values)})
        for epoch in range(len(values)):
            stopper.on_epoch_end(epoch)
            if model.stop_training:
                return (epoch + 1) * 50
        return len(values) * 50

    assert (
        stopped_after([8.0, 4.0, 2.0, 1.0, 0.5, 0.49, 0.3]) == 300
    )  # 0.5 -> 0.49 gains under a quarter
    assert stopped_after([8.0, 7.9, 7.8, 7.7]) == MIN_STEPS  # never before MIN_STEPS, however flat
    assert (
        stopped_after([8.0, 4.0, 2.0, 1.0, 0.5, 0.49, 0.3], enabled=False) == 350
    )  # off: all the steps


def test_a_tenth_of_the_sentences_is_kept_out_of_training():
    from tinychat.knowledge import Chunk
    from tinychat.train import split_held_out

    chunks = [Chunk("a.txt", i, i, f"Sentence {i}.") for i in range(1, 51)]
    trained_on, held_out = split_held_out(chunks, 0)
    assert len(held_out) == 5 and not set(held_out) & set(trained_on) and len(trained_on) + 5 == 50
    assert split_held_out(chunks, 0) == (trained_on, held_out)  # the seed fixes them
    assert split_held_out(chunks[:10], 0) == (chunks[:10], [])  # too few to keep any out


def test_a_state_folder_that_cannot_be_written_is_said_before_training(tmp_path, monkeypatch):
    """Not after a full training, when the weights cannot be saved (tests run as root, whom
    chmod does not stop: the refusals are made by hand)."""
    import errno
    import tempfile

    import pytest

    from tinychat import progress
    from tinychat.errors import TinychatError
    from tinychat.startup import run_training

    write_notes(tmp_path / "notes")
    config = tiny_config(tmp_path)

    def never(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(progress.Progress, "__init__", never)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "train.lock").mkdir()
    with pytest.raises(TinychatError, match=r"train.lock: is a folder, not a lock file; remove it"):
        run_training(config, fresh=True)
    (tmp_path / "state" / "train.lock").rmdir()

    def refuse(*args, **kwargs):
        raise OSError(errno.EACCES, "Permission denied")

    with monkeypatch.context() as patch:  # the lock file exists, the folder is read-only
        patch.setattr(tempfile, "mkstemp", refuse)
        with pytest.raises(TinychatError, match=r"state: cannot write the weights there \(Perm"):
            run_training(config, fresh=True)
    (tmp_path / "state" / "train.lock").unlink()
    with monkeypatch.context() as patch:  # no lock file yet, and none can be made
        real_open = os.open
        patch.setattr(
            os,
            "open",
            lambda path, *rest: (
                refuse() if str(path).endswith("train.lock") else real_open(path, *rest)
            ),
        )
        with pytest.raises(TinychatError, match=r"state: cannot write in the state folder \(Perm"):
            run_training(config, fresh=True)


def test_a_stopped_training_resumes_where_it_stopped_and_ends_as_an_unbroken_one(tmp_path, trained):
    """Stop at step 12 (progress saved), train again: it resumes at 12, and the weights equal
    those of the same 30 steps run without a break (same batches, same optimizer state)."""
    import threading

    import pytest

    from tinychat import resume
    from tinychat.train import train

    config, unbroken = trained
    write_notes(tmp_path / "notes")
    config = tiny_config(tmp_path)
    knowledge = open_knowledge(config)
    knowledge.refresh()
    stop = threading.Event()

    class StopAt12(Progress):
        def update(self, step, loss):
            super().update(step, loss)
            if step == 12:
                stop.set()

    with pytest.raises(resume.TrainingStopped, match="step 12 of 30"):
        train(
            config, knowledge, fresh=True, stop=stop, progress=StopAt12(1, 1, stream=io.StringIO())
        )
    assert not checkpoint.weights_path(config.paths.state).exists()
    assert resume.progress_path(config.paths.state).is_file()
    notices: list[str] = []
    shown = io.StringIO()
    train(
        config,
        knowledge,
        fresh=True,
        on_notice=notices.append,
        progress=Progress(1, 1, stream=shown),
    )
    assert notices == ["resuming training from step 12 of 30"]
    assert "30 steps (resumed at 12) in" in shown.getvalue()
    assert not resume.progress_path(config.paths.state).exists()  # finished: nothing to resume
    model = checkpoint.load(checkpoint.weights_path(config.paths.state))
    for name, array in unbroken.arrays.items():
        assert np.allclose(array, model.arrays[name], atol=1e-4), name


def test_progress_of_another_run_is_ignored(tmp_path):
    from tinychat import resume

    write_notes(tmp_path / "notes")
    config = tiny_config(tmp_path)
    identity = resume.run_identity(config, "abc", 30, False, "")
    shapes = weight_shapes(config.model)
    weights = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    optimizer = [np.zeros(shape) for shape, _ in resume.optimizer_variables(config.model)]
    optimizer[0] = np.array(10, np.int64)  # Adam's step count
    resume.save_progress(config.paths.state, identity, 10, weights, optimizer)
    assert resume.saved_step(config.paths.state, identity) == 10
    assert resume.saved_step(config.paths.state, {**identity, "steps": 40}) == 0
    assert resume.saved_step(config.paths.state, {**identity, "fingerprint": "abd"}) == 0
    saved = resume.load_progress(config.paths.state, identity)
    assert saved.weights["token_embedding"].shape == weights["token_embedding"].shape


def test_one_time_and_speed_per_run(trained, trained_progress):
    """The bar's last line, the summary and the saved metrics give the same speed and time."""
    import re

    from tinychat.progress import format_seconds

    _, model = trained
    metrics = model.meta["metrics"]
    lines = trained_progress.splitlines()
    bar = [line for line in lines if line.startswith("training [")][-1]
    summary = next(line for line in lines if " steps in " in line)
    speed = f"{metrics['chars_per_second'] / 1000:.1f}k chars/s"
    assert bar.startswith("training [################] 30/30") and speed in bar, (bar, speed)
    assert f"30 steps in {format_seconds(metrics['seconds'])}, {speed}" in summary
    named = (
        r"new questions about the trained sentences \(too few to keep any out\): the model gave"
        r" each answer character \d+(\.\d)?% on average with the notes in its context"
    )
    assert re.search(named, trained_progress)


def test_an_early_stop_says_how_many_steps_ran(tmp_path, monkeypatch):
    """A folder large enough to keep sentences out: training stops early and the summary and
    the metrics give the steps that ran, not the most it could have run."""
    from tinychat import train as training

    notes = {
        f"n{i}.txt": f"The item {i} weighs {i * 7} grams and sits on shelf {i}.\n"
        for i in range(24)
    }
    write_notes(tmp_path / "notes", notes)
    config = tiny_config(tmp_path)
    monkeypatch.setattr(training, "MIN_STEPS", 10)
    monkeypatch.setattr(training, "REPORT_EVERY", 10)
    monkeypatch.setattr(training, "STOP_GAIN", 1.0)  # any check after MIN_STEPS stops it
    knowledge = open_knowledge(config)
    knowledge.refresh()
    shown = io.StringIO()
    result = training.train(
        config, knowledge, fresh=True, steps=60, progress=Progress(60, 1, shown)
    )
    assert result.steps == 20  # two checks: the second may stop it
    assert "training: 20 steps in" in shown.getvalue()
