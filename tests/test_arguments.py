"""The command line's folders and values get the checks the config file's get: the state folder
outside the notes, a home folder that exists, ranges of the same keys, a training that fits in
memory, a question of bounded length. Each is one line on stderr and exit code 1, or an
answer."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import pytest

from tests.cli_support import call, command, env, make_folder
from tinychat import locations
from tinychat.cli import main


def one_line_error(capsys, argv: list[str]) -> str:
    """The error of `tinychat argv`, checked to be one line with exit code 1."""
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    return captured.err


# ---------------------------------------------------------------------------- folders


@pytest.mark.parametrize("state", ["notes", "notes/sub"])
def test_a_state_folder_given_inside_the_notes_on_the_command_line_is_refused(
    tmp_path, capsys, state
):
    folder = make_folder(tmp_path / "project")
    os.chdir(folder)
    error = one_line_error(capsys, ["--knowledge", "notes", "--state", state, "ask", "hi"])
    assert "the knowledge folder" in error and "pass --state DIR outside it" in error
    assert sorted(os.listdir(folder / "notes")) == ["ferry.md", "keras.txt", "tensorflow.txt"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--knowledge", "~nosuchuser-tinychat/notes", "--state", "s", "ask", "hi"],
        ["--knowledge", "notes", "--state", "~nosuchuser-tinychat/x", "ask", "hi"],
    ],
)
def test_a_home_folder_of_no_user_is_one_line(tmp_path, capsys, argv):
    make_folder(tmp_path)
    assert "no such user as ~nosuchuser-tinychat" in one_line_error(capsys, argv)


def test_a_home_folder_of_no_user_in_the_config_file_is_one_line(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text('paths:\n  knowledge: "~nosuchuser-tinychat/notes"\n')
    error = one_line_error(capsys, ["--config", "c.yaml", "ask", "hi"])
    assert "no such user as ~nosuchuser-tinychat (paths.knowledge)" in error


def test_a_relative_xdg_folder_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    environ = {"XDG_STATE_HOME": "relstate", "XDG_CONFIG_HOME": "relconfig"}
    state = locations.state_for(tmp_path / "notes", environ)
    assert state.is_relative_to(tmp_path / "home" / ".local" / "state")
    assert locations.user_config_file(environ).is_relative_to(tmp_path / "home" / ".config")


def test_training_writes_no_keras_settings_into_the_home_folder(tmp_path):
    folder = make_folder(tmp_path / "project")
    home = tmp_path / "home"
    home.mkdir()
    environ = {key: value for key, value in env().items() if key != "KERAS_HOME"}
    result = subprocess.run(
        command("train", "--steps", "2"),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**environ, "HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(home.iterdir()) == []
    assert (folder / "state" / "keras" / "keras.json").is_file()


# ---------------------------------------------------------------------------- values


@pytest.mark.parametrize("steps", ["100000000000000000000000000000", "9223372036854775808", "0"])
def test_steps_beyond_the_range_of_train_steps_are_one_line(tmp_path, capsys, steps):
    make_folder(tmp_path)
    error = one_line_error(capsys, ["train", "--steps", steps])
    assert f"--steps {steps}: give a whole number from 1 to 10,000,000" in error


def test_a_temperature_just_above_zero_answers_like_zero(session):
    question = "when does the ferry leave?"
    greedy = session.ask(question).text
    session.temperature = 1e-310  # within 0 to 10: dividing by it overflowed to NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warning would reach the user's terminal
        assert session.ask(question).text == greedy


# ---------------------------------------------------------------------------- training memory


@pytest.mark.parametrize("window, batch_size", [(2048, 256), (1024, 256)])
def test_a_training_too_large_for_the_machine_is_refused_before_it_starts(
    tmp_path, capsys, monkeypatch, window, batch_size
):
    from tinychat import startup

    monkeypatch.setattr(startup, "physical_memory", lambda: 16 << 30)
    make_folder(tmp_path)
    settings = f"model:\n  window: {window}\ntrain:\n  batch_size: {batch_size}\n"
    (tmp_path / "big.yaml").write_text(settings)
    argv = ["--config", "big.yaml", "--knowledge", "notes", "--state", "state", "train"]
    error = one_line_error(capsys, [*argv, "--steps", "2"])
    assert f"model.window={window}" in error and f"train.batch_size={batch_size}" in error
    assert "GB to train, more than this machine's 16.0 GB" in error or "2^31" in error
    assert not (tmp_path / "state" / "train.lock").exists()  # refused before anything started


def test_a_training_past_tensorflow_s_largest_tensor_is_refused(tmp_path, monkeypatch):
    from tinychat import startup
    from tinychat.errors import TinychatError
    from tests.conftest import tiny_config
    import dataclasses

    monkeypatch.setattr(startup, "physical_memory", lambda: 1 << 50)  # memory is not the limit
    config = tiny_config(tmp_path)
    config = dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, window=4096),
        train=dataclasses.replace(config.train, batch_size=256),
    )
    with pytest.raises(TinychatError, match="past TensorFlow's 2\\^31 elements"):
        startup.check_training_fits(config)
    startup.check_training_fits(tiny_config(tmp_path))  # the tiny one fits anywhere


# ---------------------------------------------------------------------------- knowledge.extensions


@pytest.mark.parametrize(
    "extensions, count", [("[]", "0"), ("[" + ", ".join(f".e{n}" for n in range(101)) + "]", "101")]
)
def test_an_empty_or_huge_list_of_extensions_is_one_line(tmp_path, capsys, extensions, count):
    make_folder(tmp_path)
    (tmp_path / "c.yaml").write_text(f"knowledge:\n  extensions: {extensions}\n")
    error = one_line_error(capsys, ["--config", "c.yaml", "ask", "hi"])
    assert f"knowledge.extensions lists {count} file types; name 1 to 100" in error


def test_file_types_are_matched_in_any_case_by_a_set_not_one_by_one(tmp_path):
    from tinychat.scan import note_names

    extensions = tuple(f".e{n}" for n in range(98)) + (".TXT", ".tar.gz")
    is_note = note_names(extensions)
    assert is_note("a.txt") and is_note("B.Tar.GZ") and is_note("c.e97")
    assert not is_note("a.md") and not is_note("txt") and not is_note("a.gz")


# ---------------------------------------------------------------------------- wording


def test_a_settings_folder_found_without_config_gives_no_config_hint(tmp_path, capsys):
    make_folder(tmp_path / "project")
    os.chdir(tmp_path / "project")
    (tmp_path / "project" / "tinychat.yaml").unlink()
    (tmp_path / "project" / "tinychat.yaml").mkdir()
    error = one_line_error(capsys, ["--knowledge", "notes", "--state", "state", "info"])
    assert "tinychat.yaml: is a folder" in error and "--config" not in error
    assert "rename or remove it" in error


def test_a_knowledge_path_that_is_a_file_is_said_to_be_one(tmp_path, capsys):
    make_folder(tmp_path)
    (tmp_path / "afile").write_text("hi\n")
    error = one_line_error(capsys, ["--knowledge", "afile", "--state", "state", "ask", "hi"])
    assert "afile: is a file, not a folder; check the --knowledge path" in error
