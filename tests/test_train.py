"""Training: a few steps lower the loss; the same seed gives the same weights; retraining continues."""

from __future__ import annotations

import io
import math
import os

import numpy as np

from tests.conftest import tiny_config, write_notes
from tinychat import checkpoint
from tinychat.knowledge import open_knowledge
from tinychat.progress import Progress


def run(config, fresh=True, steps=None):
    from tinychat.train import train

    knowledge = open_knowledge(config)
    knowledge.refresh()
    result = train(config, knowledge, fresh=fresh, steps=steps, progress=Progress(1, 1, stream=io.StringIO()))
    return result, checkpoint.load(checkpoint.weights_path(config.paths.state))


def test_training_lowers_the_loss_and_is_repeatable(tmp_path, trained):
    config, first = trained
    uniform = math.log(97)
    assert first.meta["metrics"]["final_loss"] < uniform - 0.5  # 30 steps already learn something
    assert first.meta["metrics"]["heldout_bpc_context"] < first.meta["metrics"]["heldout_bpc_no_context"] + 1.0
    # the same seed and knowledge, trained again elsewhere, give the same weights
    write_notes(tmp_path / "notes")
    _, again = run(tiny_config(tmp_path))
    for name, array in first.arrays.items():
        assert np.allclose(array, again.arrays[name], atol=1e-5), name


def test_continuing_starts_from_the_current_weights(tmp_path):
    write_notes(tmp_path / "notes")
    config = tiny_config(tmp_path)
    first, _ = run(config, steps=5)
    second, model = run(config, fresh=False)
    assert not first.warm_start and second.warm_start and second.steps == config.train.retrain_steps
    assert model.meta["metrics"]["final_loss"] < first.final_loss
    knowledge = open_knowledge(config)
    knowledge.refresh()
    assert model.fingerprint == knowledge.fingerprint() and len(model.fingerprint) == 64


def test_a_state_folder_that_cannot_be_written_is_said_before_training(tmp_path, monkeypatch):
    """Not after a full training, when the weights cannot be saved (tests run as root, whom
    chmod does not stop: the refusals are made by hand)."""
    import errno
    import tempfile

    import pytest

    from tinychat import progress
    from tinychat.errors import TinychatError
    from tinychat.weights import run_training

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
        patch.setattr(os, "open", lambda path, *rest: refuse() if str(path).endswith("train.lock")
                      else real_open(path, *rest))
        with pytest.raises(TinychatError, match=r"state: cannot write in the state folder \(Perm"):
            run_training(config, fresh=True)
