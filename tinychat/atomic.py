"""Write a file so that readers see the old version or the new one, never half of either."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from tinychat.errors import TinychatError


def atomic_write(path: Path, data: bytes, what: str) -> None:
    """Write `data` to a new temporary file beside `path`, flush it to disk, rename it over `path`.

    The bytes go through the descriptor that created the temporary file (O_EXCL: never a link
    planted there) with plain writes, so a full disk is an OSError here and nowhere else. A
    failure raises TinychatError naming `what` and leaves the previous file untouched; the
    temporary file is removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
    except OSError as error:
        raise TinychatError(
            f"{path.parent}: cannot write the {what} ({error.strerror or error});"
            " the previous one is kept"
        ) from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
            os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temporary, path)
    except OSError as error:
        raise TinychatError(
            f"{path}: cannot save the {what} ({error.strerror or error}); the previous one is kept"
        ) from None
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def hdf5_bytes(fill: Callable[[Any], None]) -> bytes:
    """An HDF5 file made in memory by `fill(file)`: HDF5's own writes never meet a full disk
    (where they failed with a flood of errors and then a crash), `atomic_write` does."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        fill(file)
    return buffer.getvalue()
