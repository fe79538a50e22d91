"""Shell completion: scripts made from the parser, printed by `tinychat completion SHELL`, and
completing in a real bash (and in fish and zsh where they are installed)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tinychat.cli import build_parser, main

SUBCOMMANDS = "ask train demo info eval log completion"


def printed(shell: str, capsys) -> str:
    assert main(["completion", shell]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_bash_script_lists_every_subcommand_and_option(capsys):
    script = printed("bash", capsys)
    lines = script.splitlines()
    assert lines[0] == "# bash completion for tinychat (made by `tinychat completion bash`)"
    assert lines[-1] == "complete -o filenames -F _tinychat tinychat"
    names = SUBCOMMANDS.replace(" ", "|")
    assert f'            {names}) command="${{COMP_WORDS[i]}}"; break ;;' in lines
    assert '        --knowledge|--state) COMPREPLY=($(compgen -d -- "$cur")); return ;;' in lines
    assert '        --config) COMPREPLY=($(compgen -f -- "$cur")); return ;;' in lines
    assert (
        '        "ask") COMPREPLY=($(compgen -W "-h --help --config --knowledge --state'
        ' --temperature --top-k --seed --yes --json --show-prompt --cite --no-train" -- "$cur"))'
        " ;;" in lines
    )


def test_every_option_of_the_parser_is_in_every_script(capsys):
    """Made from the parser itself: a new option is completed without anyone writing it down."""
    from tinychat.completion import read_parser

    top = read_parser(build_parser())
    names = {name for level in (top, *top.subcommands) for o in level.options for name in o.names}
    assert {"--cite", "--no-train", "--show-failures", "-n"} <= names
    for shell in ("bash", "zsh", "fish"):
        script = printed(shell, capsys)
        for name in names:
            written = {"fish": f"-{'l' if name.startswith('--') else 's'} {name.lstrip('-')}"}
            assert written.get(shell, name) in script, (shell, name)
        for command in SUBCOMMANDS.split():
            assert command in script


def complete_in_bash(script: str, line: str, tmp_path) -> list[str]:
    """What bash completes `line` (the cursor at its end) to, with `script` loaded."""
    (tmp_path / "tinychat.bash").write_text(script)
    probe = (
        f"source {tmp_path / 'tinychat.bash'}; COMP_LINE={line!r};"
        ' read -ra COMP_WORDS <<< "$COMP_LINE"; [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("");'
        ' COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _tinychat; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(
        ["bash", "--norc", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_bash_completes_commands_options_and_folders(capsys, tmp_path):
    script = printed("bash", capsys)
    (tmp_path / "notes").mkdir()
    (tmp_path / "questions.yaml").write_text("[]")
    assert complete_in_bash(script, "tinychat e", tmp_path) == ["eval"]
    assert complete_in_bash(script, "tinychat ask --sh", tmp_path) == ["--show-prompt"]
    assert complete_in_bash(script, "tinychat eval --show", tmp_path) == ["--show-failures"]
    assert complete_in_bash(script, "tinychat --knowledge no", tmp_path) == ["notes"]
    assert complete_in_bash(script, "tinychat --knowledge notes a", tmp_path) == ["ask"]
    assert complete_in_bash(script, "tinychat eval qu", tmp_path) == ["questions.yaml"]
    assert complete_in_bash(script, "tinychat completion ", tmp_path) == ["bash", "zsh", "fish"]


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_completes_commands_and_options(capsys, tmp_path):
    (tmp_path / "tinychat.fish").write_text(printed("fish", capsys))
    script = tmp_path / "tinychat.fish"
    probe = f"source {script}; complete -C 'tinychat as'; complete -C 'tinychat ask --sh'"
    result = subprocess.run(["fish", "-c", probe], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ask\tanswer one question and exit",
        "--show-prompt\tprint the whole [CONTEXT]/[QUERY]/[ANSWER] block",
    ]


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_reads_the_script(capsys, tmp_path):
    (tmp_path / "_tinychat").write_text(printed("zsh", capsys))
    result = subprocess.run(
        ["zsh", "-f", "-c", f"autoload -U compinit && compinit -u; source {tmp_path / '_tinychat'}"
         "; print -r -- ${_comps[tinychat]}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and result.stdout.strip() == "_tinychat", result


def test_completion_needs_no_settings(tmp_path, capsys, monkeypatch):
    """A broken tinychat.yaml in the folder does not stop the script from printing."""
    (tmp_path / "tinychat.yaml").write_text("model: [\n")
    assert main(["completion", "bash"]) == 0 and "_tinychat()" in capsys.readouterr().out
