"""The README says what the code does: its tables list the real commands and settings, and its
examples are what tinychat prints (retrieval and JSON fields; no model is needed for those)."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path

import numpy as np

from tinychat.architecture import weight_shapes
from tinychat.chat import ChatSession
from tinychat.checkpoint import Checkpoint
from tinychat.config import Config, PathsConfig, load_config
from tinychat.repl import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_slash_command_table_lists_every_command_and_no_other():
    """In the table's order, each row opening with what `/help` shows as the command's usage."""
    in_readme = re.findall(r"^\| `(/[^`]+)` \|", README, flags=re.MULTILINE)
    assert in_readme == [command.usage for command in COMMANDS]


def test_the_commands_table_has_a_row_for_every_subcommand():
    from tinychat.completion import read_parser
    from tinychat.cli import build_parser

    in_readme = set(re.findall(r"^\| `tinychat ([a-z]+)", README, flags=re.MULTILINE))
    subcommands = {command.name for command in read_parser(build_parser()).subcommands}
    assert in_readme == subcommands


def test_the_first_command_leaves_tinychat_runnable_as_typed_and_ci_runs_the_second():
    """After the first command `tinychat` runs as every later example types it (the venv is
    active in the shell), and .ci/run runs the README's test command exactly."""
    first, second = re.findall(r"^```sh\n(.+)\n```", README, flags=re.MULTILINE)[:2]
    assert ". .venv/bin/activate && " in first and first.endswith("&& tinychat")
    assert (ROOT / ".ci" / "run").read_text().splitlines()[-1] == second


def test_tinychat_yaml_documents_every_setting_and_no_other():
    text = (ROOT / "tinychat.yaml").read_text(encoding="utf-8")
    documented = set(re.findall(r"^  ([a-z0-9_]+):.*#", text, flags=re.MULTILINE))
    sections = typing.get_type_hints(Config).values()
    fields = {field.name for section in sections for field in dataclasses.fields(section)}
    assert documented == fields


def test_the_json_example_is_what_the_bundled_notes_give(tmp_path):
    """The README's --json line: its fields, and its sources and scores, which retrieval alone
    decides."""
    line = next(
        line
        for line in README.splitlines()
        if line.startswith('{"query": "what does temperature 0')
    )
    example = json.loads(line)
    config = load_config(ROOT / "tinychat.yaml")
    config = dataclasses.replace(
        config, paths=PathsConfig(knowledge=ROOT / "knowledge", state=tmp_path)
    )
    rng = np.random.default_rng(0)
    arrays = {
        name: rng.normal(size=shape).astype(np.float32)
        for name, shape in weight_shapes(config.model).items()
    }
    session = ChatSession(config, Checkpoint(config.model, arrays, {}))
    record = session.ask(example["query"]).to_json()
    assert set(record) == set(example)
    assert record["sources"] == example["sources"] and record["abstained"] == example["abstained"]
    shown = re.findall(r"^  \d\. (\S+):(\d+)  score (\d\.\d{3})", README, flags=re.MULTILINE)
    shown = shown[: len(example["sources"])]
    assert shown == [(s["path"], str(s["line"]), f"{s['score']:.3f}") for s in example["sources"]]
