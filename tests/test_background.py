"""Training in the background: the REPL opens at once, keeps answering, swaps weights in.

Real REPLs in a pseudo-terminal (pexpect) with a real trainer child; a long run (LONG steps)
where a test must act while the child trains. The child's pid is the one its training lock
names (`train.lock` holds "tinychat (pid N)" while it trains).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_support import as_a_shell_starts_it, command, env, make_folder, run, terminal

pexpect = pytest.importorskip("pexpect")
QUESTION = "when does the ferry leave?"
MARK = "(model still training: best matching sentence)"
UNTRAINED = "(no trained model yet: best matching sentence)"
LONG = 1000  # steps: long enough for a test to act while they run (5-60 s, by machine and load)


def fresh_folder(folder: Path, steps: int | None = None) -> Path:
    make_folder(folder)
    if steps:
        config = folder / "tinychat.yaml"
        config.write_text(config.read_text().replace("steps: 30,", f"steps: {steps},"))
    return folder


def spawn(folder: Path, said: str = "training in the background"):
    """tinychat in a terminal, once it has said `said` and shown its prompt."""
    child = terminal(folder, columns=120, encoding="utf-8")
    child.expect("Ctrl-D leaves")
    child.expect(said)
    # where is the cursor? A terminal answers; without an answer no toolbar is drawn
    child.expect_exact("\x1b[6n")
    child.send("\x1b[1;1R")
    child.expect(">")
    return child


def trainer_pid(folder: Path, timeout: float = 30) -> int:
    """The pid of the child training in `folder`, from its training lock."""
    lock = folder / "state" / "train.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"pid (\d+)", lock.read_text()) if lock.exists() else None
        if found:
            return int(found.group(1))
        time.sleep(0.1)
    raise AssertionError("no trainer took the training lock")


def gone(pid: int) -> bool:
    """The process has ended (a zombie no one has reaped yet counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def progress_saved(folder: Path):
    """A condition: the child has saved its progress once (it is SAVE_EVERY steps in)."""
    return (folder / "state" / "training-progress.h5").exists


def training_repl(folder: Path):
    """(REPL, trainer pid) in a fresh `folder`, once the child has saved its progress once."""
    child = spawn(fresh_folder(folder, steps=LONG))
    pid = trainer_pid(folder)
    assert wait_until(progress_saved(folder), 60)
    return child, pid


def leave(child) -> None:
    """Ctrl-D, sent once the caller has seen the prompt (sooner, a cooked tty swallows it)."""
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()


def tensorflow_loaded(pid: int) -> bool:
    """Whether TensorFlow's libraries are mapped into the process (importing it maps them)."""
    try:
        return "tensorflow" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # the process has ended
        return False


def resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_prompt_at_once_retriever_answers_then_the_trained_model(tmp_path):
    """The prompt comes at once; the retriever answers while the child trains; the new weights
    are swapped in between two answers. TensorFlow never enters the REPL's process, and after
    the swap its resident memory is within 1.5x of the start."""
    folder = fresh_folder(tmp_path / "fresh", steps=60)
    started = time.perf_counter()
    child = spawn(folder)
    ready = time.perf_counter() - started
    assert ready < 5, f"prompt after {ready:.1f}s"
    before = resident_mb(child.pid)
    child.sendline(QUESTION)
    child.expect_exact("The ferry to Brisk leaves at 7 every morning.")  # the best sentence, as is
    child.expect_exact(MARK)
    trainer = trainer_pid(folder)
    assert wait_until(lambda: tensorflow_loaded(trainer), 30)  # the child has loaded it ...
    assert not tensorflow_loaded(child.pid)  # ... the REPL has not
    weights = folder / "state" / "checkpoint.h5"
    assert wait_until(weights.exists, 60), "the background training never saved weights"
    assert wait_until(lambda: gone(trainer), 10)
    child.sendline(QUESTION)
    child.expect("training finished: answers now use the new weights")
    child.expect(">")
    assert MARK not in child.before
    after = resident_mb(child.pid)
    assert not tensorflow_loaded(child.pid) and after < 1.5 * before, (before, after)
    leave(child)
    assert child.exitstatus == 0
    print(f"prompt ready {ready:.2f}s after start; REPL RSS {before:.0f} MB, {after:.0f} after")


def test_retrain_while_training_is_refused_ctrl_d_stops_the_child_and_the_next_start_resumes(
    tmp_path,
):
    folder = tmp_path / "resume"
    child, pid = training_repl(folder)
    child.sendline("/retrain")
    child.expect(rf"/retrain: a training is already running \(step \d+ of {LONG}\)")
    child.expect(">")
    child.sendcontrol("d")
    child.expect(rf"training stopped at step (\d+) of {LONG}; the next start resumes from there")
    step = int(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and gone(pid)
    assert (folder / "state" / "training-progress.h5").is_file()
    child = spawn(folder, f"resuming training from step {step} of {LONG} in the background")
    child.sendline(QUESTION)
    child.expect_exact(MARK)
    child.expect(">")
    leave(child)
    assert child.exitstatus == 0


def test_kill_9_of_the_trainer_is_said_once_and_answers_go_on(tmp_path):
    folder = tmp_path / "killed"
    child, pid = training_repl(folder)
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: gone(pid), 5)
    time.sleep(0.5)  # the REPL's reader sees the pipe close
    child.sendline(QUESTION)
    child.expect(
        r"training ended by signal 9 \(killed\?\) at step \d+; answers keep using the"
        r" best matching sentence; /retrain starts it again"
    )
    child.expect_exact(UNTRAINED)  # no longer "still training"
    child.expect(">")
    child.sendline(QUESTION)
    child.expect_exact(UNTRAINED)
    child.expect(">")
    assert "signal 9" not in child.before  # said once
    leave(child)
    assert child.exitstatus == 0


def test_kill_9_of_the_repl_stops_its_trainer_which_saves_its_progress(tmp_path):
    folder = tmp_path / "orphan"
    child, pid = training_repl(folder)
    time.sleep(0.5)  # past the periodic save, so the stop's own save is told apart
    child.kill(signal.SIGKILL)
    child.wait()
    started = time.monotonic()
    assert wait_until(lambda: gone(pid), 10), "the trainer outlived its REPL"
    print(f"trainer ended {time.monotonic() - started:.1f}s after its REPL was killed")
    import h5py

    from tinychat import resume

    with h5py.File(folder / "state" / resume.PROGRESS_NAME, "r") as file:
        header = json.loads(file.attrs["tinychat_progress"])
    assert header["step"] > resume.SAVE_EVERY  # saved again when it stopped
    assert not (folder / "state" / "checkpoint.h5").exists()  # no half-trained weights


def test_ctrl_c_during_a_first_run_training_exits_130(tmp_path):
    folder = fresh_folder(tmp_path / "interrupt", steps=300)
    process = subprocess.Popen(
        as_a_shell_starts_it(command("ask", QUESTION)),
        cwd=folder,
        env=env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    for line in process.stderr:  # a pipe gets a progress line every tenth of the run:
        if line.startswith("training ["):  # the steps are running
            break
    process.send_signal(signal.SIGINT)
    stderr = process.stderr.read()
    assert process.wait(timeout=30) == 130, stderr
    assert "Traceback" not in stderr
    assert run(folder, "info").returncode == 0


def test_a_session_without_weights_answers_with_the_best_sentence(tmp_path):
    """No weights yet: the best matching sentence, marked; an embedding retriever waits behind
    the default one, and says so once."""
    import dataclasses

    from tests.conftest import tiny_config, write_notes
    from tinychat.chat import ChatSession

    write_notes(tmp_path / "notes")
    config = tiny_config(tmp_path)
    config = dataclasses.replace(
        config, retrieval=dataclasses.replace(config.retrieval, retriever="hybrid")
    )
    notices: list[str] = []
    session = ChatSession(config, None, on_notice=notices.append)
    answer = session.ask(QUESTION)
    assert answer.retrieved_only and answer.text == "The ferry to Brisk leaves at 7 every morning."
    assert [hit.chunk.path for hit in answer.sources] == ["ferry.md"]
    session.ask("how many bicycles does the ferry carry?")
    assert notices == [
        "retrieval.retriever: hybrid needs the trained model; searching by words"
        " until training ends"
    ]
    assert session.stale == ""


def test_the_trainer_reads_the_child_s_lines_and_names_how_it_ended(tmp_path):
    from tests.conftest import tiny_config
    from tinychat.trainer import EXIT_STOPPED, Trainer

    trainer = Trainer(tiny_config(tmp_path), fresh=True)
    assert trainer.status() == "training: starting"
    # how long its steps take, when the weights it starts from say how long theirs took
    paced = Trainer(tiny_config(tmp_path), fresh=False, expected=75.0)
    assert paced.status() == "training: starting (at most 1:15)"
    paced._event("progress 120 300 1.2345 65.0")
    assert paced.status() == "training 120/300 loss 1.23 at most 1:05 left"
    for line in (
        "phase preparing examples from 4 sentences",
        "notice resuming training from step 100 of 300",
        "progress 120 300 1.2345 65.0",
    ):
        trainer._event(line)
    assert trainer.status() == "training 120/300 loss 1.23 at most 1:05 left"  # early stop
    assert trainer.notices == ["resuming training from step 100 of 300"]
    import dataclasses

    config = tiny_config(tmp_path)
    no_stop = dataclasses.replace(config.train, early_stop=False)
    every_step = Trainer(dataclasses.replace(config, train=no_stop), fresh=True)
    every_step._event("progress 120 300 1.2345 65.0")
    assert every_step.status() == "training 120/300 loss 1.23 1:05 left"  # runs them all
    trainer.exit_code = -9
    assert trainer.failure() == "training ended by signal 9 (killed?) at step 120"
    trainer._event("error tmp/state: another process is already training here")
    trainer.exit_code = 1
    failed = "training failed: tmp/state: another process is already training here"
    assert trainer.failure() == failed
    trainer._event("stopped 130 300")
    trainer.exit_code, trainer.stopping = EXIT_STOPPED, True
    assert trainer.failure() == "" and trainer.stopped_at == 130  # we asked it to stop


def test_the_toolbar_starts_with_the_running_training(session):
    """What the child last said, as the toolbar's first part (a real child: the first test)."""
    import io

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from tinychat.repl import Repl
    from tinychat.trainer import Trainer

    trainer = Trainer(session.config, fresh=True)
    trainer._event("progress 120 200 1.2345 65.0")
    trainer.running = lambda: True  # no child was started; the line above is what one sends
    with create_pipe_input() as pipe:
        repl = Repl(session, out=io.StringIO(), input=pipe, output=DummyOutput())
        repl.trainer = trainer
        assert repl.toolbar().startswith("training 120/200 loss 1.23 at most 1:05 left | ")


def test_the_toolbar_keeps_the_training_whole_on_a_narrow_terminal(session):
    """On 80 columns the static parts give way to the training's progress, never the reverse;
    a wide terminal shows them all."""
    import io

    from prompt_toolkit.data_structures import Size
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from tinychat.repl import Repl
    from tinychat.trainer import Trainer

    trainer = Trainer(session.config, fresh=True)
    trainer._event("progress 104 1000 0.0612 493.0")
    trainer.running = lambda: True
    for columns, parts in ((80, 2), (200, 5)):
        output = DummyOutput()
        output.get_size = lambda columns=columns: Size(rows=24, columns=columns)
        with create_pipe_input() as pipe:
            repl = Repl(session, out=io.StringIO(), input=pipe, output=output)
            repl.trainer = trainer
            toolbar = repl.toolbar()
        assert toolbar.startswith("training 104/1000 loss 0.06 at most 8:13 left | ")
        assert len(toolbar) <= columns and len(toolbar.split(" | ")) == parts, toolbar


def test_weights_for_another_model_config_are_replaced_in_the_background(trained_folder):
    """tinychat.yaml's `model` changed since training (an upgrade that changes a default does
    the same): the REPL says so, answers from the notes at once and trains a new model in the
    background; the old weights stay until the new ones are saved. A script is told instead."""
    import yaml

    settings = trained_folder / "tinychat.yaml"
    changed = yaml.safe_load(settings.read_text())
    changed["model"]["window"] = 160  # trained at 128
    settings.write_text(yaml.safe_dump(changed))
    weights = trained_folder / "state" / "checkpoint.h5"
    old = weights.read_bytes()

    asked = run(trained_folder, "ask", QUESTION)
    assert asked.returncode == 1 and "model.window 128 vs 160 now" in asked.stderr
    assert "Traceback" not in asked.stderr and weights.read_bytes() == old

    child = terminal(trained_folder, columns=200, encoding="utf-8")
    child.expect_exact("weights for another model config (model.window 128 vs 160 now)")
    child.expect("Ctrl-D leaves")
    child.expect("training in the background")
    child.expect_exact("\x1b[6n")  # the terminal's cursor question, as in `spawn`
    child.send("\x1b[1;1R")
    child.expect(">")
    child.sendline(QUESTION)
    child.expect_exact("The ferry to Brisk leaves at 7 every morning.")
    child.expect_exact(MARK)
    assert weights.read_bytes() == old  # not yet replaced: the training runs
    pid = trainer_pid(trained_folder)
    assert wait_until(lambda: gone(pid), 60), "the background training did not end"
    child.sendline(QUESTION)
    child.expect("training finished: answers now use the new weights")
    child.expect(">")
    leave(child)
    from tinychat import checkpoint

    assert checkpoint.load(weights).config.window == 160
