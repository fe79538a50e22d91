"""The command line: real subprocesses for the contract other programs rely on, main() in-process
for the rest."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.cli_support import call, command, env, make_folder, run
from tinychat.cli import main

QUESTION = "when does the ferry leave?"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A folder with notes and a tiny config but no weights: the first run must train."""
    return make_folder(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def first_run(fresh):
    """Pipe mode on the fresh folder: trains first, then answers."""
    return run(
        fresh,
        stdin=f"{QUESTION}\n\n   \nhow many bicycles does the ferry carry?\n",
        timeout=300,
    )


def test_first_pipe_run_trains_then_answers_one_line_each(first_run, fresh):
    assert first_run.returncode == 0, first_run.stderr
    assert (
        "training first" in first_run.stderr
        and "training [" in first_run.stderr
        and "final" in first_run.stderr
    )
    assert (
        len(first_run.stdout.splitlines()) == 2
    )  # blank and whitespace-only lines are skipped
    assert (fresh / "state" / "checkpoint.h5").is_file()
    assert "Traceback" not in first_run.stderr
    # how long it will take, said before it starts, and how to answer without waiting
    estimate = re.search(
        r"training first \(once\), about [\d a-z]+ here \(30 steps over 5 sentences\);"
        r" --no-train answers at once with the best matching sentence\n",
        first_run.stderr,
    )
    assert estimate and estimate.start() < first_run.stderr.index("training [")


def test_json_lines(trained_folder):
    result = call(trained_folder, "--json", stdin=f"{QUESTION}\nkeras\n")
    assert result.returncode == 0 and result.stderr == ""
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["query"] for r in records] == [QUESTION, "keras"]
    for record in records:
        assert set(record) == {
            "query",
            "answer",
            "abstained",
            "weak",
            "searched",
            "sources",
            "closest",
            "retrieved_only",
        }
        assert isinstance(record["answer"], str)
        for source in record["sources"]:
            assert (
                set(source) == {"path", "line", "end_line", "score", "text"}
                and source["line"] >= 1
            )
    assert (
        records[0]["sources"][0]["path"] == "ferry.md"
        and records[0]["sources"][0]["line"] == 3
    )


def test_pipe_answers_each_line_as_it_arrives(trained_folder):
    """Another program can converse: each answer comes back before the next question is sent."""
    import select

    process = subprocess.Popen(
        command("--json"),
        cwd=trained_folder,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env(),
    )
    try:
        for question in (QUESTION, "keras"):
            process.stdin.write(question + "\n")
            process.stdin.flush()  # stdin stays open: nothing has told tinychat the input ended
            ready, _, _ = select.select([process.stdout], [], [], 30)
            assert ready, f"no answer to {question!r} while stdin was open"
            assert json.loads(process.stdout.readline())["query"] == question
        process.stdin.close()
        assert process.wait(timeout=30) == 0 and process.stdout.read() == ""
    finally:
        process.kill()


def test_ask_show_prompt_and_json(trained_folder):
    shown = call(trained_folder, "ask", QUESTION, "--show-prompt")
    assert shown.returncode == 0
    assert shown.stdout.startswith(
        "[CONTEXT]\nThe ferry to Brisk leaves at 7"
    )  # cut to fit the tiny window
    assert f"\n[QUERY]\n{QUESTION}\n[ANSWER]\n" in shown.stdout
    record = json.loads(call(trained_folder, "ask", QUESTION, "--json").stdout)
    assert record["query"] == QUESTION and shown.stdout.endswith(
        record["answer"] + "\n"
    )


def test_info_and_demo(trained_folder):
    info = call(trained_folder, "info")
    assert info.returncode == 0
    assert (
        "parameters" in info.stdout
        and "97 ids" in info.stdout
        and "trained" in info.stdout
    )
    demo = call(trained_folder, "demo", "keras?")
    assert (
        demo.returncode == 0
        and demo.stdout.startswith("[CONTEXT]\n")
        and "[QUERY]\nkeras?\n[ANSWER]\n" in demo.stdout
    )


def test_eval_json_and_table(trained_folder):
    (trained_folder / "questions.yaml").write_text(
        "- q: when does the ferry leave for brisk\n  source: ferry.md\n  line: 3\n"
        "  answer: The ferry to Brisk leaves at 7 every morning.\n  keywords: ['7']\n"
        "- q: what does keras provide\n  source: keras.txt\n"
        "  answer: Keras provides a high-level API.\n"
    )
    result = call(trained_folder, "eval", "questions.yaml", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (
        report["questions"] == 2
        and report["hit1"] == 1.0
        and report["line_hit1"] == 1.0
    )
    for key in (
        "hit3",
        "keyword_recall",
        "all_keywords",
        "token_f1",
        "bpc_context",
        "bpc_no_context",
        "bpc_wrong_document",
        "baseline_keyword_recall",
        "baseline_token_f1",
        "looped",
    ):
        assert isinstance(report[key], float), key
    table = call(trained_folder, "eval", "questions.yaml")
    assert (
        table.returncode == 0
        and "keyword recall" in table.stdout
        and "{" not in table.stdout
    )
    missing = call(trained_folder, "eval", "nothing.yaml")
    assert (
        missing.returncode == 1
        and missing.stderr.strip() == "tinychat: nothing.yaml: questions file not found"
    )


def test_chat_path_never_imports_tensorflow(trained_folder):
    probe = (
        "import sys, io\n"
        "from tinychat.cli import main\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(b'when does the ferry leave?\\n'))\n"
        "code = main(['--config', 'tinychat.yaml', '--knowledge', 'notes', '--state', 'state',"
        " '--json'])\n"
        "print('CODE', code, 'tensorflow' in sys.modules, 'keras' in sys.modules,"
        " file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=trained_folder,
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert "CODE 0 False False" in result.stderr, result.stderr
    assert json.loads(result.stdout)["query"] == QUESTION


@pytest.mark.parametrize(
    "yaml_text, named",
    [
        ("model:\n  windw: 64\n", "model.windw"),
        ("retrieval:\n  top_k: -1\n", "retrieval.top_k"),
        ("model: [\n", "invalid YAML"),
    ],
)
def test_bad_config_is_one_line(tmp_path, capsys, yaml_text, named):
    (tmp_path / "bad.yaml").write_text(yaml_text)
    assert main(["--config", "bad.yaml", "info"]) == 1
    out, err = capsys.readouterr()
    assert (
        out == ""
        and err.count("\n") == 1
        and err.startswith("tinychat: ")
        and named in err
    )


def test_missing_or_empty_knowledge_and_bad_weights(trained_folder, tmp_path, capsys):
    assert main(["--knowledge", "nowhere", "--state", "s", "ask", "q"]) == 1
    assert "nowhere: knowledge folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["--knowledge", "empty", "--state", "s", "ask", "q"]) == 1
    assert "no .txt or .md text found" in capsys.readouterr().err
    (trained_folder / "state" / "checkpoint.h5").write_bytes(b"garbage")
    result = call(trained_folder, stdin="q\n")
    assert result.returncode == 1 and "train --fresh" in result.stderr
    # nothing of the user's is touched
    assert (trained_folder / "state" / "checkpoint.h5").read_bytes() == b"garbage"


def test_invalid_utf8_nul_and_long_lines_on_stdin(trained_folder):
    """Raw bytes through a real pipe: each line answered, no escape reaches stdout."""
    data = (
        b"caf\xe9 \xff\xfe ferry?\nnul\x00byte ferry\n"
        + b"x" * 1_000_000
        + b"\n\x1b]0;title\x07 ferry\n"
    )
    result = subprocess.run(
        command(),
        cwd=trained_folder,
        input=data,
        capture_output=True,
        env=env(),
        timeout=120,
    )
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 4
    assert b"\x1b" not in result.stdout and b"\x07" not in result.stdout


def test_a_state_path_that_is_a_file_is_refused(trained_folder, tmp_path):
    (tmp_path / "state.txt").write_text("mine")
    result = call(
        trained_folder, "--state", str(tmp_path / "state.txt"), stdin=QUESTION + "\n"
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "state.txt: the state folder is a file; pass --state DIR (a folder) or move the file"
    )
    assert (tmp_path / "state.txt").read_text() == "mine"


def test_ask_refuses_an_empty_question(trained_folder):
    result = call(trained_folder, "ask", "   ")
    assert result.returncode == 1 and result.stdout == ""
    assert (
        result.stderr
        == 'tinychat: ask: the question is empty; try tinychat ask "what is keras?"\n'
    )


@pytest.mark.parametrize(
    "where", [[], ["ask"], ["train"], ["eval"], ["info"], ["demo"]]
)
def test_help_lists_common_options(where, capsys):
    with pytest.raises(SystemExit) as leaving:
        main([*where, "--help"])
    assert leaving.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--config",
        "--knowledge",
        "--state",
        "--temperature",
        "--top-k",
        "--seed",
    ):
        assert option in out


class Terminal(io.StringIO):
    """stdin on a terminal, where a person answers `answer` to a question."""

    def __init__(self, answer: str):
        super().__init__(answer + "\n")

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("how, code", [("pipe", 1), ("--yes", 0), ("y", 0), ("n", 1)])
def test_a_folder_past_its_budget_asks_first(
    trained, tmp_path, monkeypatch, capsys, how, code
):
    from tests.conftest import write_notes

    config, _ = trained
    write_notes(
        tmp_path / "notes",
        {f"n{i}.txt": f"Note {i} has {i} facts.\n" for i in range(5)},
    )
    shutil.copytree(config.paths.state, tmp_path / "state")
    tiny = "model: {window: 128}\ngeneration: {max_answer_chars: 40}\nknowledge: {max_files: 3}\n"
    (tmp_path / "tinychat.yaml").write_text(tiny)
    piped = io.TextIOWrapper(io.BytesIO(b"how many facts has note 2?\n"))
    monkeypatch.setattr(
        sys, "stdin", piped if how in ("pipe", "--yes") else Terminal(how)
    )
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    argv = ["--knowledge", "notes", "--state", "state"]
    command = (
        [*argv, "--yes"]
        if how == "--yes"
        else [*argv, "ask", "how many facts has note 2?"]
    )
    assert main(command) == code
    out, err = capsys.readouterr()
    if how in ("pipe", "n"):  # refused: one line naming the budget and the key to raise
        assert out == "" and err.endswith(
            "notes: holds more than 3 files (knowledge.max_files);"
            " check --knowledge, or raise knowledge.max_files"
            " (0 = no limit) or pass --yes to index it anyway\n"
        )
    else:
        assert out.count("\n") == 1 and "Traceback" not in err
    asked = (
        "holds more than 3 files (knowledge.max_files); index it anyway? [y/N] " in err
    )
    assert asked == (how in ("y", "n"))


def test_a_file_name_that_is_not_utf8_on_every_command(trained_folder):
    """Through the real stdout (strict UTF-8): the name is shown escaped and --json still parses."""
    import os

    folder = trained_folder
    name = b"caf\xe9 menu.txt"  # as unpacked from an old zip archive
    (folder / "notes" / os.fsdecode(name)).write_text(
        "The cafe opens at 8 every day.\n"
    )
    piped = run(folder, "--json", stdin="when does the cafe open?\n")
    assert piped.returncode == 0 and "Traceback" not in piped.stderr, piped.stderr
    # the name as every output shows it, in text any JSON reader takes
    assert json.loads(piped.stdout)["sources"][0]["path"] == "caf\\xe9 menu.txt"
    for args in (
        ["ask", "when does the cafe open?", "--show-prompt"],
        ["demo"],
        ["info"],
    ):
        result = run(folder, *args)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (
            args,
            result.stderr,
        )
    (folder / "notes" / os.fsdecode(b"bin\xff.txt")).write_bytes(b"\x00binary")
    warned = run(folder, "ask", "when does the cafe open?")
    assert (
        warned.returncode == 0
        and "notes/bin\\xff.txt looks binary; skipped" in warned.stderr
    )
