"""Which files of the knowledge folder are notes, and how a note's bytes become text.

The walk stops as soon as the folder is past its budget (knowledge.max_files, max_total_mb),
so a mistaken `--knowledge /usr` costs a moment instead of a walk of the whole tree. Only
regular files pass, also through links, which must stay inside the folder: a FIFO would
block a read forever and a device never ends. Anything skipped is handed to a `warn`
callback with the reason, for the caller to say once. Reading the bytes themselves is
`files.read_regular`'s job; decoding them is `decode_note`'s.
"""

from __future__ import annotations

import codecs
import os
import stat as stat_module
from collections.abc import Callable
from pathlib import Path

from tinychat.config import KnowledgeConfig
from tinychat.errors import TinychatError
from tinychat.files import kind_of
from tinychat.vocab import without_invisible

# Text with a byte-order mark is decoded by it (UTF-32 first: its little-endian mark begins
# with UTF-16's); without one, UTF-8 is the only encoding tried.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
MB = 1 << 20

Warn = Callable[[str, str], None]  # (path relative to the folder, the problem in words)


class KnowledgeTooLarge(TinychatError):
    """The folder is past knowledge.max_files or max_total_mb; raised as soon as a scan sees it."""

    def __init__(self, folder: Path, amount: str, key: str):
        self.folder = folder
        self.what = f"{amount} ({key})"  # e.g. "more than 20,000 files (knowledge.max_files)"
        super().__init__(
            f"{folder}: holds {self.what}; check --knowledge, or raise {key}"
            " (0 = no limit) or pass --yes to index it anyway"
        )


def is_ignored(name: str) -> bool:
    """Hidden files and editors' temporary files are never read."""
    return name.startswith(".") or name.endswith("~") or name.endswith((".swp", ".swo", ".tmp"))


def note_names(extensions: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether a file name ends with one of `extensions`, in any case: a few set look-ups per
    name, one per length of extension, however many extensions there are."""
    wanted = {extension.lower() for extension in extensions}
    lengths = sorted({len(extension) for extension in wanted})
    return lambda name: any(name[-length:].lower() in wanted for length in lengths)


def scan_folder(folder: Path, config: KnowledgeConfig, warn: Warn) -> dict[str, os.stat_result]:
    """Every readable note's path (relative, '/'-separated) and stat. os.scandir, not pathlib:
    at 10,000 files pathlib's object overhead cost more than the stat calls themselves.

    Raises KnowledgeTooLarge as soon as the folder is past its budget.
    """
    root = os.path.realpath(folder)
    budget = _Budget(folder, config)
    is_note = note_names(config.extensions)
    seen: dict[str, os.stat_result] = {}
    pending = [("", str(folder))]
    while pending:
        prefix, directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except FileNotFoundError:
            continue  # vanished while we looked: it is simply not there
        except OSError as error:
            warn(prefix, f"is a folder that cannot be read ({error.strerror or error}); skipped")
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not entry.name.startswith("."):
                    pending.append((f"{prefix}{entry.name}/", entry.path))
                continue
            budget.add_file()
            if is_ignored(entry.name) or not is_note(entry.name):
                continue
            relative = prefix + entry.name
            info = _regular_file(entry, relative, root, warn)
            if info is not None:
                budget.add_note(info.st_size)
                seen[relative] = info
    return seen


def _regular_file(
    entry: os.DirEntry, relative: str, root: str, warn: Warn
) -> os.stat_result | None:
    """The stat of a note that can be read, or None after a warning."""
    if entry.is_symlink():
        target = os.path.realpath(entry.path)
        if target == root:
            warn(relative, "is a link to the knowledge folder itself; skipped")
            return None
        if not target.startswith(root + os.sep):
            warn(relative, "is a link to outside the knowledge folder; skipped")
            return None
    try:
        info = os.stat(entry.path)
    except FileNotFoundError:
        return None  # deleted since the listing, or a link to nothing
    except OSError as error:  # e.g. a loop of links
        warn(relative, f"cannot be read ({error.strerror or error}); skipped")
        return None
    if not stat_module.S_ISREG(info.st_mode):
        warn(relative, f"is {kind_of(info.st_mode)}, not a regular file; skipped")
        return None
    return info


class _Budget:
    """What a scan has seen so far, against knowledge.max_files and max_total_mb (0: no limit)."""

    def __init__(self, folder: Path, config: KnowledgeConfig):
        self.folder, self.config = folder, config
        self.files = self.note_bytes = 0

    def add_file(self) -> None:
        self.files += 1
        if self.config.max_files and self.files > self.config.max_files:
            amount = f"more than {self.config.max_files:,} files"
            raise KnowledgeTooLarge(self.folder, amount, "knowledge.max_files")

    def add_note(self, size: int) -> None:
        if size <= self.config.max_file_kb * 1024:  # larger ones are skipped, not read
            self.note_bytes += size
        if self.config.max_total_mb and self.note_bytes > self.config.max_total_mb * MB:
            amount = f"more than {self.config.max_total_mb:,} MB of notes"
            raise KnowledgeTooLarge(self.folder, amount, "knowledge.max_total_mb")


def decode_note(data: bytes, bad_utf8: str) -> tuple[str | None, str | None]:
    """(text, problem): UTF-8, or UTF-16/32 by its byte-order mark, without zero-width
    characters. No text when the note cannot be used; a problem to say when it was skipped or
    read with replacement characters."""
    text, problem = _decoded(data, bad_utf8)
    return (without_invisible(text) if text is not None else None), problem


def _decoded(data: bytes, bad_utf8: str) -> tuple[str | None, str | None]:
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding), None
            except UnicodeDecodeError:
                continue  # e.g. UTF-16 text that begins with a NUL looks like UTF-32 at first
    if b"\0" in data[:8192]:
        return None, "looks binary; skipped"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        if bad_utf8 == "skip":
            return None, (
                f"is not UTF-8 (byte {error.start}); skipped: save it as UTF-8"
                " or set knowledge.bad_utf8: replace"
            )
        problem = f"is not UTF-8 (byte {error.start}); read with replacement characters"
        return data.decode("utf-8-sig", errors="replace"), problem
