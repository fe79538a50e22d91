"""Where tinychat finds its settings, its knowledge and its state, from whatever folder it runs in.

Inside a project folder (the current folder has a `tinychat.yaml`) everything is as it has
always been: that file, `./knowledge` and `./.tinychat`. Anywhere else tinychat follows the
XDG base directories: settings in `$XDG_CONFIG_HOME/tinychat/tinychat.yaml` (if present), the
knowledge folder from `--knowledge` (or the bundled `knowledge/`), and one state folder per
knowledge folder under `$XDG_STATE_HOME/tinychat/`, named after the folder and a hash of its
absolute path: two folders' weights never mix and nothing is written into the current folder.
"""

from __future__ import annotations

from pathlib import Path

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
