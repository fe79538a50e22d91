"""The knowledge folder's notes as chunks with line numbers, kept current as files change.

`Knowledge` holds the state: what each file was (size, mtime, hash, chunks), which warnings
were given, what changed since the last refresh. The work is done by pure parts elsewhere:
`scan` finds the notes and decodes them, `sentences` cuts them into chunks, `manifest` turns
what is known into JSON and back, so a restart reads only files whose size or modification
time changed. `refresh()` reports what was added, changed and removed, so a caller can
re-index before an answer. The folder is only ever read.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from tinychat.atomic import atomic_write
from tinychat.config import Config, KnowledgeConfig
from tinychat.errors import TinychatError
from tinychat.files import FileTooLarge, NotRegularFile, OutsideFolder, read_regular
from tinychat.manifest import (
    MANIFEST_NAME,
    FileState,
    Warned,
    format_manifest,
    manifest_header,
    manifest_limit,
    parse_manifest,
)
from tinychat.scan import decode_note, scan_folder
from tinychat.sentences import Chunk, split_chunks


def hash_text(text: str) -> bytes:
    """UTF-8 bytes to hash, for any str: a file name that is not UTF-8 holds surrogates
    (os.fsdecode), which plain .encode() refuses; valid text encodes as usual."""
    return text.encode("utf-8", "surrogatepass")


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
        self._warned: Warned = {}
        self._warned_now: set[str] = set()  # paths warned about (again) by the refresh under way
        self._root = os.path.realpath(self.folder)  # where every note read must lie
        # read at the first refresh, once the scan has found how large a manifest could be
        self._manifest_unread = manifest is not None

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
        """Bring `files` up to date with the folder; read only what changed on disk.

        Raises KnowledgeTooLarge as soon as the folder is past its budget.
        """
        if not self.folder.is_dir():
            raise no_folder(self.folder)
        changes = Changes()
        self._warned_now = set()
        self._root = os.path.realpath(self.folder)  # where every note read must lie
        found: list[tuple[str, str]] = []  # the scan's warnings, said once the manifest is read
        seen = scan_folder(self.folder, self.config, lambda *warning: found.append(warning))
        if self._manifest_unread:  # it says which warnings were given before
            self._manifest_unread = False
            sizes = [stat.st_size for stat in seen.values()]
            self._load_manifest(manifest_limit(sizes, len(seen) + len(found)), changes)
        for relative, problem in found:
            self._warn(changes, relative, problem)
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

    def _read(self, relative: str, stat: os.stat_result, changes: Changes) -> FileState | None:
        """Read and chunk one file, or warn once and return None if it cannot be used."""
        limit = self.config.max_file_kb * 1024
        too_large = f"is larger than knowledge.max_file_kb={self.config.max_file_kb}; skipped"
        if stat.st_size > limit:
            self._warn(changes, relative, too_large)
            return None
        try:  # checked again on the opened file: it may have been replaced since the scan
            data = read_regular(self.folder / relative, limit, inside=self._root)
        except FileTooLarge:
            self._warn(changes, relative, too_large)
            return None
        except OutsideFolder:
            self._warn(changes, relative, "is a link to outside the knowledge folder; skipped")
            return None
        except NotRegularFile as error:
            self._warn(changes, relative, f"{error.strerror}; skipped")
            return None
        except (FileNotFoundError, NotADirectoryError):
            return None  # deleted since the scan (its folder too, maybe): simply not there
        except OSError as error:
            self._warn(changes, relative, f"cannot be read ({error.strerror or error}); skipped")
            return None
        text, problem = decode_note(data, self.config.bad_utf8)
        if problem is not None:
            self._warn(changes, relative, problem)
        if text is None:
            return None
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

    # ------------------------------------------------------------------------ the manifest

    def _load_manifest(self, limit: int, changes: Changes) -> None:
        """Take what the manifest knows if it was made for this folder and every field checks
        out; a missing, damaged or foreign one is ignored whole, and rewritten after. One past
        `limit` bytes is not read at all, and said."""
        assert self.manifest is not None
        try:
            data = read_regular(self.manifest, limit)
        except FileTooLarge:
            changes.warnings.append(
                f"note: {self.manifest} is larger than the notes found could make"
                f" ({limit:,} bytes); it is ignored, and the notes are read again"
            )
            return
        except OSError:
            return
        known = parse_manifest(data, self._manifest_header())
        if known is not None:
            self.files, self._warned = known

    def save_manifest(self) -> None:
        """Write the manifest if anything changed since it was last written.

        Called after a full re-index and when a session closes, not after every edit: at
        10,000 files it is megabytes of JSON, and a stale one is safe (files whose size or
        time differ from it are simply read again).
        """
        if self.manifest is None or not self.unsaved:
            return
        text = format_manifest(self._manifest_header(), self.files, self._warned)
        sizes = [state.size for state in self.files.values()]
        if len(text) > manifest_limit(sizes, len(self.files) + len(self._warned)):
            return  # past what a reader would take: the notes are read at each start instead
        try:
            atomic_write(self.manifest, text.encode("utf-8"), "knowledge manifest")
            self.unsaved = False
        except TinychatError:
            pass  # the manifest only saves time; a read-only state folder must not stop the chat

    def _manifest_header(self) -> dict:
        return manifest_header(self.folder, self.config.chunk_chars)


def no_folder(folder: Path) -> TinychatError:
    """The one line for a knowledge folder that is not there, or is a file."""
    if os.path.exists(folder):
        return TinychatError(
            f"{folder}: is a file, not a folder; pass --knowledge DIR, a folder of notes"
        )
    return TinychatError(f"{folder}: knowledge folder not found; create it or pass --knowledge DIR")


def open_knowledge(config: Config) -> Knowledge:
    """The configured knowledge folder, remembering what it knew in the state folder's manifest."""
    return Knowledge(
        config.paths.knowledge, config.knowledge, manifest=config.paths.state / MANIFEST_NAME
    )
