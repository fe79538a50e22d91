"""Faults: kill -9 during training, two trainers on one state folder, a save that fails.

Every trial runs the real command line in a subprocess. After each kill the weights must
load and, when they were not replaced, answer exactly as before; a later run must not trip
on anything the killed one left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.cli_support import call, command, env, run
from tinychat import checkpoint

QUESTION = "when does the ferry leave?"
TRAIN_TRIALS, RETRAIN_TRIALS = 16, 6  # 22 kills in all


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def answer(folder: Path) -> dict:
    result = call(folder, "--json", stdin=QUESTION + "\n")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def copy_of(source: Path, name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    shutil.copytree(source, folder)
    return folder


def check_after_kill(folder: Path, before_digest: str, before_answer: dict) -> str:
    """The weights load; unchanged weights answer as before. Returns 'kept' or 'replaced'."""
    weights = folder / "state" / "checkpoint.h5"
    result = call(folder, "info")
    assert result.returncode == 0, result.stderr
    assert "trained" in result.stdout and "not a readable" not in result.stdout, result.stdout
    if digest(weights) == before_digest:
        assert answer(folder) == before_answer
        return "kept"
    replaced = checkpoint.load(weights)  # a complete new checkpoint: every array, finite
    assert replaced.meta["trained_at"] and all(
        np.isfinite(a).all() for a in replaced.arrays.values()
    )
    assert answer(folder)["sources"][0]["path"] == "ferry.md"  # and it answers
    return "replaced"


def start_training(folder: Path, *args: str) -> subprocess.Popen:
    """`tinychat train` in `folder`, its progress lines readable on stderr."""
    return subprocess.Popen(
        command("train", *args),
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env(),
    )


def kill_training_at(folder: Path, delay: float) -> int:
    process = start_training(folder)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    return process.wait()


def kill_when(folder: Path, moment: str) -> None:
    """Start `train` and kill -9 it at `moment`: "first progress line" (training under way) or
    "weights being written" (the temporary weights file has appeared, before its rename)."""
    process = start_training(folder)
    try:
        if moment == "first progress line":
            for line in process.stderr:
                if line.startswith(b"training ["):
                    break
        else:
            state, deadline = folder / "state", time.monotonic() + 120
            while not list(state.glob(".checkpoint.h5.*.tmp")) and process.poll() is None:
                assert time.monotonic() < deadline, "the weights were never written"
                time.sleep(0.001)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("moment", ["first progress line", "weights being written"])
def test_kill_9_at_the_moments_that_matter_never_loses_the_weights(
    trained_folder, tmp_path, moment
):
    """The old weights answer as before, or complete new ones load; nothing half-written is read.
    (Killing the REPL or its background trainer: tests/test_background.py.)"""
    folder = copy_of(trained_folder, "killed", tmp_path)
    kill_when(folder, moment)
    outcome = check_after_kill(
        folder,
        digest(trained_folder / "state" / "checkpoint.h5"),
        answer(trained_folder),
    )
    if moment == "first progress line":
        assert outcome == "kept"
    assert (
        call(folder, "train", "--steps", "2").returncode == 0
    )  # a later training is not tripped up
    assert not list(
        (folder / "state").glob(".checkpoint.h5.*.tmp")
    )  # and cleans what the kill left


@pytest.mark.soak
def test_kill_9_during_train_and_retrain_never_loses_the_weights(trained_folder, tmp_path):
    """A soak, run with `pytest -m soak`: 22 kills at random moments of train and /retrain."""
    before_digest = digest(trained_folder / "state" / "checkpoint.h5")
    before_answer = answer(trained_folder)
    start = time.perf_counter()
    assert run(copy_of(trained_folder, "timing", tmp_path), "train").returncode == 0
    full = time.perf_counter() - start  # how long an uninterrupted retrain takes
    rng = np.random.default_rng(7)
    delays = rng.uniform(0.2, full * 1.05, size=TRAIN_TRIALS)

    def train_trial(number: int) -> str:
        folder = copy_of(trained_folder, f"train{number}", tmp_path)
        kill_training_at(folder, float(delays[number]))
        return check_after_kill(folder, before_digest, before_answer)

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(train_trial, range(TRAIN_TRIALS)))

    pexpect = pytest.importorskip("pexpect")
    retrain_delays = rng.uniform(0.2, full * 1.05, size=RETRAIN_TRIALS)
    for number, delay in enumerate(retrain_delays):
        folder = copy_of(trained_folder, f"retrain{number}", tmp_path)
        child = pexpect.spawn(command()[0], command()[1:], cwd=str(folder), env=env(), timeout=60)
        child.expect("Ctrl-D leaves")
        child.expect(
            ">"
        )  # prompt-toolkit draws the prompt with escape codes between its characters
        child.sendline("/retrain")
        time.sleep(float(delay))
        child.kill(signal.SIGKILL)
        child.wait()
        outcomes.append(check_after_kill(folder, before_digest, before_answer))

    print(
        f"kill -9 trials: {len(outcomes)}, survived {len(outcomes)}:"
        f" {outcomes.count('kept')} kept the old weights,"
        f" {outcomes.count('replaced')} had saved new ones"
    )
    assert (
        "kept" in outcomes
    )  # some kills landed before the save: old weights kept and answering the same
    # A later training in a killed folder is not tripped up, and cleans what the kill left.
    folder = tmp_path / f"train{TRAIN_TRIALS - 1}"
    assert call(folder, "train", "--steps", "2").returncode == 0
    assert not list((folder / "state").glob(".checkpoint.h5.*.tmp"))


def test_second_trainer_is_refused_while_one_is_training(trained_folder):
    """The lock held as a trainer holds it for its whole run (a real one holds it in
    tests/test_background.py): a second is refused in one line, and chatting goes on."""
    from tinychat.startup import training_lock

    before = digest(trained_folder / "state" / "checkpoint.h5")
    with training_lock(trained_folder / "state"):
        second = call(trained_folder, "train", "--steps", "2")
        assert second.returncode == 1
        assert second.stderr.startswith("tinychat:") and "already training" in second.stderr
        assert answer(trained_folder)["query"] == QUESTION  # on the old weights
    assert digest(trained_folder / "state" / "checkpoint.h5") == before


@pytest.mark.parametrize(
    "target, code, message",
    [
        ("fsync", "ENOSPC", "No space left on device"),
        ("replace", "EROFS", "Read-only file system"),
        ("mkstemp", "EACCES", "Permission denied"),
    ],
)
def test_failed_save_keeps_old_weights(
    trained_folder, tmp_path, monkeypatch, target, code, message
):
    """A full disk, a read-only or a forbidden state folder while saving: one clear error, and
    the old weights intact."""
    import errno
    import tempfile

    from tinychat.errors import TinychatError

    folder = copy_of(trained_folder, f"fail-{target}", tmp_path)
    path = folder / "state" / "checkpoint.h5"
    before = digest(path)
    old = checkpoint.load(path)

    def fail(*args, **kwargs):
        raise OSError(getattr(errno, code), message)

    monkeypatch.setattr(tempfile if target == "mkstemp" else os, target, fail)
    with pytest.raises(TinychatError, match=f"{message}.*previous one is kept"):
        checkpoint.save(path, old.config, {k: v + 1 for k, v in old.arrays.items()}, old.meta)
    monkeypatch.undo()
    assert digest(path) == before
    assert checkpoint.load(path).meta == old.meta
    assert not list(path.parent.glob("*.tmp"))
