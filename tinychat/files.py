"""Read a file tinychat does not control: a regular file only, and never more than a size cap.

Notes, the manifest, the index cache, the checkpoint, the config, a questions file and the
history are all opened here. A FIFO blocks an open or a read forever, a device such as
/dev/zero never ends, and `st_size` (0 for both) says nothing about either. So the file is
opened without blocking, its type is checked on the opened descriptor (a stat taken before
the open could describe another file by then), and a read stops one byte past the cap.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

READ_PIECE = 1 << 20  # bytes per read call once past the size the file claims


class NotRegularFile(OSError):
    """The path is a folder, FIFO, device or socket: nothing tinychat should read."""


class FileTooLarge(OSError):
    """The file holds more bytes than the cap it was read with."""


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words: 'a FIFO (named pipe)', 'a folder', ..."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def open_regular(path: Path | str) -> int:
    """A read-only descriptor of `path`, which must be a regular file (else NotRegularFile).

    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer; on a
    regular file it changes nothing. The caller closes the descriptor.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(path, flags)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, f"is {kind_of(mode)}, not a regular file", str(path))
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of regular file `path`, or FileTooLarge if it holds more than `limit` bytes.

    Raises NotRegularFile for anything but a regular file and OSError when it cannot be read.
    At most `limit + 1` bytes are ever read, whatever the file claims its size is.
    """
    descriptor = open_regular(path)
    try:
        claimed = os.fstat(descriptor).st_size
        pieces, size = [], 0
        while size <= limit:
            piece = os.read(descriptor, min(limit + 1 - size, max(claimed + 1 - size, READ_PIECE)))
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
    finally:
        os.close(descriptor)
    if size > limit:
        raise FileTooLarge(errno.EFBIG, f"is larger than {limit:,} bytes", str(path))
    return b"".join(pieces)
