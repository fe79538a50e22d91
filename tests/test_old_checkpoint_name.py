"""A state folder from an older tinychat holds `model.weights.h5`: on start it becomes
`checkpoint.h5`, said in one line, and its weights answer as before, never retrained."""

from __future__ import annotations

import os
import shutil

from tinychat import checkpoint
from tinychat.cli import main

QUESTION = "when does the ferry leave?"


def older_folder(trained, tmp_path):
    """The trained notes and weights as an older tinychat left them, and the options to use them."""
    config, _ = trained
    shutil.copytree(config.paths.knowledge, tmp_path / "notes")
    (tmp_path / "state").mkdir()
    shutil.copyfile(
        checkpoint.weights_path(config.paths.state), tmp_path / "state" / "model.weights.h5"
    )
    (tmp_path / "tinychat.yaml").write_text(  # the trained model's; a few steps, should it train
        "model: {window: 128}\ntrain: {steps: 5, batch_size: 8}\n"
        "generation: {max_answer_chars: 40}\n"
    )
    options = ["--config", "tinychat.yaml", "--knowledge", "notes", "--state", "state"]
    return tmp_path / "state", options


def test_an_older_checkpoint_is_renamed_once_and_answers(trained, tmp_path, capsys):
    state, options = older_folder(trained, tmp_path)
    weights = (state / "model.weights.h5").read_bytes()
    assert main([*options, "ask", QUESTION]) == 0
    out, err = capsys.readouterr()
    renamed = f"renamed {state / 'model.weights.h5'} to checkpoint.h5, the checkpoint's name now"
    assert err.splitlines() == [renamed] and out.strip()  # no training, one notice, an answer
    assert (state / "checkpoint.h5").read_bytes() == weights
    assert not (state / "model.weights.h5").exists()

    assert main([*options, "ask", QUESTION]) == 0
    assert capsys.readouterr().err == ""  # said once: the folder has the new name now
    # Both names present (an older tinychat ran again): the current one is read, the other kept.
    (state / "model.weights.h5").write_bytes(b"older")
    assert main([*options, "ask", QUESTION]) == 0
    assert capsys.readouterr().err == ""
    assert (state / "model.weights.h5").read_bytes() == b"older"
    assert (state / "checkpoint.h5").read_bytes() == weights


def test_a_checkpoint_that_cannot_be_renamed_is_said_and_kept(
    trained, tmp_path, capsys, monkeypatch
):
    state, options = older_folder(trained, tmp_path)

    def refuse(source, target):  # a read-only folder (tests run as root, whom chmod does not stop)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    assert main([*options, "ask", QUESTION]) == 1
    err = capsys.readouterr().err
    old = state / "model.weights.h5"
    assert err.startswith(f"tinychat: {old}: cannot rename it to checkpoint.h5")
    assert "rename it yourself" in err and len(err.splitlines()) == 1  # and nothing trained
    assert (state / "model.weights.h5").is_file() and not (state / "checkpoint.h5").exists()
