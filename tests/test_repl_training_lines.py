"""What the REPL says about training when it cannot start one: the state folder under a file,
another process already training there. Said when it happens, in the words `tinychat train`
uses, and answers are labelled for what they are."""

from __future__ import annotations

import dataclasses
import shutil

from tests.conftest import with_paths
from tests.test_repl import drive
from tinychat.chat import ChatSession
from tinychat.config import PathsConfig
from tinychat.startup import training_lock


def test_a_retrain_while_another_process_trains_is_refused_before_it_is_said_to_start(
    session, monkeypatch
):
    import tinychat.repl

    started = []
    monkeypatch.setattr(tinychat.repl, "Trainer", lambda *args, **kwargs: started.append(args))
    with training_lock(session.config.paths.state):  # as a `tinychat train` elsewhere holds it
        code, text = drive(session, "/retrain\n")
    assert code == 0 and started == []
    assert "is already training here; wait for it to finish, then /retrain" in text
    assert "training in the background" not in text


def test_a_state_folder_under_a_file_is_said_as_train_says_it_and_answers_are_not_training(
    trained, tmp_path
):
    config, _ = trained
    shutil.copytree(config.paths.knowledge, tmp_path / "notes")
    (tmp_path / "afile").write_text("hi\n")
    config = with_paths(config, tmp_path)
    paths = PathsConfig(knowledge=config.paths.knowledge, state=tmp_path / "afile" / "sub")
    session = ChatSession(dataclasses.replace(config, paths=paths), None)
    code, text = drive(session, "when does the ferry leave?\n")
    assert "sub: cannot write in the state folder (Not a directory)" in text
    assert "(no trained model yet: best matching sentence)" in text
    assert "still training" not in text
