"""The manifest: what a scan learned of each note, kept in the state folder between runs.

With it a restart reads only the files whose size or modification time changed. It is JSON:

    {"version", "folder", "chunk_chars",
     "files": {path: {"size", "mtime_ns", "sha256",
               "chunks": [[line, end_line, text, title, lead_in]]}},
     "warned": {path: [size, mtime_ns, problem]}}

One made for another version, folder or chunk size is ignored, and so is a damaged one
(a FIFO, null, a list, a line that is a string, more bytes than the notes found could make):
it only means reading every file again.
Reading and writing the file is `Knowledge`'s; this module turns it into values and back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from tinychat.sentences import Chunk

MANIFEST_NAME = "manifest.json"  # in the state folder
# 4: the note's own characters ("Inês"); 5: no zero-width characters; 6: lead-ins kept apart
MANIFEST_VERSION = 6
# What a manifest takes at most: per byte of the notes it describes (their sentences, titles and
# JSON escapes) and per file (its path, hash, size and time), several times what was measured
# (README), so only damage is refused.
MANIFEST_PER_NOTE_BYTE, MANIFEST_PER_FILE, MANIFEST_SLACK = 16, 1024, 64 << 10

Warned = dict[str, list]  # {path: [size, mtime_ns, problem]}: which warning, for which version


@dataclass(frozen=True)
class FileState:
    """What the scan knows of one file; size and mtime decide whether it must be read again."""

    size: int
    mtime_ns: int
    sha256: str
    chunks: tuple[Chunk, ...]


def manifest_header(folder: Path, chunk_chars: int) -> dict[str, Any]:
    """The fields a manifest must match to be used."""
    return {
        "version": MANIFEST_VERSION,
        "folder": str(folder.resolve()),
        "chunk_chars": chunk_chars,
    }


def manifest_limit(sizes: Iterable[int], files: int) -> int:
    """The largest manifest worth reading for notes of these `sizes`, among `files` files found
    (notes and those warned about): what the notes actually found could make, not what the
    folder's budget would allow, so a damaged one costs what the notes do."""
    return MANIFEST_SLACK + MANIFEST_PER_FILE * files + MANIFEST_PER_NOTE_BYTE * sum(sizes)


def parse_manifest(
    data: bytes, header: dict[str, Any]
) -> tuple[dict[str, FileState], Warned] | None:
    """(files, warnings given) from a manifest's bytes, or None unless it was made with `header`
    and every field checks out."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
    if not isinstance(manifest, dict) or any(manifest.get(key) != header[key] for key in header):
        return None
    try:
        files = {name: _file_state(name, entry) for name, entry in manifest["files"].items()}
        warned = {
            name: list(version)
            for name, version in manifest.get("warned", {}).items()
            if isinstance(name, str) and isinstance(version, list)
        }
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return files, warned


def format_manifest(header: dict[str, Any], files: dict[str, FileState], warned: Warned) -> str:
    """The manifest's text: `header`, then every file's state and the warnings given."""
    entries = {
        relative: {
            "size": state.size,
            "mtime_ns": state.mtime_ns,
            "sha256": state.sha256,
            "chunks": [[c.line, c.end_line, c.text, c.title, c.lead_in] for c in state.chunks],
        }
        for relative, state in sorted(files.items())
    }
    return json.dumps({**header, "files": entries, "warned": warned})


def _file_state(relative: str, entry: Any) -> FileState:
    """One manifest entry, checked field by field: ValueError if any is missing or mistyped."""
    if not isinstance(entry, dict):
        raise ValueError(relative)
    size, mtime_ns, sha256, rows = (entry.get(k) for k in ("size", "mtime_ns", "sha256", "chunks"))
    if not (_whole(size) and _whole(mtime_ns)) or type(sha256) is not str or type(rows) is not list:
        raise ValueError(relative)
    chunks = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 5:
            raise ValueError(relative)
        line, end_line, text, title, lead_in = row
        if not (
            _whole(line)
            and _whole(end_line)
            and 1 <= line <= end_line
            and isinstance(text, str)
            and isinstance(title, str)
            and isinstance(lead_in, str)
        ):
            raise ValueError(relative)
        chunks.append(Chunk(relative, line, end_line, text, title, lead_in))
    return FileState(size, mtime_ns, sha256, tuple(chunks))


def _whole(value: Any) -> bool:
    """A JSON whole number (not true/false, not 7.0, not "7")."""
    return type(value) is int
