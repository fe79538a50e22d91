"""The REPL driven through prompt-toolkit's pipe input, as its own tests do."""

from __future__ import annotations

import io
import itertools
import re

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tinychat.chat import ChatSession
from tinychat.repl import COMMANDS, Repl, SlashCompleter


def drive(session: ChatSession, typed: str) -> tuple[int, str]:
    """Run the REPL on `typed` (then Ctrl-D); return the exit code and what it wrote."""
    out = io.StringIO()
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text(typed + "\x04")
        code = Repl(session, out=out, input=pipe, output=DummyOutput()).run()
    return code, out.getvalue()


def test_slash_commands_and_a_question(session):
    code, text = drive(
        session,
        "/temp 0.5\n/temp\n/topk 1\nwhen does the ferry leave?\n/sources\n/sources -v\n"
        "/nonsense\n/tem\n/temp x\n",
    )
    lines = text.splitlines()
    assert code == 0
    assert lines.count("temperature 0.5") == 2 and "top-k 1" in lines
    assert session.temperature == 0.5 and session.top_k == 1
    answer = session.last
    assert answer.text in lines  # the streamed answer, on its own line
    source = answer.sources[0].chunk
    assert any(line.startswith(f"  1. {source.path}:{source.line}  score ") for line in lines)
    assert "prompt the model saw:" in lines and "[CONTEXT]" in lines and "[ANSWER]" in lines
    assert "unknown command /nonsense (/help lists them)" in lines
    assert "unknown command /tem; did you mean /temp? (/help lists them)" in lines
    assert "/temp x: give a number from 0 (greedy) to 10" in lines


def test_help_lists_every_command_and_sources_before_any_answer(session):
    code, text = drive(session, "/help\n/sources\n/probs\n/why\n")
    assert code == 0
    unwrapped = " ".join(text.split())
    for command in COMMANDS:
        assert f"  {command.usage}" in text and command.help in unwrapped
    assert text.count("no answer yet: ask a question first") == 3


def test_quit_and_history(session):
    code, _ = drive(session, "when does the ferry leave?\n/quit\n")
    assert code == 0
    assert "when does the ferry leave?" in (session.config.paths.state / "history").read_text()


def test_views_render_at_80_columns_with_and_without_colour(session, monkeypatch):
    from tinychat.views import attention_view, probability_view

    answer = session.ask("when does the ferry leave?")
    for color in (True, False):
        for view in (probability_view(answer, 80, color), attention_view(answer, 80, color)):
            rendered = ["".join(text for _, text in line) for line in view]
            assert all(len(line) <= 80 for line in rendered)
            coloured = any("bg:" in style or "fg:" in style for line in view for style, _ in line)
            assert coloured == color
    plain = ["".join(t for _, t in line) for line in probability_view(answer, 80, color=False)]
    digits = plain[2]  # below the answer: each character's probability in tenths
    assert len(digits) == min(80, len(answer.text)) and digits.isdigit()
    assert [int(d) for d in digits] == [min(9, int(p * 10)) for p in answer.probabilities[:80]]


def test_probabilities_are_the_runtime_softmax(session):
    answer = session.ask("when does the ferry leave?")
    from tinychat.vocab import encode

    runtime = session.runtime
    ids = encode(answer.prompt)
    runtime.prefill(ids[:-1])  # as the chat feeds a prompt
    probs = runtime.step(int(ids[-1]))
    for char_id, dist in zip(encode(answer.text), answer.distributions):
        assert abs(probs.sum() - 1) < 1e-4 and (probs == dist).all()
        probs = runtime.step(int(char_id))


def test_attention_maps_are_normalised(session):
    from tinychat.views import attention_maps

    answer = session.ask("when does the ferry leave?")
    maps = attention_maps(answer)
    assert set(maps) == {
        "layer 1 head 1",
        "layer 1 head 2",
        "layer 2 head 1",
        "layer 2 head 2",
        "copy path",
    }
    for values in maps.values():
        assert (
            len(values) == len(answer.prompt)
            and values.max() == pytest.approx(1.0)
            and values.min() >= 0
        )


def test_completion_only_for_slash_commands():
    completer = SlashCompleter()
    assert [c.text for c in completer.get_completions(Document("/te"), None)] == ["/temp"]
    names = {name for c in COMMANDS for name in (c.name, *c.aliases)}
    assert {c.text for c in completer.get_completions(Document("/"), None)} == names
    assert list(completer.get_completions(Document("what"), None)) == []


def test_add_a_file_then_ask_about_it_in_the_repl(session, tmp_path):
    (tmp_path / "notes" / "zeppelin.txt").write_text(
        "The zeppelin Quorvax carries 310 passengers.\n"
    )
    code, text = drive(session, "how many passengers does the zeppelin quorvax carry?\n/sources\n")
    assert code == 0 and "  1. zeppelin.txt:1  score " in text
    with create_pipe_input() as pipe:
        toolbar = Repl(session, out=io.StringIO(), input=pipe, output=DummyOutput()).toolbar()
    assert "model trained before 1 file changed: /retrain" in toolbar


def test_topk_zero_is_refused(session):
    code, text = drive(session, "/topk 0\n/topk 51\n/topk 1\n")
    lines = text.splitlines()
    assert code == 0 and session.top_k == 1
    assert "/topk 0: give a whole number from 1 to 50" in lines
    assert "/topk 51: give a whole number from 1 to 50" in lines


def test_unknown_arguments_are_refused_and_name_what_is_accepted(session, monkeypatch):
    import tinychat.repl

    monkeypatch.setattr(tinychat.repl, "Trainer", lambda *a, **k: pytest.fail("retrained"))
    typed = "when does the ferry leave?\n/retrain --fersh\n/sources -x\n/why now\n/help x\n"
    code, text = drive(session, typed)
    lines = text.splitlines()
    assert code == 0
    assert "/retrain --fersh: unknown argument; /retrain accepts --fresh" in lines
    assert "/sources -x: unknown argument; /sources accepts -v" in lines
    assert "/why now: /why takes no arguments" in lines
    assert "/help x: /help takes no arguments" in lines
    assert not any(line.startswith("  1. ") for line in lines)  # /sources -x listed nothing


def test_help_aligns_every_description(session):
    _, text = drive(session, "/help\n")
    rows = [line for line in text.splitlines() if line.startswith("  /")]
    starts = {
        line.index(command.help.split()[0], 2 + len(command.usage))
        for line, command in zip(rows, COMMANDS)
    }
    assert len(rows) == len(COMMANDS) and len(starts) == 1


@pytest.mark.parametrize("columns", [40, 80])
def test_help_and_info_wrap_between_words_at_any_width(session, columns):
    """A line longer than the terminal would be broken by it mid-word ("every weight arr|ay")."""
    from prompt_toolkit.data_structures import Size

    class Narrow(DummyOutput):
        def get_size(self) -> Size:
            return Size(rows=30, columns=columns)

    out = io.StringIO()
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=Narrow()):
        pipe.send_text("/help\n/info\n\x04")
        Repl(session, out=out, input=pipe, output=Narrow()).run()
    lines = out.getvalue().splitlines()[1:]  # after the greeting
    # Only a word longer than a line (a path in tmp) may stick out; it is never cut.
    limit = columns - 2
    too_long = [line for line in lines if len(line) > limit]
    assert all(max(map(len, line.split())) > limit - 13 for line in too_long), too_long
    said = " ".join(out.getvalue().split())
    for command in COMMANDS:  # every description whole, its words in order
        assert command.help in said
    assert "learned numbers in" in said and "changed since: tinychat train" not in said


def test_completion_of_a_command_s_arguments():
    completer = SlashCompleter()
    assert [c.text for c in completer.get_completions(Document("/retrain --f"), None)] == [
        "--fresh"
    ]
    assert [c.text for c in completer.get_completions(Document("/sources "), None)] == ["-v"]
    assert list(completer.get_completions(Document("/why "), None)) == []


class FinishedTrainer:
    """Stands in for the trainer child: a training that has already ended."""

    def __init__(self, config, fresh, on_change=None, expected=None):
        self.config, self.notices, self.exit_code, self.step = config, [], None, 0

    def start(self):
        self.exit_code = 0
        return self

    def running(self) -> bool:
        return self.exit_code is None


def test_retrain_clears_the_re_indexed_note_from_the_toolbar(session, tmp_path, monkeypatch):
    import tinychat.repl
    from tinychat import checkpoint

    (tmp_path / "notes" / "zeppelin.txt").write_text("The zeppelin Quorvax carries 310.\n")
    session.sync()
    assert session.reindexed == "re-indexed: 1 added"

    class Retrained(FinishedTrainer):
        def start(self):
            """The same weights, saved as made for this knowledge."""
            knowledge = session.knowledge
            meta = {
                "knowledge": {
                    "fingerprint": knowledge.fingerprint(),
                    "manifest": knowledge.manifest_hashes(),
                }
            }
            model = session.checkpoint
            checkpoint.save(
                checkpoint.weights_path(self.config.paths.state), model.config, model.arrays, meta
            )
            return super().start()

    monkeypatch.setattr(tinychat.repl, "Trainer", Retrained)
    code, text = drive(session, "/retrain\nwhen does the ferry leave?\n")
    assert code == 0 and "training in the background" in text
    # how long, at the pace of the training that made the weights
    paced = r"in the background, 10 steps: at most \d:\d\d at the last training's pace;"
    assert re.search(paced, " ".join(text.split()))  # wrapped between words
    assert session.checkpoint.fingerprint == session.knowledge.fingerprint()  # swapped in
    with create_pipe_input() as pipe:
        toolbar = Repl(session, out=io.StringIO(), input=pipe, output=DummyOutput()).toolbar()
    assert "re-indexed" not in toolbar and "/retrain" not in toolbar


def test_a_second_retrain_while_one_runs_is_refused_in_one_line(session, monkeypatch):
    import tinychat.repl

    class Running(FinishedTrainer):
        started = 0

        def start(self):
            Running.started += 1
            self.step, self.total = 7, 30
            return self

    monkeypatch.setattr(tinychat.repl, "Trainer", Running)
    code, text = drive(session, "/retrain\n/retrain --fresh\n")
    assert code == 0 and Running.started == 1
    assert (
        "/retrain: a training is already running (step 7 of 30); its weights come in when it"
        " ends" in text.splitlines()
    )


@pytest.mark.parametrize("word", ["exit", "quit", "QUIT", "/exit", "/bye", "/quit"])
def test_leave_words(session, word):
    code, text = drive(session, f"{word}\n/temp 0.5\n")
    assert code == 0 and session.last is None and session.temperature == 0  # left at once


def test_ctrl_c_at_an_empty_prompt_says_how_to_leave(session):
    _, text = drive(session, "\x03what\x03")
    assert text.splitlines().count("(Ctrl-D or /quit leaves)") == 1  # not when clearing a line


@pytest.mark.parametrize(
    "typed",
    [
        "\x1b[200~when does the\nferry leave?\x1b[201~\n",  # a bracketed paste: its newline stays
        "when does the\x1b\rferry leave?\n",  # Alt-Enter (Esc, Enter) starts a new line
        '"""\nwhen does the\n  ferry leave?\n"""\n',  # a block between two lines of three quotes
        '"""when does the\nferry leave?"""\n',
    ],
)
def test_a_question_over_several_lines_is_one_question(session, typed):
    asked = []
    prepare = session.prepare
    session.prepare = lambda query: asked.append(query) or prepare(query)
    code, _ = drive(session, typed)
    assert code == 0 and asked == ["when does the ferry leave?"]


def contrast(style: str) -> float:
    """WCAG contrast ratio between a fragment's fg: and bg: colours."""

    def luminance(colour: str) -> float:
        linear = []
        for offset in (1, 3, 5):
            value = int(colour[offset : offset + 2], 16) / 255
            linear.append(value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4)
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    colours = dict(part.split(":") for part in style.split())
    light, dark = sorted((luminance(colours["fg"]), luminance(colours["bg"])), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_why_is_legible_on_any_terminal_background(session):
    """Each shaded cell sets both its colours, with at least the contrast WCAG asks of body text."""
    from tinychat.views import attention_view

    view = attention_view(session.ask("when does the ferry leave?"), 80, color=True)
    styles = {style for line in view for style, _ in line if "bg:" in style}
    assert len(styles) > 5 and all("fg:" in style for style in styles)
    assert min(contrast(style) for style in styles) >= 4.5


def test_info_short_and_with_v(session):
    _, text = drive(session, "/info\n/info -v\n")
    assert text.count("parameters   ") == 1 and text.count("token_embedding") == 1


def test_sources_show_whole_sentences_wrapped_with_a_hanging_indent(session, tmp_path):
    sentence = (
        "The zeppelin Quorvax carries 310 passengers between the northern harbour towns"
        " every second Tuesday, weather and the harbour-master's good humour permitting."
    )
    (tmp_path / "notes" / "zeppelin.txt").write_text(sentence + "\n")
    _, text = drive(session, "how many passengers does the zeppelin quorvax carry?\n/sources\n")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  1. zeppelin.txt:1  score"))
    hanging = itertools.takewhile(lambda line: line.startswith("     "), lines[first + 1 :])
    rows = [lines[first], *hanging]
    assert len(rows) >= 2 and all(len(row) <= 78 for row in rows)  # DummyOutput is 80 columns wide
    assert sentence in " ".join(row.strip() for row in rows)  # whole, and cut only between words


def test_sources_after_a_decline_say_why_and_list_the_closest_sentences(session, tmp_path):
    (tmp_path / "notes" / "kelmoor.txt").write_text("The Kelmoor ferry crosses to Dunmore.\n")
    _, text = drive(session, "when does the brisby kelmoor leave?\n/sources\n")
    assert "The notes don't say." not in text  # the notes know the Kelmoor: a weak match
    _, text = drive(session, "who wrote the brisby chronicles?\n/sources\n")
    assert "The notes don't say." in text
    assert "the notes don't hold the answer (no note mentions" in text
    assert "  1. " in text  # the closest sentences are still listed, as not used


def test_a_weak_match_is_answered_marked_and_sources_say_why(session, tmp_path):
    (tmp_path / "notes" / "kelmoor.txt").write_text("The Kelmoor ferry crosses to Dunmore.\n")
    _, text = drive(session, "when does the brisby ferry leave?\n/sources\n")
    answer = text.splitlines()[1]
    assert answer.startswith("The ferry to Brisk leaves")  # the closest sentence, answered ...
    assert "(closest note; it may not answer this)" in " ".join(text.split())  # ... and marked
    assert 'a weak match (no note mentions "brisby"): check the source' in text


def test_an_error_is_said_once_not_again_by_the_watcher(session, tmp_path, capsys):
    from tinychat.watcher import Watcher

    out = io.StringIO()
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        repl = Repl(session, out=out, input=pipe, output=DummyOutput())
        watcher = Watcher(session)  # not started: it syncs while the person types, as below
        prompt = repl.prompt.prompt

        def typing(*args, **kwargs):
            watcher._sync()
            watcher._sync()  # a second change (or poll) while the folder is away: nothing new
            return prompt(*args, **kwargs)

        repl.prompt.prompt = typing
        (tmp_path / "notes").rename(tmp_path / "away")
        pipe.send_text("when does the ferry leave?\n/topk\n\x04")
        repl.run()
    said = out.getvalue() + capsys.readouterr().err
    assert said.count("knowledge folder not found") == 1, said


def broken_history(kind: str, state, monkeypatch) -> None:
    """Make the history unusable as a read-only folder, `chmod 444`, a folder or a FIFO would."""
    import os

    history = state / "history"
    if kind == "a folder":
        history.mkdir(parents=True)
    elif kind == "a FIFO":
        history.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(history)
    else:  # tests run as root, whom chmod does not stop: refuse the write itself
        history.parent.mkdir(parents=True, exist_ok=True)
        history.write_text("\n# earlier\n+an old question\n")
        real_open = os.open

        def read_only(path, flags, *mode):
            if str(path).endswith("history") and flags & os.O_WRONLY:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, *mode)

        monkeypatch.setattr(os, "open", read_only)


@pytest.mark.parametrize("kind", ["a folder", "a FIFO", "read-only"])
def test_a_history_that_cannot_be_used_does_not_stop_the_chat(session, monkeypatch, capfd, kind):
    from tests.conftest import finishes

    broken_history(kind, session.config.paths.state, monkeypatch)
    code, text = finishes(lambda: drive(session, "when does the ferry leave?\nkeras?\n/quit\n"))
    assert code == 0 and session.last.query == "keras?"  # both questions answered
    said = capfd.readouterr()
    assert "Unhandled exception" not in said.out + said.err and "Press ENTER" not in said.err
    assert said.err.count("note: the history") == 1  # said once, not at every question
    assert "arrow-up recalls this session only" in said.err


def test_a_raw_escape_sequence_typed_at_the_prompt_is_text(session, capfd):
    """ESC [ 3 1 m without bracketed paste looks like a mouse report to the input parser."""
    from tests.conftest import finishes

    code, text = finishes(lambda: drive(session, "what \x1b[31mtemp\n\x1b[Mabc\n/quit\n"))
    said = capfd.readouterr()
    assert code == 0 and "Unhandled exception" not in said.out + said.err
    assert session.last.query == "what [31mtemp"


def test_the_history_file_is_prompt_toolkits_format(tmp_path):
    """Read and written as FileHistory does, so earlier sessions' questions come back whole."""
    from prompt_toolkit.history import FileHistory

    from tinychat.repl import ChatHistory

    questions = ["one", "two\nlines", "a line \u2028 separator", "a file \x1c separator"]
    theirs, ours = FileHistory(str(tmp_path / "theirs")), ChatHistory(tmp_path / "ours", print)
    for question in questions:
        theirs.store_string(question)
        ours.store_string(question)
    assert list(ChatHistory(tmp_path / "theirs", print).load_history_strings()) == questions[::-1]
    assert list(FileHistory(str(tmp_path / "ours")).load_history_strings()) == questions[::-1]


def test_info_in_the_repl_speaks_of_retrain_and_of_the_training_under_way(
    session, trained, tmp_path
):
    """Inside the REPL the way to update the weights is /retrain, and a training running in the
    background is part of what the model is doing."""
    import shutil

    from tinychat.trainer import Trainer

    shutil.copytree(trained[0].paths.state, session.config.paths.state, dirs_exist_ok=True)
    (tmp_path / "notes" / "keras.txt").write_text("Keras is a library.\n")
    trainer = Trainer(session.config, fresh=False)
    trainer._event("progress 120 400 0.6123 110.0")
    trainer.running = lambda: True  # no child was started; the line above is what one sends
    out = io.StringIO()
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("/info\n\x04")
        repl = Repl(session, out=out, input=pipe, output=DummyOutput())
        repl.trainer = trainer
        repl.stop_training = lambda: None
        repl.run()
    said = " ".join(out.getvalue().split())
    assert "(1 file changed since: /retrain)" in said and "tinychat train" not in said
    assert "under way training 120/400 loss 0.61 at most 1:50 left (in the background)" in said


def test_a_resumed_training_is_announced_once(session):
    """The REPL says "resuming training from step N" when it starts the training; the same line
    from the trainer child is not said again later (after an /info, say)."""

    class Child:
        notices = ["resuming training from step 115 of 1000", "training: 1 file skipped"]
        exit_code = None

    with create_pipe_input() as pipe:
        repl = Repl(session, out=io.StringIO(), input=pipe, output=DummyOutput())
        repl.trainer = Child()
        repl.check_training()
    assert repl.notices == ["training: 1 file skipped"] and Child.notices == []
