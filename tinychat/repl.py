"""The interactive chat: a prompt-toolkit prompt, streamed answers and slash commands.

The slash commands are one table (`commands.COMMANDS`) that feeds the dispatcher, `/help` and
tab completion. Answers are written to stdout a character at a time as the model produces
them, each followed by the file and line it came from (`citation`) and added to the log
(`log`) and to this run's turns (for /save); Ctrl-C stops an answer and returns to the
prompt; Ctrl-D, /quit (/exit, /bye), `exit` or `quit` leave. A question may span lines (a
paste, Alt-Enter, or a block between two lines of three double quotes, as in ollama); its
newlines are folded to spaces before answering.

Training (the first one, and /retrain) runs in a child process (`trainer`) while the chat
goes on; the toolbar shows its progress, and its weights are swapped in between two answers.
Until the first weights exist, an answer is the best matching sentence, marked as such.
"""

from __future__ import annotations

import datetime
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History
from prompt_toolkit.output import ColorDepth

from tinychat.chat import Answer, ChatSession
from tinychat.citation import RETRIEVED_MARK, UNTRAINED_MARK, WEAK_MARK, citation
from tinychat.commands import BLOCK_QUOTES, COMMANDS
from tinychat.errors import TinychatError
from tinychat.architecture import parameter_count
from tinychat.files import FileTooLarge, open_for_writing, read_regular
from tinychat.key_bindings import InterruptAtEmptyPrompt, chat_key_bindings
from tinychat.log import AnswerLog
from tinychat.terminal import printable, printable_line
from tinychat.trainer import Trainer, expected_seconds, length
from tinychat.wrap import WordWrap

HISTORY_NAME = "history"
MAX_HISTORY_BYTES = 16 << 20  # some 300,000 questions; a larger file is left alone, not loaded
LEAVE_WORDS = ("exit", "quit")  # typed alone they leave, as in psql and ollama
LEAVE_HINT = "(Ctrl-D or /quit leaves)"
CONTINUATION = "... "  # the prompt of a question's second and later lines


class Repl:
    """The REPL's state: the chat session, where answers are written, the prompt."""

    config_file: Path | None = None  # the settings file read, for /info (set by run_repl)
    trainer: Trainer | None = None  # the training under way in a child process, if any
    resumed_by = "the next start"  # what picks up the progress of a stopped training
    redraw: Callable[[], None] = staticmethod(lambda: None)  # the toolbar, from other threads

    def __init__(self, session: ChatSession, out: TextIO | None = None, **prompt_options: Any):
        self.session = session
        self.out = out or sys.stdout
        self.notices: list[
            str
        ] = []  # from the background watcher: shown between prompts, never over one
        self.last_error = ""  # said for the last line typed: the watcher's copy is not said again
        session.on_notice = self.notices.append
        # a chat: "how tall is it?" refers back to the last answer's subject
        session.follow_up = True
        session.background = True  # the prompt comes at once; a retrieval stage builds meanwhile
        state = session.config.paths.state
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # the history then cannot be written, and says so once
        self.prompt = PromptSession(
            history=ChatHistory(state / HISTORY_NAME, self.notices.append),
            auto_suggest=AutoSuggestFromHistory(),
            completer=SlashCompleter(),
            key_bindings=chat_key_bindings(),
            complete_while_typing=True,
            bottom_toolbar=self.toolbar,
            prompt_continuation=CONTINUATION,  # the lines after an Alt-Enter, as in a block
            **prompt_options,
        )
        self.started = datetime.datetime.now()
        self.turns: list[Answer] = []  # the answers of this REPL run, in order, for /save
        self.log = AnswerLog(state, self.notices.append)

    def say(self, text: str = "") -> None:
        self.out.write(printable(text) + "\n")
        self.out.flush()

    def say_wrapped(self, text: str, indent: int = 2) -> None:
        """Say `text` wrapped at whole words to the terminal, later lines indented by `indent`."""
        self.say(
            textwrap.fill(
                text,
                width=self.width(),
                subsequent_indent=" " * indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )

    def width(self) -> int:
        return max(20, min(120, self.prompt.output.get_size().columns - 2))

    def colors(self) -> bool:
        # from_env reads NO_COLOR
        depth = ColorDepth.from_env() or self.prompt.output.get_default_color_depth()
        return depth != ColorDepth.DEPTH_1_BIT

    def show(self, lines: "list[list[tuple[str, str]]] | None") -> None:
        """Print view lines: styled through prompt-toolkit on a colour terminal, plain otherwise."""
        if lines is None:
            self.say("no answer yet: ask a question first")
            return
        if not self.colors():
            self.out.write("".join("".join(text for _, text in line) + "\n" for line in lines))
            self.out.flush()
            return
        for line in lines:
            print_formatted_text(FormattedText(line), output=self.prompt.output)

    def show_notices(self) -> None:
        while self.notices:
            notice = self.notices.pop(0)
            if notice != self.last_error:
                sys.stderr.write(printable_line(notice) + "\n")
        sys.stderr.flush()

    def toolbar(self) -> str:
        """The bottom line: what is changing (a training, notes changed since it) first, then the
        model, the knowledge, temperature and top-k, as many of them as the terminal's width
        holds (an 80-column terminal had cut the training's time left)."""
        session = self.session
        model = session.config.model
        status = ""
        if self.trainer and self.trainer.running():
            status = self.trainer.status()
        elif self.trainer:
            ended = self.trainer.exit_code == 0
            status = "trained: the next question uses it" if ended else "training ended early"
        elif session.progress:
            status = session.progress
        elif session.stale:
            status = session.stale
        elif session.reindexed:
            status = session.reindexed
        parts = [status] if status else []
        columns = self.prompt.output.get_size().columns
        for part in (
            f"{parameter_count(model) / 1000:.1f}k params, window {model.window}",
            f"{len(session.knowledge.files)} files, {len(session.knowledge.chunks)} chunks",
            f"temp {session.temperature:g}",
            f"top-k {session.top_k}",
        ):
            if parts and len(" | ".join([*parts, part])) > columns:
                break
            parts.append(part)
        return printable(" | ".join(parts))

    # ------------------------------------------------------------------------ training

    def train(self, fresh: bool) -> None:
        """Start a training in the background; chatting goes on with the weights there are."""
        from tinychat import resume
        from tinychat.startup import training_holder

        config = self.session.config
        fingerprint = self.session.knowledge.fingerprint()
        warm = not fresh and self.session.checkpoint is not None
        base = resume.base_of(self.session.checkpoint) if warm else ""
        steps = config.train.retrain_steps if warm else config.train.steps
        holder = training_holder(config.paths.state)
        if holder:  # said now, not at the next question as a failed training
            raise TinychatError(
                f"{config.paths.state}: {holder} is already training here; wait for it to"
                " finish, then /retrain"
            )
        done = resume.saved_step(
            config.paths.state, resume.run_identity(config, fingerprint, steps, warm, base)
        )
        weights = self.session.checkpoint  # their training's pace says how long this one takes
        expected = expected_seconds(weights.record if weights else None, steps - done)
        try:
            self.trainer = Trainer(config, fresh, self.redraw, expected=expected).start()
        except OSError as error:  # no process could be started (out of memory, no python)
            raise TinychatError(f"cannot start training in the background: {error}") from None
        # Saved progress is picked up by the same run: a first training by the next start,
        # a retrain by the same /retrain.
        again = "the next /retrain" + (" --fresh" if fresh else "")
        self.resumed_by = again if self.session.checkpoint else "the next start"
        using = "the current weights" if self.session.checkpoint else "the best matching sentence"
        start = f"resuming training from step {done} of {steps}" if done else "training"
        pace = length(config, expected)
        pace = f", {steps - done} steps: {pace} at the last training's pace" if pace else ""
        self.say_wrapped(f"{start} in the background{pace}; until it ends, answers use {using}", 0)

    def check_training(self) -> None:
        """Between answers: swap in the weights of a training that ended, or say why it failed."""
        from tinychat import checkpoint

        trainer = self.trainer
        if trainer is None:
            return
        count = len(trainer.notices)  # the reader thread may be adding more
        # "resuming training from step N" was said when the training started (`train`)
        said = [n for n in trainer.notices[:count] if not n.startswith("resuming training from")]
        self.notices.extend(said)
        del trainer.notices[:count]
        if trainer.exit_code is None:
            return
        self.trainer = None
        if trainer.exit_code == 0:
            config = self.session.config
            try:
                trained = checkpoint.load(
                    checkpoint.weights_path(config.paths.state), expected=config.model
                )
            except TinychatError as error:
                self.notices.append(f"training ended, but its weights cannot be used: {error}")
                return
            self.session.use(trained)
            self.session.sync()
            self.notices.append("training finished: answers now use the new weights")
        elif trainer.failure():
            weights = self.session.checkpoint
            keep = "the previous weights" if weights else "the best matching sentence"
            self.notices.append(
                f"{trainer.failure()}; answers keep using {keep}; /retrain starts it again"
            )

    def stop_training(self) -> None:
        """On leaving: stop the child cleanly (it saves its progress) and say where it got to."""
        trainer, self.trainer = self.trainer, None
        if trainer is None or not trainer.running():
            return
        trainer.stop()
        if trainer.stopped_at:
            sys.stderr.write(
                f"training stopped at step {trainer.stopped_at} of {trainer.total};"
                f" {self.resumed_by} resumes from there\n"
            )
            sys.stderr.flush()

    def run(self) -> int:
        self.say("tinychat: ask about your notes; /help lists commands, Ctrl-D leaves.")
        if self.session.checkpoint is None and self.trainer is None:
            try:
                self.train(fresh=True)  # the first training: in the background, the prompt now
            except TinychatError as error:
                self.say(f"error: {error}")
        while True:
            try:
                self.check_training()
            except TinychatError as error:  # e.g. the knowledge folder was emptied meanwhile
                self.say(f"error: {error}")
            self.show_notices()
            try:
                line = self.read_question()
            except InterruptAtEmptyPrompt:
                self.say(LEAVE_HINT)
                continue
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line
            except EOFError:
                return 0
            if not line:
                continue
            if line.lower() in LEAVE_WORDS:
                return 0
            self.last_error = ""
            try:
                if line.startswith("/"):
                    if not self.command(line):
                        return 0
                else:
                    self.stream_answer(line)
            except TinychatError as error:
                self.last_error = str(error)
                self.say(f"error: {printable_line(self.last_error)}")

    def read_question(self) -> str:
        """One question or command, its lines folded into one; a quoted block is read to its end."""
        text = self.prompt.prompt("> ")
        if text.strip().startswith(BLOCK_QUOTES):
            text = self.read_block(text.strip()[len(BLOCK_QUOTES) :])
        return " ".join(line.strip() for line in text.splitlines() if line.strip())

    def read_block(self, first: str) -> str:
        """Lines up to and including one that ends with BLOCK_QUOTES (which are dropped)."""
        lines, line = [], first
        while not line.rstrip().endswith(BLOCK_QUOTES):
            lines.append(line)
            line = self.prompt.prompt(CONTINUATION)
        lines.append(line.rstrip()[: -len(BLOCK_QUOTES)])
        return "\n".join(lines)

    def stream_answer(self, query: str) -> None:
        self.check_training()  # new weights come in here, between two answers, never during one
        on_terminal = self.out.isatty()  # a test's StringIO gets the characters as they come
        screen = WordWrap(self.out, self.width() if on_terminal else None)
        try:
            answer = self.session.prepare(query)
            self.show_notices()  # e.g. "re-indexed: 1 changed", before the answer it affects
            retrieved = answer.retrieved_only
            dim = (answer.abstained or retrieved) and self.colors() and self.out is sys.stdout
            self.out.write("\x1b[2m" if dim else "")  # a declined or retrieved answer is dimmed
            for char in self.session.generate(answer):
                screen.write(printable(char))
            training = self.trainer is not None and self.trainer.running()
            mark = RETRIEVED_MARK if training else UNTRAINED_MARK
            screen.write(f"  {mark}" if retrieved and answer.text else "")
            screen.write(f"  {WEAK_MARK}" if answer.weak else "")
            self.out.write("\x1b[0m\n" if dim else "\n")
            self.show_source(answer)
            self.turns.append(answer)
            self.log.append(answer)
        except KeyboardInterrupt:
            self.out.write(" [stopped]\n")
        self.out.flush()

    def show_source(self, answer: Answer) -> None:
        """Under an answer, dimmed: the file and line it was copied from, so that a wrong answer
        can be checked at a glance (`generation.cite: false` leaves answers bare)."""
        config = self.session.config
        where = citation(config.paths.knowledge, answer) if config.generation.cite else ""
        if where:
            styled = self.colors() and self.out is sys.stdout
            self.out.write(f"\x1b[2m  {where}\x1b[0m\n" if styled else f"  {where}\n")

    def command(self, line: str) -> bool:
        name, _, argument = line.partition(" ")
        for command in COMMANDS:
            if name.lower() in (command.name, *command.aliases):
                refusal = command.refusal(argument.strip())
                if refusal:
                    self.say(refusal)
                    return True
                return command.run(self, argument.strip())
        close = [c.name for c in COMMANDS if c.name.startswith(name.lower()[:3])]
        hint = f"; did you mean {close[0]}?" if close else ""
        self.say(f"unknown command {name}{hint} (/help lists them)")
        return True


# ---------------------------------------------------------------------------- history and keys


class ChatHistory(History):
    """Questions asked before, in prompt-toolkit's history file format, in the state folder.

    A history that cannot be read or written (a read-only state folder, `history` being a
    folder or a FIFO, a full disk) must not stop the chat: prompt-toolkit's FileHistory then
    raises in its event loop at every question. This one says so once and goes on in memory.
    """

    def __init__(self, path: Path, on_notice: Callable[[str], None]):
        super().__init__()
        self.path, self.on_notice = path, on_notice
        self.in_memory = False

    def load_history_strings(self) -> Iterable[str]:
        """The stored questions, newest first (the order prompt-toolkit asks for)."""
        try:
            exists = os.path.lexists(self.path)  # never through a link: it is written the same way
            data = read_regular(self.path, MAX_HISTORY_BYTES, follow_links=False) if exists else b""
        except FileTooLarge:
            size = f"{MAX_HISTORY_BYTES >> 20} MB"
            return self._give_up(f"is larger than {size}; move it away to start anew")
        except OSError as error:
            return self._give_up(f"cannot be read ({error.strerror or error})")
        questions: list[str] = []
        lines: list[str] = []  # one question may span several lines, each stored as "+line"
        for line in data.decode("utf-8", errors="replace").split("\n"):  # not splitlines: \u2028
            if line.startswith("+"):
                lines.append(line[1:])
            elif lines:
                questions.append("\n".join(lines))
                lines = []
        if lines:
            questions.append("\n".join(lines))
        return reversed(questions)

    def store_string(self, string: str) -> None:
        """Append one question to the file itself: never through a link, never into a FIFO."""
        if self.in_memory:
            return
        lines = "".join(f"+{line}\n" for line in string.split("\n"))
        text = f"\n# {datetime.datetime.now()}\n{lines}"
        try:
            descriptor = open_for_writing(self.path, append=True, permissions=0o600)
            try:
                os.write(descriptor, text.encode("utf-8", errors="replace"))
            finally:
                os.close(descriptor)
        except OSError as error:
            self._give_up(f"cannot be written ({error.strerror or error})")

    def _give_up(self, problem: str) -> list[str]:
        if not self.in_memory:
            self.in_memory = True
            self.on_notice(
                f"note: the history {self.path} {problem}; arrow-up recalls this session only"
            )
        return []


class SlashCompleter(Completer):
    """Completes slash commands at the start of the line, then the words each accepts;
    plain questions get no completion."""

    def get_completions(self, document: Document, complete_event: Any) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/"):
            return
        name, space, argument = text.partition(" ")
        if not space:
            for command in COMMANDS:
                for each in (command.name, *command.aliases):
                    if each.startswith(text.lower()):
                        yield Completion(each, start_position=-len(text), display_meta=command.help)
            return
        for command in COMMANDS:  # after the name: the words that command accepts
            if command.name == name.lower() and " " not in argument:
                for flag in command.flags:
                    if flag.startswith(argument):
                        yield Completion(flag, start_position=-len(argument))


def run_repl(session: ChatSession, config_file: Path | None = None) -> int:
    """Chat on the terminal until Ctrl-D or /quit, re-indexing in the background and training
    first (in a child process) when there are no weights yet; returns the exit code."""
    from tinychat.watcher import Watcher

    repl = Repl(session)
    repl.config_file = config_file
    repl.redraw = repl.prompt.app.invalidate  # redraws the toolbar
    session.on_progress = repl.redraw
    watcher = Watcher(session, on_change=repl.redraw).start()
    try:
        return repl.run()
    finally:
        repl.stop_training()
        watcher.stop()
