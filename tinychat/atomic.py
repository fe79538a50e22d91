"""Write a file so that readers see the old version or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from tinychat.errors import TinychatError


def atomic_write(path: Path, write: Callable[[str], None], what: str) -> None:
    """Call `write(temporary_path)`, flush it to disk, then rename it over `path`.

    A failure (full disk, read-only folder) raises TinychatError naming `what` and leaves
    the previous file untouched; the temporary file is removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
        os.close(handle)
    except OSError as error:
        raise TinychatError(
            f"{path.parent}: cannot write the {what} ({error.strerror or error});"
            " the previous one is kept"
        ) from None
    try:
        write(temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise TinychatError(
            f"{path}: cannot save the {what} ({error.strerror or error}); the previous one is kept"
        ) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
