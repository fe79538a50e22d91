"""The REPL's slash commands: one table (`COMMANDS`) that feeds the dispatcher, `/help`, tab
completion and the README's table (tests/test_readme.py holds the README to it).

Each command is a `Command`: its name, what may follow it, its help line and its handler. A
handler takes the REPL and the words typed after the name, and returns False to leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from tinychat.config import GenerationConfig, RetrievalConfig, field_range
from tinychat.terminal import printable_line

if TYPE_CHECKING:
    from tinychat.repl import Repl

BLOCK_QUOTES = '"""'  # opens a question of several lines; a line ending with it closes it


@dataclass(frozen=True)
class Command:
    """One slash command: its name, what may follow it, its help line and its handler.

    What a command accepts is written here once: `/help`, completion and the check made
    before the handler runs all read it.
    """

    name: str
    help: str
    run: Callable[["Repl", str], bool]  # returns False to leave the REPL
    flags: tuple[str, ...] = ()  # the words accepted after the name, e.g. ("--fresh",)
    value: str = ""  # the name of a value accepted after the name, e.g. "T"; the handler checks it
    aliases: tuple[str, ...] = ()  # other names habit brings, e.g. "/exit"

    @property
    def usage(self) -> str:
        accepted = "|".join(self.flags) or self.value
        return f"{self.name} [{accepted}]" if accepted else self.name

    def refusal(self, argument: str) -> str | None:
        """One line saying why `argument` is not accepted here, or None when it is."""
        if not argument or self.value or argument in self.flags:
            return None
        if not self.flags:
            return f"{self.name} {argument}: {self.name} takes no arguments"
        accepted = ", ".join(self.flags)
        return f"{self.name} {argument}: unknown argument; {self.name} accepts {accepted}"

# ---------------------------------------------------------------------------- commands


def cmd_help(repl: "Repl", argument: str) -> bool:
    width = max(len(command.usage) for command in COMMANDS)
    for command in COMMANDS:
        also = f" (also {', '.join(command.aliases)})" if command.aliases else ""
        # wrapped between words under its own column, whatever the terminal's width
        repl.say_wrapped(f"  {command.usage:<{width}}  {command.help}{also}", width + 4)
    repl.say_wrapped(
        "  Ctrl-C stops an answer; Ctrl-D, exit or quit leave; arrow-up recalls earlier"
        " questions."
    )
    repl.say_wrapped(
        f"  Alt-Enter (Esc Enter) starts a new line; {BLOCK_QUOTES} opens and closes a block."
    )
    return True


def cmd_sources(repl: "Repl", argument: str) -> bool:
    last = repl.session.last
    if last is None:
        repl.say("no answer yet: ask a question first")
        return True
    if last.searched and last.searched != last.query:
        repl.say_wrapped(f"searched: {last.searched}  (a follow-up; /new forgets the subject)")
    if last.abstained:
        why = f" ({last.why_declined})" if last.why_declined else ""
        if last.sources:
            repl.say_wrapped(
                f"the notes don't hold the answer{why}; the closest sentences, not used:"
            )
        else:
            repl.say("nothing in the notes matches the question")
    elif not last.sources:
        repl.say("the last answer used no context (nothing matched)")
    elif last.weak:
        repl.say_wrapped(f"a weak match ({last.weak}): check the source")
    for rank, hit in enumerate(last.sources, start=1):
        chunk = hit.chunk
        lines = f"{chunk.line}" + (f"-{chunk.end_line}" if chunk.end_line != chunk.line else "")
        number = f"  {rank}. "
        path, text = printable_line(chunk.path), printable_line(chunk.text)
        # The whole sentence, wrapped at whole words under its number (a hanging indent).
        repl.say_wrapped(f"{number}{path}:{lines}  score {hit.score:.3f}  {text}", len(number))
    if argument == "-v":
        repl.say("prompt the model saw:")
        repl.say(last.prompt + last.text)
    return True


def cmd_temp(repl: "Repl", argument: str) -> bool:
    if argument:
        try:
            value = float(argument)
        except ValueError:
            value = -1.0
        low, high = field_range(GenerationConfig, "temperature")  # as generation.temperature
        if not low <= value <= high:
            repl.say(f"/temp {argument}: give a number from {low:g} (greedy) to {high:g}")
            return True
        repl.session.temperature = value
    repl.say(
        f"temperature {repl.session.temperature:g}"
        + (" (greedy)" if repl.session.temperature == 0 else "")
    )
    return True


def cmd_topk(repl: "Repl", argument: str) -> bool:
    low, high = field_range(RetrievalConfig, "top_k")  # as retrieval.top_k
    if argument:
        if not argument.isdigit() or not low <= int(argument) <= high:
            repl.say(f"/topk {argument}: give a whole number from {low} to {high}")
            return True
        repl.session.top_k = int(argument)
    repl.say(f"top-k {repl.session.top_k}")
    return True


def cmd_retrain(repl: "Repl", argument: str) -> bool:
    trainer = repl.trainer
    if trainer and trainer.running():
        where = f" (step {trainer.step} of {trainer.total})" if trainer.step else ""
        repl.say(
            f"/retrain: a training is already running{where}; its weights come in when it ends"
        )
        return True
    repl.check_training()  # a training that just ended: its weights first
    repl.show_notices()
    repl.session.sync()
    repl.train(fresh=argument == "--fresh")
    return True


def cmd_info(repl: "Repl", argument: str) -> bool:
    from tinychat.info import LABEL_WIDTH, describe

    trainer = repl.trainer
    text = describe(
        repl.session.config,
        verbose=argument == "-v",
        config_file=repl.config_file,
        retrain="/retrain",
        under_way=trainer.status() if trainer and trainer.running() else "",
    )
    for line in text.splitlines():  # each wrapped between words under the values' column
        repl.say_wrapped(line, LABEL_WIDTH)
    return True


def cmd_probs(repl: "Repl", argument: str) -> bool:
    from tinychat.views import probability_view

    return show_last_answer(repl, probability_view)


def cmd_why(repl: "Repl", argument: str) -> bool:
    from tinychat.views import attention_view

    return show_last_answer(repl, attention_view)


def show_last_answer(repl: "Repl", view: Callable[..., Any]) -> bool:
    """A look-inside view of the last answer, fitted to the terminal (or "no answer yet")."""
    last = repl.session.last
    repl.show(view(last, width=repl.width(), color=repl.colors()) if last else None)
    return True


def cmd_new(repl: "Repl", argument: str) -> bool:
    repl.session.conversation.reset()
    repl.say("new conversation: questions no longer refer back to earlier answers")
    return True


def cmd_quit(repl: "Repl", argument: str) -> bool:
    return False


def cmd_open(repl: "Repl", argument: str) -> bool:
    from tinychat.citation import location
    from tinychat.editor import chosen_editor, open_at

    hit = _source(repl, argument)
    if hit is None:
        return True
    folder = repl.session.config.paths.knowledge
    editor = chosen_editor()
    if not editor:
        repl.say(f"{location(folder, hit)}  (set $EDITOR to open it there)")
        return True
    code = open_at(editor, folder / hit.chunk.path, hit.chunk.line)
    if code:
        repl.say(f"the editor ended with exit code {code}")
    repl.session.sync()  # the note as the editor left it, before the next question
    repl.show_notices()
    return True


def _source(repl: "Repl", argument: str) -> Any:
    """The last answer's source number `argument` (1 by default), or None, having said why."""
    last = repl.session.last
    if last is None:
        repl.say("no answer yet: ask a question first")
        return None
    count = len(last.sources)
    if not count:
        repl.say("the last answer has no source: nothing in the notes matched")
        return None
    if last.abstained and not argument:  # it cites nothing; its closest sentences were not used
        repl.say_wrapped(
            "the last answer was declined and cites nothing; /open N opens the closest"
            " sentence N of those /sources lists",
            0,
        )
        return None
    number = int(argument) if argument.isdigit() else 0 if argument else 1
    if not 1 <= number <= count:
        if count == 1:
            repl.say(f"/open {argument}: the last answer has one source; /open opens it")
        else:
            numbers = f"from 1 to {count} (/sources lists them)"
            repl.say(f"/open {argument}: give a source number {numbers}")
        return None
    return last.sources[number - 1]


def cmd_files(repl: "Repl", argument: str) -> bool:
    from tinychat.file_list import file_rows

    session = repl.session
    session.sync()  # as they are now, not as at the last question
    trained = session.checkpoint
    trained_on = trained.record.manifest if trained else None
    for line in file_rows(session.knowledge, trained is not None, trained_on, argument):
        repl.say_wrapped(line, 4)
    return True


def cmd_save(repl: "Repl", argument: str) -> bool:
    from tinychat.citation import typed
    from tinychat.transcript import markdown, save

    if not repl.turns:
        repl.say("nothing to save yet: ask a question first")
        return True
    knowledge = repl.session.config.paths.knowledge
    text = markdown(repl.turns, knowledge, repl.started)
    path = save(text, argument, knowledge, datetime.now())
    count, where = len(repl.turns), printable_line(typed(path))
    repl.say(f"saved {count} question{'s' * (count != 1)} and their answers to {where}")
    return True


COMMANDS = [
    Command("/help", "list these commands", cmd_help),
    Command(
        "/sources",
        "files and lines the last answer drew on; -v adds the full prompt",
        cmd_sources,
        flags=("-v",),
    ),
    Command(
        "/temp", "show or set the temperature (0 = greedy, deterministic)", cmd_temp, value="T"
    ),
    Command(
        "/topk",
        "show or set how many sentences go into the context (at least 1)",
        cmd_topk,
        value="K",
    ),
    Command(
        "/retrain",
        "train on the current knowledge in the background; chat goes on meanwhile",
        cmd_retrain,
        flags=("--fresh",),
    ),
    Command(
        "/why", "what each attention head and the copy path looked at for the last answer", cmd_why
    ),
    Command(
        "/probs", "the last answer coloured by how sure the model was of each character", cmd_probs
    ),
    Command(
        "/info",
        "model, checkpoint and knowledge; -v lists every weight array",
        cmd_info,
        flags=("-v",),
    ),
    Command(
        "/open",
        "open the last answer's source N (default 1) in $EDITOR at its line; re-index after",
        cmd_open,
        value="N",
    ),
    Command(
        "/files",
        "the notes indexed, their chunks and whether each changed since training; with a"
        " word, the notes whose name or heading holds it",
        cmd_files,
        value="WORD",
    ),
    Command(
        "/save",
        "write this conversation (questions, answers, sources) to a Markdown file",
        cmd_save,
        value="FILE",
    ),
    Command("/new", "start a new conversation ('it' no longer means the last subject)", cmd_new),
    Command("/quit", "leave", cmd_quit, aliases=("/exit", "/bye")),
]
