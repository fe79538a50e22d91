"""Open a file tinychat does not control: a regular file only, never past a size cap, and in
the state folder never through a link.

Notes, the manifest, the index cache, the checkpoint, the config, a questions file and the
history are all read here, and the files the state folder holds that are not replaced whole
(the trainer's log, the history, the training lock) are opened for writing here. A FIFO blocks
an open or a read forever, a device such as /dev/zero never ends, and `st_size` (0 for both)
says nothing about either. So the file is opened without blocking, its type is checked on the
opened descriptor (a stat taken before the open could describe another file by then), and a
read stops one byte past the cap. A link in the state folder could point anywhere, and
writing through it would change a file outside it: those files are opened with O_NOFOLLOW. A
note may be a link within its folder; where it leads is checked on the opened descriptor too,
since the link may be switched between the scan that checked it and the read.
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


class IsLink(OSError):
    """The path is a link, where tinychat reads or writes only the file itself."""


class OutsideFolder(OSError):
    """The opened file lies outside the folder it had to be in (a link switched meanwhile)."""


NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOSE_ON_EXEC = getattr(os, "O_CLOEXEC", 0)


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


def _open(path: Path | str, flags: int, permissions: int = 0o644) -> int:
    """os.open with O_NONBLOCK, then the descriptor checked to be a regular file."""
    try:
        descriptor = os.open(path, flags | os.O_NONBLOCK | CLOSE_ON_EXEC, permissions)
    except OSError as error:
        if flags & NO_FOLLOW and error.errno == errno.ELOOP and os.path.islink(path):
            raise IsLink(errno.ELOOP, "is a link, which tinychat does not follow here", str(path))
        if error.errno == errno.ENXIO:  # a FIFO opened to write, with no reader: say what it is
            kind = kind_of(os.stat(path).st_mode)
            raise NotRegularFile(errno.EINVAL, f"is {kind}, not a regular file", str(path))
        raise
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, f"is {kind_of(mode)}, not a regular file", str(path))
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def open_regular(path: Path | str, follow_links: bool = True) -> int:
    """A read-only descriptor of `path`, which must be a regular file (else NotRegularFile).

    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer; on a
    regular file it changes nothing. With `follow_links` false a link is IsLink. The caller
    closes the descriptor.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOCTTY", 0) | (0 if follow_links else NO_FOLLOW)
    return _open(path, flags)


def open_for_writing(path: Path | str, append: bool = False, permissions: int = 0o644) -> int:
    """A write-only descriptor of `path` in the state folder, created if missing, emptied unless
    `append`: never through a link (IsLink), and only a regular file (NotRegularFile)."""
    flags = os.O_WRONLY | os.O_CREAT | NO_FOLLOW | getattr(os, "O_NOCTTY", 0)
    descriptor = _open(path, flags | (os.O_APPEND if append else 0), permissions)
    if not append:
        os.ftruncate(descriptor, 0)  # only now that it is known to be a regular file of its own
    return descriptor


def place_of(descriptor: int) -> str | None:
    """The absolute path of the file `descriptor` is open on, or None where the system cannot
    say (it says on Linux, through /proc, and on macOS)."""
    try:
        return os.readlink(f"/proc/self/fd/{descriptor}")
    except OSError:
        pass
    try:
        import fcntl

        get_path = getattr(fcntl, "F_GETPATH", None)
        if get_path is not None:
            return fcntl.fcntl(descriptor, get_path, bytes(1024)).split(b"\0", 1)[0].decode()
    except (OSError, UnicodeDecodeError):
        pass
    return None


def _check_inside(descriptor: int, path: Path | str, inside: str) -> None:
    """OutsideFolder unless the file open on `descriptor` lies in folder `inside` (a real path)."""
    place = place_of(descriptor)
    if place is None:  # no way to ask the descriptor: the path as it resolves now
        place = os.path.realpath(path)
    if not place.startswith(inside.rstrip(os.sep) + os.sep):
        raise OutsideFolder(errno.EXDEV, "is a link to outside the folder", str(path))


def read_regular(
    path: Path | str, limit: int, follow_links: bool = True, inside: str | None = None
) -> bytes:
    """The bytes of regular file `path`, or FileTooLarge if it holds more than `limit` bytes.

    Raises NotRegularFile for anything but a regular file and OSError when it cannot be read:
    IsLink for a link when `follow_links` is false, OutsideFolder when the file opened is not
    in folder `inside` (a real path), whatever the path looked like before it was opened.
    At most `limit + 1` bytes are ever read, whatever the file claims its size is.
    """
    descriptor = open_regular(path, follow_links)
    try:
        if inside is not None:
            _check_inside(descriptor, path, inside)
        claimed = os.fstat(descriptor).st_size
        if claimed > limit:  # a regular file's size is known: no need to read past the cap
            raise FileTooLarge(errno.EFBIG, f"is larger than {limit:,} bytes", str(path))
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


def read_tail(path: Path | str, count: int) -> bytes:
    """The last `count` bytes (at most) of regular file `path` in the state folder, not
    following a link: a log that grew large is not read whole."""
    descriptor = open_regular(path, follow_links=False)
    try:
        size = os.fstat(descriptor).st_size
        os.lseek(descriptor, max(0, size - count), os.SEEK_SET)
        return os.read(descriptor, count)
    finally:
        os.close(descriptor)
