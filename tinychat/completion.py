"""Shell completion scripts for `tinychat`, made from its argparse parser so they cannot drift.

`tinychat completion bash|zsh|fish` prints one; the shell then completes the subcommands, each
one's options, folders after --knowledge and --state, files after --config and for `eval`.
The parser is read once into `Parser` records (options, values, subcommands); each shell's
script is then written from those records by one function.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")


# ---------------------------------------------------------------------------- the parser, read


@dataclass(frozen=True)
class Value:
    """What an option or a positional argument takes: 'file', 'dir', 'choice' or 'text'."""

    kind: str
    name: str  # its metavar, e.g. "DIR"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Option:
    names: tuple[str, ...]  # ("-v", "--verbose")
    help: str
    value: Value | None  # None for a flag


@dataclass(frozen=True)
class Parser:
    """One command line level: the top (name "") or a subcommand."""

    name: str
    help: str
    options: tuple[Option, ...]
    arguments: Value | None  # what the positional words complete to, if anything
    subcommands: tuple["Parser", ...] = ()


def _value(action: argparse.Action) -> Value:
    name = action.metavar or action.dest.upper()
    if action.choices:
        return Value("choice", str(name), tuple(map(str, action.choices)))
    if name == "DIR":
        return Value("dir", name)
    if name == "FILE" or action.type is Path:
        return Value("file", str(name))
    return Value("text", str(name))


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def read_parser(parser: argparse.ArgumentParser, name: str = "", help: str = "") -> Parser:
    """The options, positional arguments and subcommands of `parser`, as completion needs them."""
    options, arguments, subcommands = [], None, []
    for action in parser._actions:  # argparse keeps no public list of what it was given
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for command, subparser in action.choices.items():
                subcommands.append(read_parser(subparser, command, _one_line(helps.get(command))))
        elif action.option_strings:
            takes = action.nargs != 0  # flags (store_true, help, version) take nothing
            value = _value(action) if takes else None
            options.append(Option(tuple(action.option_strings), _one_line(action.help), value))
        else:
            value = _value(action)
            arguments = value if value.kind != "text" else arguments
    return Parser(name, help, tuple(options), arguments, tuple(subcommands))


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for `shell` (one of SHELLS) of the `tinychat` parser."""
    top = read_parser(parser)
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](top)


# ---------------------------------------------------------------------------- bash


def _bash(top: Parser) -> str:
    value_options = {
        name: option.value
        for level in (top, *top.subcommands)
        for option in level.options
        if option.value
        for name in option.names
    }
    by_kind: dict[str, list[str]] = {}
    for name, value in sorted(value_options.items()):
        by_kind.setdefault(value.kind, []).append(name)
    after_option = {
        "file": 'COMPREPLY=($(compgen -f -- "$cur"))',
        "dir": 'COMPREPLY=($(compgen -d -- "$cur"))',
        "text": "COMPREPLY=()",
    }
    lines = [
        "# bash completion for tinychat (made by `tinychat completion bash`)",
        "_tinychat() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    local command="" i',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "${COMP_WORDS[i]}" in',
        f"            {'|'.join(sorted(value_options))}) ((i++)) ;;  # and the value after it",
        f"            {'|'.join(c.name for c in top.subcommands)})"
        ' command="${COMP_WORDS[i]}"; break ;;',
        "        esac",
        "    done",
        '    case "$prev" in',
    ]
    for kind in ("file", "dir", "text"):
        if kind in by_kind:
            lines.append(f"        {'|'.join(by_kind[kind])}) {after_option[kind]}; return ;;")
    lines += ['    esac', '    case "$command" in']
    for level in (top, *top.subcommands):
        words = [name for option in level.options for name in option.names]
        if level is top:
            words += [command.name for command in top.subcommands]
        arguments = level.arguments
        options = f'COMPREPLY=($(compgen -W "{" ".join(words)}" -- "$cur"))'
        if arguments is None:
            body = options
        else:
            positional = {
                "file": 'COMPREPLY=($(compgen -f -- "$cur"))',
                "dir": 'COMPREPLY=($(compgen -d -- "$cur"))',
                "choice": f'COMPREPLY=($(compgen -W "{" ".join(arguments.choices)}" -- "$cur"))',
            }[arguments.kind]
            body = f'if [[ "$cur" == -* ]]; then {options}; else {positional}; fi'
        lines.append(f'        "{level.name}") {body} ;;')
    lines += [
        "    esac",
        "}",
        "complete -o filenames -F _tinychat tinychat",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- zsh


def _zsh_quote(text: str) -> str:
    """`text` inside single quotes, as zsh reads it."""
    return "'" + text.replace("'", "'\\''") + "'"


def _zsh_description(text: str) -> str:
    """Help text fit for _arguments' [...]: brackets and colons would end it early."""
    return text.replace("[", "(").replace("]", ")").replace(":", ",")


def _zsh_value(value: Value) -> str:
    action = {
        "file": "_files",
        "dir": "_files -/",
        "choice": f"({' '.join(value.choices)})",
        "text": " ",
    }[value.kind]
    return f":{value.name}:{action}"


def _zsh_specs(level: Parser) -> list[str]:
    specs = []
    for option in level.options:
        value = _zsh_value(option.value) if option.value else ""
        description = f"[{_zsh_description(option.help)}]"
        if len(option.names) == 1:
            specs.append(_zsh_quote(f"{option.names[0]}{description}{value}"))
        else:  # -v and --verbose exclude each other
            names = " ".join(option.names)
            specs.append(
                _zsh_quote(f"({names})") + "{" + ",".join(option.names) + "}"
                + _zsh_quote(f"{description}{value}")
            )
    if level.arguments:
        specs.append(_zsh_quote(f"*{_zsh_value(level.arguments)}"))
    return specs


def _zsh(top: Parser) -> str:
    continued = " \\\n        "
    lines = [
        "#compdef tinychat",
        "# zsh completion for tinychat (made by `tinychat completion zsh`)",
        "",
        "_tinychat() {",
        "    local curcontext=$curcontext state line",
        "    local -a commands=(",
    ]
    for command in top.subcommands:
        lines.append(f"        {_zsh_quote(f'{command.name}:{command.help}')}")
    lines += [
        "    )",
        "    _arguments -C" + continued + continued.join(_zsh_specs(top)) + continued
        + "'1: :->command'" + continued + "'*:: :->arguments'",
        "    case $state in",
        "        command) _describe command commands ;;",
        "        arguments)",
        "            case $words[1] in",
    ]
    for command in top.subcommands:
        specs = continued + "        " + (continued + "        ").join(_zsh_specs(command))
        lines.append(f"                {command.name}) _arguments{specs} ;;")
    lines += [
        "            esac ;;",
        "    esac",
        "}",
        "",
        '# On $fpath this file is the function itself; sourced, it registers the function.',
        'if [ "$funcstack[1]" = "_tinychat" ]; then',
        '    _tinychat "$@"',
        "else",
        "    compdef _tinychat tinychat",
        "fi",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- fish


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_value(value: Value) -> str:
    return {
        "file": "-r -F",
        "dir": "-x -a '(__fish_complete_directories)'",
        "choice": f"-x -a {_fish_quote(' '.join(value.choices))}",
        "text": "-x",
    }[value.kind]


def _fish(top: Parser) -> str:
    names = " ".join(command.name for command in top.subcommands)
    lines = [
        "# fish completion for tinychat (made by `tinychat completion fish`)",
        "complete -c tinychat -f  # no file names, except where a file is asked for",
    ]
    for command in top.subcommands:
        lines.append(
            f"complete -c tinychat -n 'not __fish_seen_subcommand_from {names}'"
            f" -a {command.name} -d {_fish_quote(command.help)}"
        )
    for level in (top, *top.subcommands):
        if level is top:
            condition = f"'not __fish_seen_subcommand_from {names}'"
        else:
            condition = f"'__fish_seen_subcommand_from {level.name}'"
        for option in level.options:
            names_of = " ".join(
                f"-s {name[1:]}" if not name.startswith("--") else f"-l {name[2:]}"
                for name in option.names
            )
            value = f" {_fish_value(option.value)}" if option.value else ""
            lines.append(
                f"complete -c tinychat -n {condition} {names_of}{value}"
                f" -d {_fish_quote(option.help)}"
            )
        arguments = level.arguments
        if arguments:  # the positional words: files, folders or choices, after no option
            words = {
                "file": "-F",
                "dir": "-a '(__fish_complete_directories)'",
                "choice": f"-a {_fish_quote(' '.join(arguments.choices))}",
            }[arguments.kind]
            lines.append(f"complete -c tinychat -n {condition} {words}")
    return "\n".join(lines) + "\n"
