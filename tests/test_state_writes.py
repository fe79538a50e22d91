"""Files tinychat writes in its state folder, and notes it reads through links.

Nothing is ever written through a link planted in the state folder, nor into a FIFO or a
device there: the trainer's log, the history, the training lock. A note is read through the
descriptor whose place was checked, so a link switched to a file outside the notes between
the scan and the read is not followed there. A full disk while the weights are saved is one
line, and the previous weights stay.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import finishes, tiny_config, write_notes
from tinychat import knowledge as knowledge_module
from tinychat.config import KnowledgeConfig
from tinychat.errors import TinychatError
from tinychat.knowledge import Knowledge

KEEP = "a line the user keeps\n"


def victim(tmp_path: Path) -> Path:
    """A file outside the state folder that a planted link points at."""
    path = tmp_path / "victim.txt"
    path.write_text(KEEP)
    return path


class StubProcess:
    """What `subprocess.Popen` returns, for a trainer whose child never needs to run."""

    def __init__(self, argv, stdin, stdout, stderr, **options):
        self.stderr_given = stderr
        self.stdin = io.BytesIO()
        self.stdout = io.BytesIO(b"")
        self.pid = 1
        self.returncode = 0

    def wait(self, timeout=None):
        return 0

    def poll(self):
        return 0


@pytest.fixture
def stub_child(monkeypatch):
    from tinychat import trainer

    started: list[StubProcess] = []

    def popen(*args, **kwargs):
        started.append(StubProcess(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(trainer.subprocess, "Popen", popen)
    return started


def test_a_trainer_log_that_is_a_link_leaves_its_target_untouched(tmp_path, stub_child):
    from tinychat.trainer import Trainer

    config = tiny_config(tmp_path)
    config.paths.state.mkdir()
    target = victim(tmp_path)
    (config.paths.state / "trainer.log").symlink_to(target)
    trainer = Trainer(config, fresh=True).start()
    trainer.reader.join(5)
    assert target.read_text() == KEEP
    assert any("trainer.log" in notice and "link" in notice for notice in trainer.notices)


def test_a_trainer_log_that_is_a_fifo_does_not_stop_the_training_from_starting(
    tmp_path, stub_child
):
    from tinychat.trainer import Trainer

    config = tiny_config(tmp_path)
    config.paths.state.mkdir()
    fifo = config.paths.state / "trainer.log"
    os.mkfifo(fifo)
    try:
        trainer = finishes(lambda: Trainer(config, fresh=True).start(), seconds=5)
    finally:  # a reader, so that an open blocked on the FIFO returns and its thread ends
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    assert stub_child and stub_child[0].stderr_given == subprocess.DEVNULL
    assert any("FIFO" in notice for notice in trainer.notices)


def test_the_trainer_log_is_read_back_without_following_a_link(tmp_path):
    from tinychat.trainer import Trainer

    config = tiny_config(tmp_path)
    config.paths.state.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("the password is swordfish\n")
    (config.paths.state / "trainer.log").symlink_to(secret)
    trainer = Trainer(config, fresh=True)
    trainer.exit_code = 1
    assert "swordfish" not in trainer.failure()


def test_the_history_is_not_appended_through_a_link(tmp_path):
    from tinychat.repl import ChatHistory

    target = victim(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    (state / "history").symlink_to(target)
    notices: list[str] = []
    history = ChatHistory(state / "history", notices.append)
    assert list(history.load_history_strings()) == []
    history.store_string("what is keras?")
    assert target.read_text() == KEEP
    assert len(notices) == 1 and "link" in notices[0]


def test_the_training_lock_is_not_truncated_through_a_link(tmp_path):
    from tinychat.startup import training_lock

    target = victim(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    (state / "train.lock").symlink_to(target)
    with pytest.raises(TinychatError, match="train.lock: is a link"):
        with training_lock(state):
            pass
    assert target.read_text() == KEEP


def test_a_note_link_switched_outside_the_notes_after_the_scan_is_not_read(
    tmp_path, monkeypatch
):
    folder = write_notes(tmp_path / "notes", {"inside.txt": "The inside note says little.\n"})
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("The secret launch code is 0451.\n")
    (folder / "flip.txt").symlink_to("inside.txt")
    scan = knowledge_module.scan_folder

    def scan_then_switch(*args, **kwargs):
        seen = scan(*args, **kwargs)
        (folder / "flip.new").symlink_to(secret)  # as a link flipped by os.replace would be
        os.replace(folder / "flip.new", folder / "flip.txt")
        return seen

    monkeypatch.setattr(knowledge_module, "scan_folder", scan_then_switch)
    knowledge = Knowledge(folder, KnowledgeConfig())
    changes = knowledge.refresh()
    assert not any("0451" in chunk.text for chunk in knowledge.chunks)
    assert any("flip.txt is a link to outside" in warning for warning in changes.warnings)


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    import numpy as np
    from tinychat import checkpoint
    from tinychat.config import ModelConfig
    from tinychat.architecture import weight_shapes
    from tinychat.errors import TinychatError

    config = ModelConfig(window=64)
    arrays = {name: np.ones(shape, np.float32) for name, shape in weight_shapes(config).items()}
    # Writes past 8 KB fail as on a full disk (EFBIG instead of ENOSPC), for this process only.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
    try:
        checkpoint.save(Path(sys.argv[1]), config, arrays, {})
    except TinychatError as error:
        print(error)
    """
)


def test_a_full_disk_while_saving_the_weights_is_one_line_and_keeps_the_old_ones(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    weights = state / "checkpoint.h5"
    weights.write_bytes(b"the previous weights")
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(weights)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1 and "cannot save the weights" in result.stdout
    assert weights.read_bytes() == b"the previous weights"
    assert sorted(os.listdir(state)) == ["checkpoint.h5"]  # the temporary file is removed


def test_a_progress_file_that_cannot_be_written_does_not_stop_the_training(tmp_path):
    from tinychat import resume

    state = tmp_path / "state"
    state.mkdir()
    (state / resume.PROGRESS_NAME).mkdir()  # cannot be replaced by a file
    saved = resume.save_progress(state, {"run": 1}, 100, {"w": np.ones(3, np.float32)}, [])
    assert saved is False
def test_a_note_deleted_between_the_scan_and_the_read_is_simply_gone(tmp_path, monkeypatch):
    folder = write_notes(tmp_path / "notes", {"a.txt": "Alpha.\n"})
    write_notes(folder / "sub", {"b.txt": "Beta.\n"})
    scan = knowledge_module.scan_folder

    def scan_then_delete(*args, **kwargs):
        seen = scan(*args, **kwargs)
        (folder / "sub" / "b.txt").unlink()
        (folder / "sub").rmdir()
        return seen

    monkeypatch.setattr(knowledge_module, "scan_folder", scan_then_delete)
    knowledge = Knowledge(folder, KnowledgeConfig())
    changes = knowledge.refresh()
    assert [chunk.text for chunk in knowledge.chunks] == ["Alpha."]
    assert changes.warnings == []
