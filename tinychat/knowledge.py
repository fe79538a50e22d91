"""The knowledge folder: scan it, read its files safely, cut them into chunks with line numbers.

A chunk is a sentence (or a piece of a long one), the unit the retriever ranks and the model
copies answers from. Each chunk keeps its file and the 1-based lines it spans, so every
answer can cite exactly where it came from. The folder is only ever read.

`Knowledge.refresh()` re-reads only files whose size or modification time changed and
reports what was added, changed and removed, so a caller can re-index before an answer.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import json
import os
import re
import stat as stat_module
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinychat.atomic import atomic_write
from tinychat.config import Config, KnowledgeConfig
from tinychat.errors import TinychatError
from tinychat.files import FileTooLarge, NotRegularFile, kind_of, read_regular
from tinychat.vocab import normalize

MANIFEST_NAME = "manifest.json"  # in the state folder
MANIFEST_VERSION = 2
SENTENCE_END = re.compile(
    r"(?<=[.!?])[\"')\]]*\s+"
)  # a sentence may end at . ! ? followed by space
LINE_BREAK = re.compile(
    r"\r\n|\r|\n"
)  # as editors and `grep -n` count lines (not \f, \v, U+2028 ...)
# Words that end in a full stop without ending the sentence. Titles and "No." come before a name
# or a number, so they never end one; the others do only when the next word starts a sentence.
NEVER_ENDS = frozenset(
    "dr mr mrs ms st prof no nos mt rev sgt capt gen col lt fr jr sr vs e.g i.e cf".split()
)
ENDS_BEFORE_CAPITAL = frozenset(
    "a.m p.m etc approx inc ltd co ave rd dept est fig ca min max".split()
)
MARKDOWN_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
LABEL = re.compile(r"^[A-Za-z][\w'&/ -]{0,30}: \S")  # "Front gate: 2290", a labelled value
# hard-wrapped prose fills its lines; a line shorter than this may be an item of its own
SHORT_LINE = 50
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
# Counting a sentence's first words twice measured line hit@1 0.77 -> 0.81 on the invented set and
# 0.79 -> 0.89 on the bundled one (2 words: 0.80 / 0.88; 4: 0.79 / 0.84).
SUBJECT_WORDS = 3
PATH_WORD_BREAK = re.compile(r"[/_\-.\s]+")
# Text with a byte-order mark is decoded by it (UTF-32 first: its little-endian mark begins
# with UTF-16's); without one, UTF-8 is the only encoding tried.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
MB = 1 << 20
MANIFEST_PER_NOTE_BYTE = 8  # measured 1.7 bytes per byte of notes (3,000 files): a generous cap


def hash_text(text: str) -> bytes:
    """UTF-8 bytes to hash, for any str: a file name that is not UTF-8 holds surrogates
    (os.fsdecode), which plain .encode() refuses; valid text encodes as usual."""
    return text.encode("utf-8", "surrogatepass")


class KnowledgeTooLarge(TinychatError):
    """The folder is past knowledge.max_files or max_total_mb; raised as soon as a scan sees it."""

    def __init__(self, folder: Path, amount: str, key: str):
        self.folder = folder
        self.what = f"{amount} ({key})"  # e.g. "more than 20,000 files (knowledge.max_files)"
        super().__init__(
            f"{folder}: holds {self.what}; check --knowledge, or raise {key}"
            " (0 = no limit) or pass --yes to index it anyway"
        )


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of a file: a sentence on lines `line`..`end_line` (1-based)."""

    path: str  # relative to the knowledge folder, '/'-separated
    line: int
    end_line: int
    text: str  # one line of text, whitespace folded, ready for the prompt
    title: str = ""  # the nearest markdown heading above it: searched, never shown to the model

    @property
    def searchable(self) -> str:
        """What the retriever indexes: the sentence plus the words that say what it is about.

        That is the file's name and the heading above ("velmora.txt", "# Velmora" / "It has two
        bridges."), and the sentence's first words once more, since a sentence usually opens
        with its subject ("Keras provides ..." is about Keras more than "Calling fit in Keras ...").
        """
        opening = " ".join(self.text.split(maxsplit=SUBJECT_WORDS)[:SUBJECT_WORDS])
        return " ".join(
            part for part in (subject_of(self.path), self.title, opening, self.text) if part
        )


@functools.lru_cache(
    maxsize=1 << 16
)  # asked once per chunk, the same answer for every chunk of a file
def subject_of(path: str) -> str:
    """Words of a file's path without its suffix: "towns/north_velmora.md" -> "towns north velmora".

    Notes are usually named after what they are about; searching the name with every sentence
    measured file hit@1 0.96 -> 0.97 and line hit@1 0.73 -> 0.77 on the invented-subjects set
    (0.93 -> 0.95 and 0.78 -> 0.79 on the bundled one).
    """
    name_start, dot = path.rfind("/") + 1, path.rfind(".")  # chunk paths are '/'-separated
    without_suffix = path[:dot] if dot > name_start else path
    return " ".join(word for word in PATH_WORD_BREAK.split(without_suffix) if word)


@dataclass(frozen=True)
class FileState:
    """What the scan knows of one file; size and mtime decide whether it must be read again."""

    size: int
    mtime_ns: int
    sha256: str
    chunks: tuple[Chunk, ...]


@dataclass
class Changes:
    """What one refresh found."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def summary(self) -> str:
        parts = [
            f"{len(names)} {verb}"
            for names, verb in (
                (self.added, "added"),
                (self.changed, "changed"),
                (self.removed, "removed"),
            )
            if names
        ]
        return ", ".join(parts)


# ---------------------------------------------------------------------------- chunking


def split_chunks(path: str, text: str, max_chars: int) -> list[Chunk]:
    """Cut a file's text into sentence chunks that remember their line numbers.

    Consecutive non-blank lines form a paragraph, so a sentence hard-wrapped over several
    lines is one chunk spanning them; list items stand alone. A markdown heading is not a
    chunk (it answers nothing) but the title of the chunks below it. Sentences longer than
    `max_chars` are cut at a space.
    """
    chunks: list[Chunk] = []
    title = ""
    lines = LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the text's last newline ends the last line; it starts no new one
    for paragraph in _paragraphs(lines):
        number, first_line = paragraph[0]
        if MARKDOWN_HEADING.match(first_line):
            title = " ".join(normalize(MARKDOWN_HEADING.sub("", first_line)).split())
            continue
        # Join the paragraph's lines with spaces, remembering which line each character came from.
        joined, line_of = "", []
        for number, line in paragraph:
            piece = " ".join(normalize(line).split())
            if joined:
                joined += " "
                line_of.append(number)
            joined += piece
            line_of.extend([number] * len(piece))
        start = 0
        for match in [*sentence_ends(joined), None]:
            end = match.start() + len(match.group().rstrip()) if match else len(joined)
            for first, last in _pieces(joined, start, end, max_chars):
                while first < last and joined[first] == " ":
                    first += 1
                while last > first and joined[last - 1] == " ":
                    last -= 1
                if first < last:
                    chunks.append(
                        Chunk(path, line_of[first], line_of[last - 1], joined[first:last], title)
                    )
            start = match.end() if match else len(joined)
    return chunks


def sentence_ends(text: str) -> list[re.Match]:
    """The places where a sentence of `text` ends: after . ! or ? and a space, except after an
    abbreviation ("Dr. Patel", "No. 4", "e.g. tea", "9 a.m. on weekdays") or an initial ("J. Smith")."""
    ends = []
    for match in SENTENCE_END.finditer(text):
        if text[match.start() - 1] != ".":  # ! and ? always end a sentence
            ends.append(match)
            continue
        before = text[: match.start() - 1].rsplit(" ", 1)[-1].lstrip("(\"'").lower()
        after = text[match.end() : match.end() + 1]
        if before in NEVER_ENDS or (len(before) == 1 and before.isalpha()):
            continue
        if (before in ENDS_BEFORE_CAPITAL or "." in before) and not after.isupper():
            continue
        ends.append(match)
    return ends


def _paragraphs(lines: list[str]) -> list[list[tuple[int, str]]]:
    """Runs of lines that read as one text; headings, list items and short labelled lines stand alone."""
    paragraphs: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if current and _ends_a_line_of_its_own(current[-1][1], line):
            paragraphs.append(current)
            current = []
        stands_alone = MARKDOWN_HEADING.match(line) or LIST_ITEM.match(line)
        if not line.strip() or stands_alone:
            if current:
                paragraphs.append(current)
            current = []
        if MARKDOWN_HEADING.match(line):
            paragraphs.append([(number, line)])  # kept whole: split_chunks reads it as a title
        elif stands_alone:
            paragraphs.append([(number, LIST_ITEM.sub("", line))])
        elif line.strip():
            current.append((number, line))
    if current:
        paragraphs.append(current)
    return paragraphs


def _ends_a_line_of_its_own(line: str, following: str) -> bool:
    """A short line without a full stop before one that starts like a new item ("Front gate: 2290" /
    "Bike shed padlock: 1112") is a fact of its own, not a sentence wrapped onto the next line."""
    text, after = line.strip(), following.lstrip()
    if LABEL.match(text) and LABEL.match(
        after
    ):  # "Alarm: 4000 then OFF (...)" / "Allotment gate: 7733"
        return True
    return (
        len(text) < SHORT_LINE
        and not text.endswith((".", "!", "?", ",", ";", "-", "and", "or", "of", "the"))
        and bool(after)
        and (after[0].isupper() or after[0].isdigit())
    )


def _pieces(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split text[start:end] into spans of at most max_chars, breaking at a space where possible."""
    spans = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars + 1)
        cut = cut if cut > start else start + max_chars
        spans.append((start, cut))
        start = cut
    spans.append((start, end))
    return spans


# ---------------------------------------------------------------------------- scanning


def is_ignored(name: str) -> bool:
    """Hidden files and editors' temporary files are never read."""
    return name.startswith(".") or name.endswith("~") or name.endswith((".swp", ".swo", ".tmp"))


class Knowledge:
    """The chunks of a knowledge folder, kept current by `refresh()`.

    With a `manifest` path (in the state folder) what is known of each file (size, mtime,
    sha256 and its chunks) survives a restart, so unchanged files are not read again.
    """

    def __init__(self, folder: Path, config: KnowledgeConfig, manifest: Path | None = None):
        self.folder = Path(folder)
        self.config = config
        self.manifest = manifest
        self.files: dict[str, FileState] = {}
        self.unsaved = False  # changes not yet in the manifest file
        # {path: [size, mtime_ns, problem]}: the file version each warning was given for, kept in
        # the manifest so that a restart does not repeat it; only a new version of the file does.
        self._warned: dict[str, list] = {}
        self._warned_now: set[str] = set()  # paths warned about (again) by the refresh under way
        if manifest is not None:
            self._load_manifest(manifest)

    @property
    def chunks(self) -> list[Chunk]:
        return [chunk for path in sorted(self.files) for chunk in self.files[path].chunks]

    def has_text(self) -> bool:
        """Whether any file holds a sentence (blank files and headings alone hold none)."""
        return any(state.chunks for state in self.files.values())

    def no_text(self) -> TinychatError:
        """The one line for a folder with nothing to answer from or train on."""
        extensions = " or ".join(self.config.extensions)
        return TinychatError(
            f"{self.folder}: no {extensions} text found (blank files and markdown"
            " headings alone hold no sentences); add notes or pass"
            " --knowledge DIR"
        )

    def manifest_hashes(self) -> dict[str, str]:
        """{path: sha256} of every file read: what a checkpoint records it was trained on."""
        return {path: state.sha256 for path, state in sorted(self.files.items())}

    def changed_since(self, hashes: dict[str, str]) -> int:
        """How many files were added, changed or removed since `hashes` was recorded."""
        current = self.manifest_hashes()
        return sum(current.get(path) != hashes.get(path) for path in set(current) | set(hashes))

    def fingerprint(self) -> str:
        """sha256 over every file's path and content hash: changes when any file does."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(hash_text(f"{path}\0{self.files[path].sha256}\n"))
        return digest.hexdigest()

    def refresh(self) -> Changes:
        """Bring `files` up to date with the folder; read only what changed on disk."""
        if not self.folder.is_dir():
            raise TinychatError(
                f"{self.folder}: knowledge folder not found; create it or pass --knowledge DIR"
            )
        changes = Changes()
        self._warned_now = set()
        seen = self._scan(changes)
        for relative in sorted(set(self.files) - set(seen)):
            del self.files[relative]
            changes.removed.append(relative)
        for relative, stat in sorted(seen.items()):
            known = self.files.get(relative)
            if known and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                continue
            state = self._read(relative, stat, changes)
            if state is None:
                if self.files.pop(relative, None) is not None:
                    changes.removed.append(relative)
                continue
            if known is None:
                changes.added.append(relative)
            elif known.sha256 != state.sha256:
                changes.changed.append(relative)
            self.files[relative] = state
        for relative in set(self._warned) - self._warned_now:  # fixed, removed, or read and kept
            del self._warned[relative]
            self.unsaved = True
        self.unsaved = self.unsaved or bool(changes)
        return changes

    # The manifest is JSON: {"version", "folder", "chunk_chars", "files": {path: {size, mtime_ns,
    # sha256, chunks: [[line, end_line, text, title], ...]}}, "warned": {path: [size, mtime_ns,
    # problem]}}. One made for another version, folder or chunk size is ignored.

    def _manifest_header(self) -> dict:
        return {
            "version": MANIFEST_VERSION,
            "folder": str(self.folder.resolve()),
            "chunk_chars": self.config.chunk_chars,
        }

    def _load_manifest(self, path: Path) -> None:
        """Take what the manifest knows if it was made for this folder and every field checks out.

        A missing, damaged or foreign manifest (a FIFO, null, a list, a line that is a string)
        is ignored whole: it only means reading every file again, and it is rewritten after.
        """
        total_mb = self.config.max_total_mb
        limit = MANIFEST_PER_NOTE_BYTE * total_mb * MB + 64 * MB if total_mb else sys.maxsize
        try:
            data = json.loads(read_regular(path, limit))
        except (OSError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return
        header = self._manifest_header()
        if not isinstance(data, dict) or any(data.get(key) != header[key] for key in header):
            return
        try:
            files = data["files"]
            self.files = {name: _file_state(name, entry) for name, entry in files.items()}
            warned = data.get("warned", {})  # which warning was given for which file version
            self._warned = {
                name: list(version)
                for name, version in warned.items()
                if isinstance(name, str) and isinstance(version, list)
            }
        except (AttributeError, KeyError, TypeError, ValueError):
            self.files = {}

    def save_manifest(self) -> None:
        """Write the manifest if anything changed since it was last written.

        Called after a full re-index and when a session closes, not after every edit: at
        10,000 files it is megabytes of JSON, and a stale one is safe (files whose size or
        time differ from it are simply read again).
        """
        if self.manifest is None or not self.unsaved:
            return
        files = {
            relative: {
                "size": state.size,
                "mtime_ns": state.mtime_ns,
                "sha256": state.sha256,
                "chunks": [[c.line, c.end_line, c.text, c.title] for c in state.chunks],
            }
            for relative, state in sorted(self.files.items())
        }
        text = json.dumps({**self._manifest_header(), "files": files, "warned": self._warned})
        try:
            atomic_write(
                self.manifest,
                lambda temporary: Path(temporary).write_text(text, encoding="utf-8"),
                "knowledge manifest",
            )
            self.unsaved = False
        except TinychatError:
            pass  # the manifest only saves time; a read-only state folder must not stop the chat

    def _scan(self, changes: Changes) -> dict[str, os.stat_result]:
        """Every readable knowledge file's relative path and stat. os.scandir, not pathlib:
        at 10,000 files pathlib's object overhead cost more than the stat calls themselves.

        Raises KnowledgeTooLarge as soon as the folder is past its budget, so a mistaken
        `--knowledge /usr` costs a moment instead of a walk of the whole tree.
        """
        root = os.path.realpath(self.folder)
        budget = _Budget(self.folder, self.config)
        seen: dict[str, os.stat_result] = {}
        pending = [("", str(self.folder))]
        while pending:
            prefix, directory = pending.pop()
            try:
                with os.scandir(directory) as listing:
                    entries = list(listing)
            except FileNotFoundError:
                continue  # vanished while we looked: it is simply not there
            except OSError as error:
                problem = f"is a folder that cannot be read ({error.strerror or error}); skipped"
                self._warn(changes, prefix, problem)
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        pending.append((f"{prefix}{entry.name}/", entry.path))
                    continue
                budget.add_file()
                if is_ignored(entry.name) or not entry.name.lower().endswith(
                    self.config.extensions
                ):
                    continue
                relative = prefix + entry.name
                info = self._regular_file(entry, relative, root, changes)
                if info is not None:
                    budget.add_note(info.st_size)
                    seen[relative] = info
        return seen

    def _regular_file(
        self, entry: os.DirEntry, relative: str, root: str, changes: Changes
    ) -> os.stat_result | None:
        """The stat of a note that can be read, or None after a warning (said once).

        A FIFO would block the read forever and a device never ends: only regular files
        pass, also through links, which must stay inside the folder.
        """
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            if target == root:
                self._warn(changes, relative, "is a link to the knowledge folder itself; skipped")
                return None
            if not target.startswith(root + os.sep):
                self._warn(changes, relative, "is a link to outside the knowledge folder; skipped")
                return None
        try:
            info = os.stat(entry.path)
        except FileNotFoundError:
            return None  # deleted since the listing, or a link to nothing
        except OSError as error:  # e.g. a loop of links
            self._warn(changes, relative, f"cannot be read ({error.strerror or error}); skipped")
            return None
        if not stat_module.S_ISREG(info.st_mode):
            kind = kind_of(info.st_mode)
            self._warn(changes, relative, f"is {kind}, not a regular file; skipped")
            return None
        return info

    def _read(self, relative: str, stat: os.stat_result, changes: Changes) -> FileState | None:
        """Read and chunk one file, or warn once and return None if it cannot be used."""
        limit = self.config.max_file_kb * 1024
        too_large = f"is larger than knowledge.max_file_kb={self.config.max_file_kb}; skipped"
        if stat.st_size > limit:
            self._warn(changes, relative, too_large)
            return None
        try:  # checked again on the opened file: it may have been replaced since the scan
            data = read_regular(self.folder / relative, limit)
        except FileTooLarge:
            self._warn(changes, relative, too_large)
            return None
        except NotRegularFile as error:
            self._warn(changes, relative, f"{error.strerror}; skipped")
            return None
        except OSError as error:
            self._warn(changes, relative, f"cannot be read ({error.strerror or error}); skipped")
            return None
        text = self._decode(relative, data, changes)
        if text is None:
            return None
        chunks = tuple(split_chunks(relative, text, self.config.chunk_chars))
        # The stat taken before reading is kept: if the file changed while being read, the
        # next refresh sees a newer mtime and reads it again.
        return FileState(stat.st_size, stat.st_mtime_ns, hashlib.sha256(data).hexdigest(), chunks)

    def _decode(self, relative: str, data: bytes, changes: Changes) -> str | None:
        """A note's text: UTF-8, or UTF-16/32 by its byte-order mark; None after a warning."""
        for mark, encoding in BYTE_ORDER_MARKS:
            if data.startswith(mark):
                try:
                    return data.decode(encoding)
                except UnicodeDecodeError:
                    continue  # e.g. UTF-16 text that begins with a NUL looks like UTF-32 at first
        if b"\0" in data[:8192]:
            self._warn(changes, relative, "looks binary; skipped")
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            if self.config.bad_utf8 == "skip":
                self._warn(
                    changes,
                    relative,
                    f"is not UTF-8 (byte {error.start}); skipped: save it as UTF-8"
                    " or set knowledge.bad_utf8: replace",
                )
                return None
            self._warn(
                changes,
                relative,
                f"is not UTF-8 (byte {error.start}); read with replacement characters",
            )
            return data.decode("utf-8-sig", errors="replace")

    def _warn(self, changes: Changes, relative: str, problem: str) -> None:
        """Say `problem` once per version of the file: not before every answer, nor every start."""
        try:
            stat = os.lstat(self.folder / relative)
            version = [stat.st_size, stat.st_mtime_ns, problem]
        except OSError:
            version = [None, None, problem]
        self._warned_now.add(relative)
        if self._warned.get(relative) != version:
            self._warned[relative] = version
            self.unsaved = True
            changes.warnings.append(f"warning: {self.folder / relative} {problem}")


def _file_state(relative: str, entry: Any) -> FileState:
    """One manifest entry, checked field by field: ValueError if any is missing or mistyped."""
    if not isinstance(entry, dict):
        raise ValueError(relative)
    size, mtime_ns, sha256, rows = (entry.get(k) for k in ("size", "mtime_ns", "sha256", "chunks"))
    if not (_whole(size) and _whole(mtime_ns)) or type(sha256) is not str or type(rows) is not list:
        raise ValueError(relative)
    chunks = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 4:
            raise ValueError(relative)
        line, end_line, text, title = row
        if not (
            _whole(line)
            and _whole(end_line)
            and 1 <= line <= end_line
            and isinstance(text, str)
            and isinstance(title, str)
        ):
            raise ValueError(relative)
        chunks.append(Chunk(relative, line, end_line, text, title))
    return FileState(size, mtime_ns, sha256, tuple(chunks))


def _whole(value: Any) -> bool:
    """A JSON whole number (not true/false, not 7.0, not "7")."""
    return type(value) is int


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


def open_knowledge(config: Config) -> Knowledge:
    """The configured knowledge folder, remembering what it knew in the state folder's manifest."""
    return Knowledge(
        config.paths.knowledge, config.knowledge, manifest=config.paths.state / MANIFEST_NAME
    )
