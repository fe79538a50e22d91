"""Helpers for tests that run the real `tinychat` command in a subprocess or a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY_CONFIG = """
model: {window: 128}
train: {steps: 30, batch_size: 8, retrain_steps: 30}
generation: {max_answer_chars: 40}
"""
NOTES = {
    "keras.txt": "Keras provides a high-level API for building neural networks.\n"
    "Keras 3 runs on several backends.\n",
    "ferry.txt": "The ferry to Brisk leaves at 7 every morning.\nThe ferry carries 40 bicycles.\n",
}
# Every run in a folder made by `make_folder` uses its config, notes and state.
FOLDER_ARGS = ["--config", "tinychat.yaml", "--knowledge", "notes", "--state", "state"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tinychat", *FOLDER_ARGS, *args]


def run(
    folder: Path, *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run tinychat in `folder` and wait for it."""
    return subprocess.run(
        command(*args),
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
    )


def make_folder(folder: Path, train: bool = True) -> Path:
    """Write the tiny config and notes into `folder` and (by default) train once."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tinychat.yaml").write_text(TINY_CONFIG)
    (folder / "notes").mkdir(exist_ok=True)
    for name, text in NOTES.items():
        (folder / "notes" / name).write_text(text)
    if train:
        result = run(folder, "train", "--fresh")
        assert result.returncode == 0, result.stderr
    return folder
