"""Command line: `tinychat [ask|train|demo|info|eval|log|completion] [options]`.
Never imports TensorFlow itself.

With no subcommand tinychat chats: a REPL on a terminal, one answer per stdin line on a
pipe. Problems the user can fix arrive as TinychatError and leave as one line on stderr
with exit code 1. Training (and with it TensorFlow) is imported only when weights are
missing or a retrain is asked for.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from tinychat import __version__, checkpoint
from tinychat.chat import Answer, ChatSession
from tinychat.config import Config, TrainConfig, field_range, load_config
from tinychat.errors import TinychatError
from tinychat.scan import KnowledgeTooLarge
from tinychat import locations
from tinychat.terminal import json_line, printable, printable_line
from tinychat.wrap import fill_lines, terminal_width
from tinychat.startup import (
    notice,
    open_session,
    pick_up_weights,
    run_training,
    training_elsewhere,
)


# ---------------------------------------------------------------------------- options


def _common_options() -> argparse.ArgumentParser:
    # SUPPRESS keeps a subcommand's unset option from hiding the same option given before it.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings file (default ./tinychat.yaml, else"
        " $XDG_CONFIG_HOME/tinychat/tinychat.yaml if present)",
    )
    common.add_argument(
        "--knowledge",
        type=Path,
        metavar="DIR",
        help="folder of .txt/.md notes to answer from (default ./knowledge in a"
        " folder with a tinychat.yaml, else the bundled notes)",
    )
    common.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="where weights, index cache, history and log live (default ./.tinychat in a"
        " folder with a tinychat.yaml, else one per knowledge folder in"
        " $XDG_STATE_HOME/tinychat)",
    )
    common.add_argument(
        "--temperature", type=float, metavar="T", help="sampling temperature; 0 = greedy"
    )
    common.add_argument(
        "--top-k", type=int, metavar="K", dest="top_k", help="context sentences per answer, 1 to 50"
    )
    common.add_argument("--seed", type=int, metavar="N", help="seed for training and sampling")
    common.add_argument(
        "--yes",
        action="store_true",
        help="index a knowledge folder past its size limits without asking",
    )
    return common


EXAMPLES = """examples:
  tinychat                                  chat (inside the chat, /help lists the slash commands)
  tinychat ask what is keras                one answer; quotes are optional
  tinychat --knowledge ~/notes              chat about another folder of .txt/.md notes
  echo "what is keras?" | tinychat --json   one JSON answer per input line"""


def build_parser() -> argparse.ArgumentParser:
    """The `tinychat` parser: chat options, then one subcommand each (in the order --help lists)."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="tinychat",
        parents=[common],
        description="Chat with a folder of notes through a ~10k-parameter transformer trained on"
        " them. On a terminal: a REPL; with piped stdin: one answer per line.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the examples' columns
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="pipe mode: one JSON object per answer",
    )
    parser.add_argument(
        "--follow-up",
        action="store_true",
        dest="follow_up",
        help="pipe mode: stdin is one conversation (a line /new starts another), so 'how tall"
        " is it?' is searched with the subject of the answer before",
    )
    _answer_options(parser, "pipe mode: ")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in (
        _ask_command,
        _train_command,
        _demo_command,
        _info_command,
        _eval_command,
        _log_command,
        _completion_command,
    ):
        add_command(commands, common)
    return parser


def _answer_options(parser: argparse.ArgumentParser, mode: str = "") -> None:
    """The options of commands that print answers (the pipe and `ask`)."""
    # SUPPRESS: `tinychat --cite ask ...` keeps the --cite given before the subcommand.
    parser.add_argument(
        "--cite",
        action="store_true",
        default=argparse.SUPPRESS,
        help=f"{mode}after each plain answer, the file and line it came from: [notes/ferry.md:3]",
    )
    parser.add_argument(
        "--no-train",
        action="store_true",
        dest="no_train",
        default=argparse.SUPPRESS,
        help=f"{mode}with no trained model yet, answer at once with the best matching sentence"
        " instead of training first",
    )


def _ask_command(commands: Any, common: argparse.ArgumentParser) -> None:
    ask = commands.add_parser("ask", parents=[common], help="answer one question and exit")
    ask.add_argument("question", nargs="+", help="the question; quotes are optional")
    ask.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object"
    )
    ask.add_argument(
        "--show-prompt",
        action="store_true",
        help="print the whole [CONTEXT]/[QUERY]/[ANSWER] block",
    )
    _answer_options(ask)


def _train_command(commands: Any, common: argparse.ArgumentParser) -> None:
    train = commands.add_parser("train", parents=[common], help="train on the knowledge folder")
    train.add_argument(
        "--fresh", action="store_true", help="start from scratch instead of the current weights"
    )
    train.add_argument(
        "--steps", type=int, metavar="N", help="optimisation steps (default from the config)"
    )


def _demo_command(commands: Any, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser(
        "demo", parents=[common], help="train if needed, then show a few full prompts"
    )
    demo.add_argument(
        "questions", nargs="*", help="questions (default: three about subjects of the notes)"
    )


def _info_command(commands: Any, common: argparse.ArgumentParser) -> None:
    info = commands.add_parser(
        "info", parents=[common], help="model shape, parameters, checkpoint and knowledge"
    )
    info.add_argument(
        "--embeddings", action="store_true", help="also map the learned character embeddings in 2-D"
    )
    info.add_argument("-v", "--verbose", action="store_true", help="also list every weight array")


def _eval_command(commands: Any, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser(
        "eval", parents=[common], help="answer a questions file and report accuracy"
    )
    evaluate.add_argument(
        "questions",
        type=Path,
        nargs="+",
        help="YAML lists of questions {q, source, line, answer, keywords} and conversations"
        " {turns}",
    )
    evaluate.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="one JSON object, with each question's outcome in per_question",
    )
    evaluate.add_argument(
        "--show-failures",
        action="store_true",
        dest="show_failures",
        help="after the table, each question that missed: its answer, the source and line"
        " expected and the top one",
    )


def _log_command(commands: Any, common: argparse.ArgumentParser) -> None:
    log = commands.add_parser(
        "log", parents=[common], help="the last questions and answers (from the log)"
    )
    log.add_argument(
        "-n", type=int, default=10, metavar="N", dest="count", help="how many (default 10)"
    )
    log.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object each"
    )


def _completion_command(commands: Any, common: argparse.ArgumentParser) -> None:
    from tinychat.completion import SHELLS

    completion = commands.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print the completion script for a shell. Install it with, for bash:"
        " tinychat completion bash > ~/.local/share/bash-completion/completions/tinychat;"
        " zsh: tinychat completion zsh > ~/.zfunc/_tinychat (with fpath+=(~/.zfunc) before"
        " compinit in ~/.zshrc); fish: tinychat completion fish >"
        " ~/.config/fish/completions/tinychat.fish (make the folder first if it is missing)."
        " Then start a new shell.",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell: " + ", ".join(SHELLS))


def config_from(args: argparse.Namespace, config_file: Path | None) -> Config:
    """The config file with command-line overrides applied, and its folders placed (`locations`)."""
    overrides: dict[str, Any] = {}
    for option, key in (("temperature", "generation.temperature"), ("top_k", "retrieval.top_k")):
        if hasattr(args, option):
            overrides[key] = getattr(args, option)
    if hasattr(args, "seed"):
        overrides["train.seed"] = overrides["generation.seed"] = args.seed
    if getattr(args, "yes", False):  # no size budget for the knowledge folder
        overrides["knowledge.max_files"] = overrides["knowledge.max_total_mb"] = 0
    config = load_config(config_file, overrides)
    given_knowledge, given_state = getattr(args, "knowledge", None), getattr(args, "state", None)
    return locations.place(config, given_knowledge, given_state, Path.cwd())


# ---------------------------------------------------------------------------- commands


def cmd_chat(args: argparse.Namespace, config: Config) -> int:
    interactive = sys.stdin.isatty() and not getattr(args, "json", False)
    # The REPL opens at once and trains in the background; a pipe trains first, as scripts
    # expect, unless told not to (--no-train).
    train_first = not interactive and not getattr(args, "no_train", False)
    with open_session(
        config, train_missing=train_first, hint=NO_TRAIN_HINT, background=interactive
    ) as session:
        if interactive:
            from tinychat.repl import run_repl

            return run_repl(session, args.config_file)
        session.follow_up = getattr(args, "follow_up", False)
        return answer_lines(
            session,
            sys.stdin.buffer,
            sys.stdout,
            getattr(args, "json", False),
            cite=getattr(args, "cite", False),
        )


NO_TRAIN_HINT = "--no-train answers at once with the best matching sentence"


def answer_lines(
    session: ChatSession, lines: Any, out: Any, as_json: bool, cite: bool = False
) -> int:
    """Pipe mode: each non-empty input line is a question; one answer line each, flushed at once.

    A question that meets a problem (the notes folder renamed for a moment) still gets its line:
    an empty answer, or with --json an object with an "error" field; the problem goes to stderr
    and the next question is answered as usual. The exit code is 1 if any question failed.
    With `cite`, a plain answer ends with the file and line it came from. Each answer is logged.
    """
    from tinychat.log import AnswerLog

    log = AnswerLog(session.config.paths.state, notice)
    failed = False
    for raw in lines:
        query = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        query = query.replace("\0", " ").strip()
        if not query:
            continue
        if session.follow_up and query == "/new":
            session.conversation.reset()  # the next question starts a new conversation
            continue
        try:
            pick_up_weights(session)  # a training elsewhere (a REPL's) may have finished
            answer = session.ask(query)
            log.append(answer)
            record, text = answer.to_json(), plain_answer(session, answer, cite)
        except TinychatError as error:
            notice(f"tinychat: {error}")
            record = {
                "query": query,
                "answer": "",
                "abstained": False,
                "weak": "",
                "searched": query,
                "sources": [],
                "closest": [],
                "retrieved_only": False,
                "error": str(error),
            }
            text = ""
            failed = True
        out.write((json_line(record) if as_json else text) + "\n")
        out.flush()
    return int(failed)


def plain_answer(session: ChatSession, answer: Answer, cite: bool) -> str:
    """The answer as one line of text, then what `answer_tail` adds."""
    return printable_line(answer.text) + answer_tail(session, answer, cite)


def answer_tail(session: ChatSession, answer: Answer, cite: bool) -> str:
    """What follows a plain answer: a mark when it is the best matching sentence (no model yet),
    and with `cite` where it came from, ' [notes/ferry.md:3]'."""
    from tinychat.citation import RETRIEVED_MARK, UNTRAINED_MARK, citation

    tail = ""
    if answer.retrieved_only and answer.text:
        training = training_elsewhere(session.config.paths.state)
        tail += f"  {RETRIEVED_MARK if training else UNTRAINED_MARK}"
    where = citation(session.config.paths.knowledge, answer) if cite else ""
    return f"{tail} [{where}]" if where else tail


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    args.question = " ".join(args.question)  # `tinychat ask what is keras`: its words, joined
    if not args.question.strip():
        raise TinychatError('ask: the question is empty; try tinychat ask "what is keras?"')
    train_first = not getattr(args, "no_train", False)
    with open_session(config, train_missing=train_first, hint=NO_TRAIN_HINT) as session:
        return ask_one(args, session)


def ask_one(args: argparse.Namespace, session: ChatSession) -> int:
    from tinychat.log import AnswerLog

    log = AnswerLog(session.config.paths.state, notice)
    if getattr(args, "json", False):
        answer = session.ask(args.question)
        log.append(answer)
        record = answer.to_json()
        if args.show_prompt:
            record["prompt"] = answer.prompt
        print(json_line(record), flush=True)
        return 0
    answer = session.prepare(args.question)
    if args.show_prompt:
        sys.stdout.write(printable(answer.prompt))  # the notes' text: its escapes shown, not run
    for char in session.generate(answer):
        sys.stdout.write(printable(char))
        sys.stdout.flush()
    sys.stdout.write(answer_tail(session, answer, getattr(args, "cite", False)) + "\n")
    log.append(answer)
    return 0


def cmd_train(args: argparse.Namespace, config: Config) -> int:
    low, high = field_range(TrainConfig, "steps")  # as train.steps
    if args.steps is not None and not low <= args.steps <= high:
        raise TinychatError(f"--steps {args.steps}: give a whole number from {low} to {high:,}")
    model = run_training(config, fresh=args.fresh, steps=args.steps)
    how = "continued from the previous weights" if model.record.warm_start else "from scratch"
    # Time and speed were printed once, in the summary that replaced the progress bar.
    notice(f"saved {checkpoint.weights_path(config.paths.state)} ({how})")
    return 0


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from tinychat.demo import demo_questions

    with open_session(config) as session:
        questions = args.questions or demo_questions(session.knowledge)
        for number, question in enumerate(questions):
            answer = session.ask(question)
            print(("\n" if number else "") + printable(answer.prompt + answer.text), flush=True)
    return 0


def cmd_info(args: argparse.Namespace, config: Config) -> int:
    from tinychat.info import LABEL_WIDTH, describe, embedding_map

    text = printable(describe(config, verbose=args.verbose, config_file=args.config_file))
    width = terminal_width(sys.stdout)  # on a terminal, broken between words, not mid-word
    print(fill_lines(text, width, LABEL_WIDTH) if width else text)
    if args.embeddings:
        trained = checkpoint.load(
            checkpoint.weights_path(config.paths.state), expected=config.model
        )
        print("character embeddings, first two principal components:")
        print_fragments(embedding_map(trained.arrays["token_embedding"]))
    return 0


def print_fragments(lines: list[list[tuple[str, str]]]) -> None:
    """Styled lines on a colour terminal; plain text on a pipe or with NO_COLOR."""
    from prompt_toolkit import print_formatted_text
    from prompt_toolkit.formatted_text import FormattedText
    from prompt_toolkit.output import ColorDepth

    if sys.stdout.isatty() and ColorDepth.from_env() != ColorDepth.DEPTH_1_BIT:
        for line in lines:
            print_formatted_text(FormattedText(line))
    else:
        print("\n".join("".join(text for _, text in line) for line in lines))


def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    from tinychat.evaluate import evaluate, format_failures, format_table, load_items

    questions = [item for path in args.questions for item in load_items(path)]
    with open_session(config) as session:
        report = evaluate(session, questions)
    if getattr(args, "json", False):
        print(json.dumps(report))
        return 0
    print(format_table(report))
    if args.show_failures:
        print("\n" + format_failures(report))
    return 0


def cmd_log(args: argparse.Namespace, config: Config) -> int:
    from tinychat.log import LOG_NAME, format_entry, last_entries

    if args.count < 1:
        raise TinychatError(f"log -n {args.count}: give a whole number of at least 1")
    entries = last_entries(config.paths.state, args.count)
    if not entries:
        notice(f"no questions logged yet in {config.paths.state / LOG_NAME}")
    elif getattr(args, "json", False):
        print("\n".join(json_line(entry) for entry in entries))
    else:
        text = "\n\n".join(format_entry(entry) for entry in entries)
        width = terminal_width(sys.stdout)
        print(fill_lines(text, width) if width else text)
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    from tinychat.completion import script

    sys.stdout.write(script(args.shell, build_parser()))
    return 0


COMMANDS: dict[str | None, Callable[[argparse.Namespace, Config], int]] = {
    None: cmd_chat,
    "ask": cmd_ask,
    "train": cmd_train,
    "demo": cmd_demo,
    "info": cmd_info,
    "eval": cmd_eval,
    "log": cmd_log,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tinychat` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "completion":  # needs no settings: a broken tinychat.yaml must not stop it
        return cmd_completion(args)
    try:
        check_streams(args.command)
        args.config_file = locations.config_file(getattr(args, "config", None), Path.cwd())
        config = config_from(args, args.config_file)
        state = config.paths.state
        if state.exists() and not state.is_dir():  # everything tinychat writes goes in there
            raise TinychatError(
                f"{state}: the state folder is a file; pass --state DIR (a folder) or move the file"
            )
        checkpoint.adopt_old_name(state, notice)  # a state folder from an older tinychat
        given = getattr(args, "knowledge", None)
        if given is not None and args.command != "log" and not config.paths.knowledge.is_dir():
            # this person passed --knowledge: say so, not "create it or pass --knowledge DIR"
            there = config.paths.knowledge.exists()
            problem = "is a file, not a folder" if there else "knowledge folder not found"
            raise TinychatError(f"{given}: {problem}; check the --knowledge path")
        code = run_command(args, config)
        sys.stdout.flush()  # a full disk is said here, not at exit as a traceback
        return code
    except TinychatError as error:
        print(f"tinychat: {printable_line(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0  # the reader went away (e.g. `| head`): nothing left to say
    except OSError as error:
        if error.filename is not None or error.errno not in OUTPUT_ERRORS:
            raise  # not the output's: a bug to see whole
        problem = error.strerror or error
        sys.stderr.write(f"tinychat: cannot write the output ({problem}); check where it goes\n")
        return 1


# Errors of a write to standard output with no file name: a full disk or quota, a device that
# fails, a file grown past its limit, a closed descriptor.
OUTPUT_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EBADF}
NEEDS_STDIN = {None}  # the chat reads its questions there
NEEDS_NO_STDOUT = {"train"}  # progress goes to stderr, the weights to the state folder


def check_streams(command: str | None) -> None:
    """One line when the command's standard input or output was closed (`<&-`, `>&-`): Python
    then has no stream at all, and the first read or write would be a traceback."""
    if sys.stdout is None and command not in NEEDS_NO_STDOUT:
        raise TinychatError("standard output is closed; give the answers somewhere to go")
    if sys.stdin is None and command in NEEDS_STDIN:
        raise TinychatError("standard input is closed; pipe questions in, or run it on a terminal")


def run_command(args: argparse.Namespace, config: Config) -> int:
    """Run the chosen command; a knowledge folder past its budget is indexed only after a yes."""
    try:
        return COMMANDS[args.command](args, config)
    except KnowledgeTooLarge as error:
        if not confirmed(error):
            raise
        unlimited = dataclasses.replace(config.knowledge, max_files=0, max_total_mb=0)
        return COMMANDS[args.command](args, dataclasses.replace(config, knowledge=unlimited))


def confirmed(error: KnowledgeTooLarge) -> bool:
    """Ask on the terminal whether to index a folder past its budget; never on a pipe."""
    if sys.stdin is None or not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    folder = printable_line(str(error.folder))
    sys.stderr.write(f"tinychat: {folder} holds {error.what}; index it anyway? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def run() -> None:
    """The console script: `main`, with closed standard descriptors held by /dev/null first (the
    next file opened would take the closed one's number, and a stray write to it land in a
    checkpoint)."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # takes the lowest free number: this one
    code = main()
    if code and sys.stdout is not None:  # what could not be written must not be tried at exit
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    sys.exit(code)
