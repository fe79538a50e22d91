"""Shared fixtures: every test runs in its own temporary folder, in one tiny world (the notes
and config below) where one tiny model is trained per session and copied where a test needs it."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tinychat.config import (
    Config,
    GenerationConfig,
    ModelConfig,
    PathsConfig,
    TrainConfig,
)

NOTES = {
    "keras.txt": "Keras provides a high-level API for building neural networks in TensorFlow.\n"
    "Keras 3 runs on several backends.\n",
    "tensorflow.txt": (
        "TensorFlow is a machine learning framework for building and training models.\n"
    ),
    "ferry.md": "# Ferry\n\nThe ferry to Brisk leaves at 7 every morning.\n"
    "The ferry carries 40 bicycles.\n",
}


def pytest_xdist_auto_num_workers(config) -> int:
    """Two workers a core: a worker often waits on a child process (a trainer, a REPL in a
    terminal) with its core idle."""
    return 2 * (os.cpu_count() or 1)


@pytest.fixture(autouse=True, scope="session")
def user_folders(tmp_path_factory):
    """The user's config and state folders (XDG) point into tmp, for module fixtures too."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(home / "config"))
        patch.setenv("XDG_STATE_HOME", str(home / "state"))
        yield home


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Nothing a test does touches the repository or the home folder: no ./tinychat.yaml, no
    .tinychat/ state, and fresh user folders (XDG) outside the current folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    home = tmp_path.parent / f"{tmp_path.name}-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))


# The tiny world's settings: tiny_config() builds them in Python, and tinychat.yaml in a
# folder made by tests.cli_support.make_folder holds the same, for the real command line.
TINY = {
    "model": {"window": 128},
    "train": {"steps": 30, "batch_size": 8, "retrain_steps": 10, "seed": 0},
    "generation": {"max_answer_chars": 40},
}
TINY_CONFIG = yaml.safe_dump(TINY, default_flow_style=None, sort_keys=False)


def write_notes(folder: Path, notes: dict[str, str] = NOTES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in notes.items():
        (folder / name).write_text(text)
    return folder


def tiny_config(folder: Path, **model) -> Config:
    """A config small enough to train in seconds: reads `folder/notes`, writes `folder/state`."""
    return Config(
        model=ModelConfig(**{**TINY["model"], **model}),
        train=TrainConfig(**TINY["train"]),
        generation=GenerationConfig(**TINY["generation"]),
        paths=PathsConfig(knowledge=folder / "notes", state=folder / "state"),
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(config, checkpoint) of a tiny model trained once with a fixed seed on NOTES.

    Its folder is laid out as a user's (tinychat.yaml, notes/, state/): `trained_folder` copies it.
    Parallel workers (pytest -n) share one: the first to take the lock trains, the rest wait.
    """
    import fcntl
    import io

    from tinychat import checkpoint
    from tinychat.knowledge import open_knowledge
    from tinychat.progress import Progress
    from tinychat.train import train

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    folder = root / "trained"
    config = tiny_config(folder)
    weights = checkpoint.weights_path(config.paths.state)
    with open(root / "trained.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not weights.is_file():
            write_notes(folder / "notes")
            (folder / "tinychat.yaml").write_text(TINY_CONFIG)
            knowledge = open_knowledge(config)
            knowledge.refresh()
            shown = io.StringIO()
            per_step = config.train.batch_size * config.model.window
            train(config, knowledge, fresh=True, progress=Progress(30, per_step, stream=shown))
            (root / "trained-progress.txt").write_text(shown.getvalue())  # `trained_progress`
    return config, checkpoint.load(weights)


@pytest.fixture(scope="session")
def trained_progress(trained, tmp_path_factory) -> str:
    """What the session's training showed on its progress stream (bar, summary, held-out)."""
    config, _ = trained
    return (config.paths.knowledge.parent.parent / "trained-progress.txt").read_text()


@pytest.fixture
def trained_folder(trained, tmp_path) -> Path:
    """This test's copy of the trained folder (tinychat.yaml, notes/, state/), for the real
    command line: one training per session instead of one per test module."""
    config, _ = trained
    return Path(shutil.copytree(config.paths.knowledge.parent, tmp_path / "trained"))


@pytest.fixture
def session(trained, tmp_path):
    """A chat session on a copy of the trained notes, with the trained weights."""
    from tinychat.chat import ChatSession

    config, model = trained
    shutil.copytree(config.paths.knowledge, tmp_path / "notes")
    return ChatSession(with_paths(config, tmp_path), model)


def with_paths(config: Config, folder: Path) -> Config:
    """The same config, reading and writing under `folder` (knowledge copied by the caller)."""
    return dataclasses.replace(
        config, paths=PathsConfig(knowledge=folder / "notes", state=folder / "state")
    )


def finishes(action, seconds: float = 20.0):
    """`action()`, run in a thread so that a hang fails the test instead of the whole suite."""
    import threading

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except BaseException as error:  # noqa: BLE001  handed to the test's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it hangs"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
