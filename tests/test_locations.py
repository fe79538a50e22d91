"""Where settings, knowledge and state live when tinychat runs outside a project folder.

The user folders (XDG_CONFIG_HOME, XDG_STATE_HOME) point into tmp (conftest), so nothing here
touches the real home folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.cli_support import ROOT, TINY_CONFIG
from tinychat.cli import build_parser, config_from, main
from tinychat.config import RetrievalConfig
from tinychat.errors import TinychatError
from tinychat.locations import config_file, state_for

QUESTION = ["when", "does", "the", "ferry", "leave?"]


def placed(*argv: str):
    """The config `tinychat ARGV info` would use, run from the current folder."""
    args = build_parser().parse_args([*argv, "info"])
    return config_from(args, config_file(getattr(args, "config", None), Path.cwd()))


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """An empty current folder, outside any project."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_each_knowledge_folder_gets_its_own_state_in_the_user_state_folder(tmp_path, elsewhere):
    for name in ("a", "b"):
        (tmp_path / name / "notes").mkdir(parents=True)
    one = placed("--knowledge", "../a/notes")
    two = placed("--knowledge", str(tmp_path / "b" / "notes"))
    state_home = Path(os.environ["XDG_STATE_HOME"]) / "tinychat"
    assert one.paths.knowledge.resolve() == (tmp_path / "a" / "notes").resolve()
    assert one.paths.state.parent == two.paths.state.parent == state_home
    assert one.paths.state.name.startswith("notes-") and one.paths.state != two.paths.state
    assert one.paths.state == state_for(tmp_path / "a" / "notes")


def test_a_project_folder_keeps_its_layout_but_not_for_other_knowledge(tmp_path):
    (tmp_path / "tinychat.yaml").write_text("")
    config = placed()
    assert config.paths.knowledge == tmp_path / "knowledge"
    assert config.paths.state == tmp_path / ".tinychat"
    (tmp_path / "other").mkdir()
    other = placed("--knowledge", "other")  # the project's .tinychat is for the project's notes
    assert other.paths.state == state_for(tmp_path / "other")
    assert placed("--knowledge", "other", "--state", "mine").paths.state == tmp_path / "mine"


def test_without_knowledge_outside_a_project_the_bundled_notes_or_one_line(elsewhere, monkeypatch):
    config = placed()
    assert config.paths.knowledge == ROOT / "knowledge"  # the notes beside the package
    assert config.paths.state == state_for(ROOT / "knowledge")
    monkeypatch.setattr("tinychat.locations.bundled_knowledge", lambda: None)  # an installed wheel
    with pytest.raises(TinychatError, match="no knowledge folder here .*; pass --knowledge DIR"):
        placed()


def test_the_user_config_file_is_read_outside_a_project_only(tmp_path, elsewhere):
    user_config = Path(os.environ["XDG_CONFIG_HOME"]) / "tinychat" / "tinychat.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("retrieval: {top_k: 5}\n")
    assert placed().retrieval.top_k == 5
    (elsewhere / "tinychat.yaml").write_text("")
    assert placed().retrieval.top_k == RetrievalConfig().top_k  # a project's own settings win


@pytest.fixture
def notes_with_weights(trained, tmp_path) -> Path:
    """A notes folder whose tiny model sits where the user state folder for it is expected."""
    config, _ = trained
    notes = tmp_path / "notes"
    shutil.copytree(config.paths.knowledge, notes)
    shutil.copytree(config.paths.state, state_for(notes))
    user_config = Path(os.environ["XDG_CONFIG_HOME"]) / "tinychat" / "tinychat.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(TINY_CONFIG)
    return notes


def test_ask_from_any_folder_writes_nothing_there(notes_with_weights, elsewhere, capsys):
    assert main(["--knowledge", str(notes_with_weights), "ask", *QUESTION, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sources"][0]["path"] == "ferry.md"
    assert list(elsewhere.iterdir()) == []
    assert (state_for(notes_with_weights) / "manifest.json").is_file()  # the state went there


def test_info_says_where_everything_is(notes_with_weights, elsewhere, capsys):
    assert main(["--knowledge", str(notes_with_weights), "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    user_config = Path(os.environ["XDG_CONFIG_HOME"]) / "tinychat" / "tinychat.yaml"
    assert f"config       {user_config}" in lines
    state = state_for(notes_with_weights)
    assert f"state        {state} (weights, index cache, history, log)" in lines
    assert any(line.startswith(f"knowledge    {notes_with_weights}: 3 files") for line in lines)
