"""The command line: real subprocesses for the contract other programs rely on, main() in-process
for the rest."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

import pytest

from tests.cli_support import command, env, make_folder, run

QUESTION = "when does the ferry leave?"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A folder with notes and a tiny config but no weights: the first run must train."""
    return make_folder(tmp_path_factory.mktemp("cli"), train=False)


@pytest.fixture(scope="module")
def first_run(fresh):
    """Pipe mode on the fresh folder: trains first, then answers."""
    return run(
        fresh, stdin=f"{QUESTION}\n\n   \nhow many bicycles does the ferry carry?\n", timeout=300
    )


def test_first_pipe_run_trains_then_answers_one_line_each(first_run, fresh):
    assert first_run.returncode == 0, first_run.stderr
    assert (
        "training first" in first_run.stderr
        and "training [" in first_run.stderr
        and "final" in first_run.stderr
    )
    assert len(first_run.stdout.splitlines()) == 2  # blank and whitespace-only lines are skipped
    assert (fresh / "state" / "checkpoint.h5").is_file()
    assert "Traceback" not in first_run.stderr


def test_json_lines(first_run, fresh):
    result = run(fresh, "--json", stdin=f"{QUESTION}\nkeras\n")
    assert result.returncode == 0 and result.stderr == ""
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["query"] for r in records] == [QUESTION, "keras"]
    for record in records:
        assert set(record) == {"query", "answer", "abstained", "searched", "sources"}
        assert isinstance(record["answer"], str)
        for source in record["sources"]:
            assert set(source) == {"path", "line", "end_line", "score"} and source["line"] >= 1
    assert records[0]["sources"][0]["path"] == "ferry.txt" and records[0]["sources"][0]["line"] == 1


def test_pipe_answers_each_line_as_it_arrives(first_run, fresh):
    """Another program can converse: each answer comes back before the next question is sent."""
    import select

    process = subprocess.Popen(
        command("--json"),
        cwd=fresh,
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


def test_ask_show_prompt_and_json(first_run, fresh):
    shown = run(fresh, "ask", QUESTION, "--show-prompt")
    assert shown.returncode == 0
    assert shown.stdout.startswith(
        "[CONTEXT]\nThe ferry to Brisk leaves at 7"
    )  # cut to fit the tiny window
    assert f"\n[QUERY]\n{QUESTION}\n[ANSWER]\n" in shown.stdout
    record = json.loads(run(fresh, "ask", QUESTION, "--json").stdout)
    assert record["query"] == QUESTION and shown.stdout.endswith(record["answer"] + "\n")


def test_info_and_demo(first_run, fresh):
    info = run(fresh, "info")
    assert info.returncode == 0
    assert "parameters" in info.stdout and "97 ids" in info.stdout and "trained" in info.stdout
    demo = run(fresh, "demo", "keras?")
    assert (
        demo.returncode == 0
        and demo.stdout.startswith("[CONTEXT]\n")
        and "[QUERY]\nkeras?\n[ANSWER]\n" in demo.stdout
    )


def test_eval_json_and_table(first_run, fresh):
    (fresh / "questions.yaml").write_text(
        "- q: when does the ferry leave for brisk\n  source: ferry.txt\n  line: 1\n"
        "  answer: The ferry to Brisk leaves at 7 every morning.\n  keywords: ['7']\n"
        "- q: what does keras provide\n  source: keras.txt\n"
        "  answer: Keras provides a high-level API.\n"
    )
    result = run(fresh, "eval", "questions.yaml", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["questions"] == 2 and report["hit1"] == 1.0 and report["line_hit1"] == 1.0
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
    table = run(fresh, "eval", "questions.yaml")
    assert table.returncode == 0 and "keyword recall" in table.stdout and "{" not in table.stdout
    missing = run(fresh, "eval", "nothing.yaml")
    assert (
        missing.returncode == 1
        and missing.stderr.strip() == "tinychat: nothing.yaml: questions file not found"
    )


def test_chat_path_never_imports_tensorflow(first_run, fresh):
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
        cwd=fresh,
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
def test_bad_config_is_one_line(tmp_path, yaml_text, named):
    (tmp_path / "bad.yaml").write_text(yaml_text)
    result = subprocess.run(
        [sys.executable, "-m", "tinychat", "--config", "bad.yaml", "info"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env(),
    )
    assert result.returncode == 1 and result.stdout == ""
    assert (
        result.stderr.count("\n") == 1
        and result.stderr.startswith("tinychat: ")
        and named in result.stderr
    )


def test_missing_or_empty_knowledge_and_bad_weights(first_run, fresh, tmp_path):
    missing = subprocess.run(
        command()[:-6] + ["--knowledge", "nowhere", "--state", "s"],
        cwd=tmp_path,
        input="q\n",
        capture_output=True,
        text=True,
        env=env(),
    )
    assert missing.returncode == 1 and "nowhere: knowledge folder not found" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = subprocess.run(
        command()[:-6] + ["--knowledge", "empty", "--state", "s"],
        cwd=tmp_path,
        input="q\n",
        capture_output=True,
        text=True,
        env=env(),
    )
    assert empty.returncode == 1 and "no .txt or .md text found" in empty.stderr
    broken = tmp_path / "broken"
    shutil.copytree(fresh, broken)
    (broken / "state" / "checkpoint.h5").write_bytes(b"garbage")
    result = run(broken, stdin="q\n")
    assert (
        result.returncode == 1
        and "train --fresh" in result.stderr
        and "Traceback" not in result.stderr
    )
    assert (
        broken / "state" / "checkpoint.h5"
    ).read_bytes() == b"garbage"  # nothing of the user's is touched


def test_invalid_utf8_nul_and_long_lines_on_stdin(first_run, fresh):
    data = (
        b"caf\xe9 \xff\xfe ferry?\nnul\x00byte ferry\n"
        + b"x" * 1_000_000
        + b"\n\x1b]0;title\x07 ferry\n"
    )
    result = subprocess.run(
        command(), cwd=fresh, input=data, capture_output=True, env=env(), timeout=120
    )
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 4
    assert b"\x1b" not in result.stdout and b"\x07" not in result.stdout


def test_a_state_path_that_is_a_file_is_refused(fresh, tmp_path):
    (tmp_path / "state.txt").write_text("mine")
    result = run(
        fresh, "--state", str(tmp_path / "state.txt"), stdin="when does the ferry leave?\n"
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(
        "state.txt: the state folder is a file; pass --state DIR (a folder) or move the file"
    )
    assert (tmp_path / "state.txt").read_text() == "mine"


def test_ask_refuses_an_empty_question(fresh):
    result = run(fresh, "ask", "   ")
    assert result.returncode == 1 and result.stdout == ""
    assert (
        result.stderr == 'tinychat: ask: the question is empty; try tinychat ask "what is keras?"\n'
    )


@pytest.mark.parametrize("where", [[], ["ask"], ["train"], ["eval"], ["info"], ["demo"]])
def test_help_lists_common_options(where):
    result = subprocess.run(
        [sys.executable, "-m", "tinychat", *where, "--help"],
        capture_output=True,
        text=True,
        env=env(),
    )
    assert result.returncode == 0
    for option in ("--config", "--knowledge", "--state", "--temperature", "--top-k", "--seed"):
        assert option in result.stdout


class Terminal(io.StringIO):
    """stdin on a terminal, where a person answers `answer` to a question."""

    def __init__(self, answer: str):
        super().__init__(answer + "\n")

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("how, code", [("pipe", 1), ("--yes", 0), ("y", 0), ("n", 1)])
def test_a_folder_past_its_budget_asks_first(trained, tmp_path, monkeypatch, capsys, how, code):
    from tests.conftest import write_notes
    from tinychat.cli import main

    config, _ = trained
    write_notes(tmp_path / "notes", {f"n{i}.txt": f"Note {i} has {i} facts.\n" for i in range(5)})
    shutil.copytree(config.paths.state, tmp_path / "state")
    tiny = "model: {window: 128}\ngeneration: {max_answer_chars: 40}\nknowledge: {max_files: 3}\n"
    (tmp_path / "tinychat.yaml").write_text(tiny)
    piped = io.TextIOWrapper(io.BytesIO(b"how many facts has note 2?\n"))
    monkeypatch.setattr(sys, "stdin", piped if how in ("pipe", "--yes") else Terminal(how))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    argv = ["--knowledge", "notes", "--state", "state"]
    command = [*argv, "--yes"] if how == "--yes" else [*argv, "ask", "how many facts has note 2?"]
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
    asked = "holds more than 3 files (knowledge.max_files); index it anyway? [y/N] " in err
    assert asked == (how in ("y", "n"))


def test_a_file_name_that_is_not_utf8_on_every_command(first_run, fresh, tmp_path):
    """Through the real stdout (strict UTF-8): the name is shown escaped and --json still parses."""
    import os

    folder = tmp_path / "latin1"
    shutil.copytree(fresh, folder)
    name = b"caf\xe9 menu.txt"  # as unpacked from an old zip archive
    (folder / "notes" / os.fsdecode(name)).write_text("The cafe opens at 8 every day.\n")
    piped = run(folder, "--json", stdin="when does the cafe open?\n")
    assert piped.returncode == 0 and "Traceback" not in piped.stderr, piped.stderr
    assert json.loads(piped.stdout)["sources"][0]["path"] == os.fsdecode(name)  # the same name back
    for args in (["ask", "when does the cafe open?", "--show-prompt"], ["demo"], ["info"]):
        result = run(folder, *args)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
    (folder / "notes" / os.fsdecode(b"bin\xff.txt")).write_bytes(b"\x00binary")
    warned = run(folder, "ask", "when does the cafe open?")
    assert warned.returncode == 0 and "notes/bin\\xff.txt looks binary; skipped" in warned.stderr
