"""The knowledge folder: scan it, read its files safely, cut them into chunks with line numbers.

A chunk is a sentence (or a piece of a long one), the unit the retriever ranks and the model
copies answers from. Each chunk keeps its file and the 1-based lines it spans, so every
answer can cite exactly where it came from. The folder is only ever read.

`Knowledge.refresh()` re-reads only files whose size or modification time changed and
reports what was added, changed and removed, so a caller can re-index before an answer.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tinychat.atomic import atomic_write
from tinychat.config import Config, KnowledgeConfig
from tinychat.errors import TinychatError
from tinychat.vocab import normalize

MANIFEST_NAME = "manifest.json"  # in the state folder
MANIFEST_VERSION = 2
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")  # a sentence may end at . ! ? followed by space
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as editors and `grep -n` count lines (not \f, \v, U+2028 ...)
# Words that end in a full stop without ending the sentence. Titles and "No." come before a name or a
# number, so they never end one; the others do only when the next word starts a sentence (a capital).
NEVER_ENDS = frozenset("dr mr mrs ms st prof no nos mt rev sgt capt gen col lt fr jr sr vs e.g i.e cf".split())
ENDS_BEFORE_CAPITAL = frozenset("a.m p.m etc approx inc ltd co ave rd dept est fig ca min max".split())
MARKDOWN_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
LABEL = re.compile(r"^[A-Za-z][\w'&/ -]{0,30}: \S")  # "Front gate: 2290", a labelled value
SHORT_LINE = 50  # hard-wrapped prose fills its lines; a line shorter than this may be an item of its own
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
# Counting a sentence's first words twice measured line hit@1 0.77 -> 0.81 on the invented set and
# 0.79 -> 0.89 on the bundled one (2 words: 0.80 / 0.88; 4: 0.79 / 0.84).
SUBJECT_WORDS = 3
PATH_WORD_BREAK = re.compile(r"[/_\-.\s]+")


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
        return " ".join(part for part in (subject_of(self.path), self.title, opening, self.text) if part)


@functools.lru_cache(maxsize=1 << 16)  # asked once per chunk, the same answer for every chunk of a file
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
        parts = [f"{len(names)} {verb}" for names, verb in
                 ((self.added, "added"), (self.changed, "changed"), (self.removed, "removed")) if names]  # fmt: skip
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
                    chunks.append(Chunk(path, line_of[first], line_of[last - 1], joined[first:last], title))
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
    if LABEL.match(text) and LABEL.match(after):  # "Alarm: 4000 then OFF (...)" / "Allotment gate: 7733"
        return True
    return (len(text) < SHORT_LINE and not text.endswith((".", "!", "?", ",", ";", "-", "and", "or", "of", "the"))
            and bool(after) and (after[0].isupper() or after[0].isdigit()))


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
            digest.update(f"{path}\0{self.files[path].sha256}\n".encode())
        return digest.hexdigest()

    def refresh(self) -> Changes:
        """Bring `files` up to date with the folder; read only what changed on disk."""
        if not self.folder.is_dir():
            raise TinychatError(f"{self.folder}: knowledge folder not found; create it or pass --knowledge DIR")
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
        return {"version": MANIFEST_VERSION, "folder": str(self.folder.resolve()), "chunk_chars": self.config.chunk_chars}

    def _load_manifest(self, path: Path) -> None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if {key: data.get(key) for key in self._manifest_header()} != self._manifest_header():
                return
            self.files = {
                relative: FileState(entry["size"], entry["mtime_ns"], entry["sha256"],
                                    tuple(Chunk(relative, *fields) for fields in entry["chunks"]))
                for relative, entry in data["files"].items()
            }  # fmt: skip
            self._warned = {path: list(version) for path, version in data.get("warned", {}).items()}
        except (OSError, ValueError, KeyError, TypeError):
            self.files = {}  # a missing or damaged manifest only means reading every file again

    def save_manifest(self) -> None:
        """Write the manifest if anything changed since it was last written.

        Called after a full re-index and when a session closes, not after every edit: at
        10,000 files it is megabytes of JSON, and a stale one is safe (files whose size or
        time differ from it are simply read again).
        """
        if self.manifest is None or not self.unsaved:
            return
        files = {
            relative: {"size": state.size, "mtime_ns": state.mtime_ns, "sha256": state.sha256,
                       "chunks": [[c.line, c.end_line, c.text, c.title] for c in state.chunks]}
            for relative, state in sorted(self.files.items())
        }  # fmt: skip
        text = json.dumps({**self._manifest_header(), "files": files, "warned": self._warned})
        try:
            atomic_write(self.manifest, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"), "knowledge manifest")
            self.unsaved = False
        except TinychatError:
            pass  # the manifest only saves time; a read-only state folder must not stop the chat

    def _scan(self, changes: Changes) -> dict[str, os.stat_result]:
        """Every readable knowledge file's relative path and stat. os.scandir, not pathlib:
        at 10,000 files pathlib's object overhead cost more than the stat calls themselves."""
        root = os.path.realpath(self.folder)
        seen: dict[str, os.stat_result] = {}
        pending = [("", str(self.folder))]
        while pending:
            prefix, directory = pending.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue  # vanished or unreadable while we looked: it is simply not there
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        pending.append((f"{prefix}{entry.name}/", entry.path))
                    continue
                if is_ignored(entry.name) or not entry.name.lower().endswith(self.config.extensions):
                    continue
                relative = prefix + entry.name
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if not target.startswith(root + os.sep):
                        self._warn(changes, relative, "is a link to outside the knowledge folder; skipped")
                        continue
                try:
                    seen[relative] = os.stat(entry.path)
                except OSError:
                    continue
        return seen

    def _read(self, relative: str, stat: os.stat_result, changes: Changes) -> FileState | None:
        """Read and chunk one file, or warn once and return None if it cannot be used."""
        if stat.st_size > self.config.max_file_kb * 1024:
            self._warn(changes, relative, f"is larger than knowledge.max_file_kb={self.config.max_file_kb}; skipped")
            return None
        try:
            data = (self.folder / relative).read_bytes()
        except OSError as error:
            self._warn(changes, relative, f"cannot be read ({error.strerror or error}); skipped")
            return None
        if b"\0" in data[:8192]:
            self._warn(changes, relative, "looks binary; skipped")
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            if self.config.bad_utf8 == "skip":
                self._warn(changes, relative, f"is not UTF-8 (byte {error.start}); skipped: save it as UTF-8"
                                              " or set knowledge.bad_utf8: replace")  # fmt: skip
                return None
            self._warn(changes, relative, f"is not UTF-8 (byte {error.start}); read with replacement characters")
            text = data.decode("utf-8-sig", errors="replace")
        chunks = tuple(split_chunks(relative, text, self.config.chunk_chars))
        # The stat taken before reading is kept: if the file changed while being read, the
        # next refresh sees a newer mtime and reads it again.
        return FileState(stat.st_size, stat.st_mtime_ns, hashlib.sha256(data).hexdigest(), chunks)

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


def open_knowledge(config: Config) -> Knowledge:
    """The configured knowledge folder, remembering what it knew in the state folder's manifest."""
    return Knowledge(config.paths.knowledge, config.knowledge, manifest=config.paths.state / MANIFEST_NAME)
