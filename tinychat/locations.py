"""Where tinychat finds its settings, its knowledge and its state, from whatever folder it runs in.

Inside a project folder (the current folder has a `tinychat.yaml`) everything is as it has
always been: that file, `./knowledge` and `./.tinychat`. Anywhere else tinychat follows the
XDG base directories: settings in `$XDG_CONFIG_HOME/tinychat/tinychat.yaml` (if present), the
knowledge folder from `--knowledge` (or the bundled `knowledge/`), and one state folder per
knowledge folder under `$XDG_STATE_HOME/tinychat/`, named after the folder and a hash of its
absolute path: two folders' weights never mix and nothing is written into the current folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Mapping

from tinychat.config import DEFAULT_CONFIG_NAME, Config, PathsConfig, check_paths, expand_home
from tinychat.errors import TinychatError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the source checkout, in an editable install


def bundled_knowledge() -> Path | None:
    """The `knowledge/` folder shipped next to the package, or None when it is not there.

    It sits beside the package in a source checkout (and so in an editable install); an
    installed wheel has no pyproject.toml beside the package and ships no notes.
    """
    folder = PACKAGE_ROOT / "knowledge"
    return folder if folder.is_dir() and (PACKAGE_ROOT / "pyproject.toml").is_file() else None


def is_bundled(folder: Path) -> bool:
    """Whether `folder` is the bundled knowledge folder (the demo asks it fixed questions)."""
    bundled = bundled_knowledge()
    return bundled is not None and Path(folder).resolve() == bundled.resolve()


# ---------------------------------------------------------------------------- user folders


def xdg_folder(name: str, default: str, environ: Mapping[str, str] = os.environ) -> Path:
    """`$name`, or ~/`default` when it is unset, empty or relative (the XDG base directory
    specification says to ignore a relative one: it would follow the current folder)."""
    base = environ.get(name, "")
    return Path(base) if os.path.isabs(base) else Path.home() / default


def user_config_file(environ: Mapping[str, str] = os.environ) -> Path:
    """`$XDG_CONFIG_HOME/tinychat/tinychat.yaml` (default ~/.config/...), read outside a project."""
    return xdg_folder("XDG_CONFIG_HOME", ".config", environ) / "tinychat" / DEFAULT_CONFIG_NAME


def state_for(knowledge: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """The state folder of one knowledge folder: `$XDG_STATE_HOME/tinychat/<name>-<hash>`.

    The hash of the absolute path keeps two folders that share a name ("notes") apart.
    """
    base = xdg_folder("XDG_STATE_HOME", os.path.join(".local", "state"), environ)
    absolute = Path(knowledge).resolve()
    digest = hashlib.sha256(str(absolute).encode("utf-8")).hexdigest()[:8]
    return base / "tinychat" / f"{absolute.name or 'root'}-{digest}"


# ---------------------------------------------------------------------------- deciding


def project_folder(cwd: Path) -> Path | None:
    """The current folder when it holds a `tinychat.yaml` (today's project layout), else None."""
    return cwd if (cwd / DEFAULT_CONFIG_NAME).is_file() else None


def config_file(
    given: Path | None, cwd: Path, environ: Mapping[str, str] = os.environ
) -> Path | None:
    """The settings file to read: `--config`, the project's, the user's if present, or none."""
    if given is not None:
        return given
    if project_folder(cwd) is not None:
        return Path(DEFAULT_CONFIG_NAME)  # relative, as before: messages name it as typed
    user = user_config_file(environ)
    return user if user.is_file() else None


def place(
    config: Config,
    knowledge: Path | None,
    state: Path | None,
    cwd: Path,
    environ: Mapping[str, str] = os.environ,
) -> Config:
    """`config` with absolute knowledge and state folders, from the options given and the folder.

    `knowledge` and `state` are the command-line options (None when not given). The config
    file's state folder (or the project's `.tinychat`) belongs to the knowledge folder it names:
    any other knowledge folder gets a state folder of its own.
    """
    project = project_folder(cwd)
    configured = configured_knowledge(config, project)
    chosen = cwd / expand_home(knowledge, "--knowledge") if knowledge is not None else configured
    if chosen is None:
        raise TinychatError(
            f"no knowledge folder here (no {DEFAULT_CONFIG_NAME} in {cwd});"
            " pass --knowledge DIR, a folder of .txt/.md notes"
        )
    own = configured is not None and chosen.resolve() == configured.resolve()
    if state is not None:
        where = cwd / expand_home(state, "--state")
    elif own and config.paths.state.is_absolute():  # set by the config file
        where = config.paths.state
    elif own and project is not None:
        where = project / config.paths.state
    else:
        where = state_for(chosen, environ)
    placed = PathsConfig(knowledge=chosen, state=where)
    check_paths(placed)  # the command line's folders too, not only the config file's
    return dataclasses.replace(config, paths=placed)


def configured_knowledge(config: Config, project: Path | None) -> Path | None:
    """The knowledge folder without --knowledge: the config file's, the project's, or the bundled.

    A path the config file set is absolute (made so relative to the file); a relative one is
    PathsConfig's default, which nothing set.
    """
    if config.paths.knowledge.is_absolute():
        return config.paths.knowledge
    if project is not None:
        return project / config.paths.knowledge
    return bundled_knowledge()
