"""Command line: `tinychat [ask|train|demo|info|eval] [options]`. Never imports TensorFlow itself.

With no subcommand tinychat chats: a REPL on a terminal, one answer per stdin line on a
pipe. Problems the user can fix arrive as TinychatError and leave as one line on stderr
with exit code 1. Training (and with it TensorFlow) is imported only when weights are
missing or a retrain is asked for.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Callable

from tinychat import __version__, checkpoint
from tinychat.chat import ChatSession
from tinychat.config import Config, load_config
from tinychat.errors import TinychatError
from tinychat.knowledge import Knowledge
from tinychat.scan import KnowledgeTooLarge
from tinychat.sentences import subject_of
from tinychat import locations
from tinychat.terminal import json_line, printable, printable_line
from tinychat.startup import notice, open_session, run_training


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
        help="where weights, index cache and history live (default ./.tinychat in a"
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
        help="index a knowledge folder past its size budget without asking",
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in (_ask_command, _train_command, _demo_command, _info_command, _eval_command):
        add_command(commands, common)
    return parser


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
    demo.add_argument("questions", nargs="*", help="questions (default: three a newcomer asks)")


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
        "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object"
    )


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
    # The REPL opens at once and trains in the background; a pipe trains first, as scripts expect.
    with open_session(config, train_missing=not interactive, background=interactive) as session:
        if interactive:
            from tinychat.repl import run_repl

            return run_repl(session, args.config_file)
        session.follow_up = getattr(args, "follow_up", False)
        return answer_lines(session, sys.stdin.buffer, sys.stdout, getattr(args, "json", False))


def answer_lines(session: ChatSession, lines: Any, out: Any, as_json: bool) -> int:
    """Pipe mode: each non-empty input line is a question; one answer line each, flushed at once.

    A question that meets a problem (the notes folder renamed for a moment) still gets its line:
    an empty answer, or with --json an object with an "error" field; the problem goes to stderr
    and the next question is answered as usual. The exit code is 1 if any question failed.
    """
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
            record = session.ask(query).to_json()
        except TinychatError as error:
            notice(f"tinychat: {error}")
            record = {
                "query": query,
                "answer": "",
                "abstained": False,
                "searched": query,
                "sources": [],
                "error": str(error),
            }
            failed = True
        out.write((json_line(record) if as_json else printable_line(record["answer"])) + "\n")
        out.flush()
    return int(failed)


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    args.question = " ".join(args.question)  # `tinychat ask what is keras`: its words, joined
    if not args.question.strip():
        raise TinychatError('ask: the question is empty; try tinychat ask "what is keras?"')
    with open_session(config) as session:
        return ask_one(args, session)


def ask_one(args: argparse.Namespace, session: ChatSession) -> int:
    if getattr(args, "json", False):
        answer = session.ask(args.question)
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
    sys.stdout.write("\n")
    return 0


def cmd_train(args: argparse.Namespace, config: Config) -> int:
    if args.steps is not None and args.steps < 1:
        raise TinychatError(f"--steps {args.steps}: give a whole number of at least 1")
    model = run_training(config, fresh=args.fresh, steps=args.steps)
    how = "continued from the previous weights" if model.record.warm_start else "from scratch"
    # Time and speed were printed once, in the summary that replaced the progress bar.
    notice(f"saved {checkpoint.weights_path(config.paths.state)} ({how})")
    return 0


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    with open_session(config) as session:
        questions = args.questions or demo_questions(session.knowledge)
        for number, question in enumerate(questions):
            answer = session.ask(question)
            print(("\n" if number else "") + printable(answer.prompt + answer.text), flush=True)
    return 0


# What a newcomer asks of the bundled notes (each answered by the sentence it names).
BUNDLED_QUESTIONS = (
    "what is keras?",
    "how many attention heads does tinychat use?",
    "what does temperature 0 mean?",
)
SUBJECT_WORDS = 4  # at most this many words in a heading used as a demo question's subject


def demo_questions(knowledge: Knowledge, count: int = 3) -> list[str]:
    """Natural questions for the demo: a fixed few for the bundled notes, else "what is <subject>?"
    for subjects spread over the folder, each a file's heading or else its name."""
    from tinychat.locations import is_bundled

    if is_bundled(knowledge.folder):
        return list(BUNDLED_QUESTIONS[:count])
    subjects: list[str] = []
    for path, state in sorted(knowledge.files.items()):
        title = next((chunk.title for chunk in state.chunks if chunk.title), "")
        if len(title.split()) > SUBJECT_WORDS:  # a heading that is a sentence names no subject
            title = ""
        subject = (title or subject_of(path.rsplit("/", 1)[-1])).lower()
        if subject and subject not in subjects:
            subjects.append(subject)
    step = max(1, len(subjects) // count)  # spread over the folder, not its first few names
    return [f"what is {subject}?" for subject in subjects[::step][:count]]


def cmd_info(args: argparse.Namespace, config: Config) -> int:
    from tinychat.info import describe, embedding_map

    print(printable(describe(config, verbose=args.verbose, config_file=args.config_file)))
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
    from tinychat.evaluate import evaluate, format_table, load_items

    questions = [item for path in args.questions for item in load_items(path)]
    with open_session(config) as session:
        report = evaluate(session, questions)
    print(json.dumps(report) if getattr(args, "json", False) else format_table(report))
    return 0


COMMANDS: dict[str | None, Callable[[argparse.Namespace, Config], int]] = {
    None: cmd_chat,
    "ask": cmd_ask,
    "train": cmd_train,
    "demo": cmd_demo,
    "info": cmd_info,
    "eval": cmd_eval,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tinychat` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        args.config_file = locations.config_file(getattr(args, "config", None), Path.cwd())
        config = config_from(args, args.config_file)
        state = config.paths.state
        if state.exists() and not state.is_dir():  # everything tinychat writes goes in there
            raise TinychatError(
                f"{state}: the state folder is a file; pass --state DIR (a folder) or move the file"
            )
        checkpoint.adopt_old_name(state, notice)  # a state folder from an older tinychat
        return run_command(args, config)
    except TinychatError as error:
        print(f"tinychat: {printable_line(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0  # the reader went away (e.g. `| head`): nothing left to say


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
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    folder = printable_line(str(error.folder))
    sys.stderr.write(f"tinychat: {folder} holds {error.what}; index it anyway? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def run() -> None:
    sys.exit(main())
