"""Training: a few steps lower the loss; the same seed gives the same weights; retraining continues."""

from __future__ import annotations

import io
import math

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
