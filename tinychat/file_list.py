"""`/files [WORD]`: the notes indexed, each with its chunk count and whether it changed since the
model was trained; with a word, only the notes whose name or heading holds it.

"Changed since training" compares each file's content hash with the ones the checkpoint
records it was trained on (`TrainingRecord.manifest`), as the toolbar's count does.
"""

from __future__ import annotations

from tinychat.knowledge import Knowledge
from tinychat.terminal import printable_line

MAX_NAME_COLUMN = 40  # a longer path pushes its own row's counts right; the others stay aligned


def _status(path: str, sha256: str, trained_on: dict[str, str] | None) -> str:
    if trained_on is None:
        return ""
    if path not in trained_on:
        return "new since training"
    return "" if trained_on[path] == sha256 else "changed since training"


def _matching_headings(knowledge: Knowledge, path: str, word: str) -> list[str]:
    titles = dict.fromkeys(chunk.title for chunk in knowledge.files[path].chunks if chunk.title)
    return [title for title in titles if word in title.lower()]


def file_rows(
    knowledge: Knowledge, trained: bool, trained_on: dict[str, str] | None, word: str = ""
) -> list[str]:
    """One row per note (path, chunk count, changed since training), then a summary line.

    `trained` says whether there is a model; `trained_on` is what it was trained on, {path:
    sha256}, or None when its checkpoint does not record it. With `word`, only the notes whose
    path or a heading holds it (ignoring case), each with the headings that do.
    """
    word = word.lower()
    rows: list[tuple[str, str, str]] = []
    for path, state in sorted(knowledge.files.items()):
        headings = _matching_headings(knowledge, path, word) if word else []
        if word and word not in path.lower() and not headings:
            continue
        count = len(state.chunks)
        notes = [f"{count} chunk{'s' * (count != 1)}", _status(path, state.sha256, trained_on)]
        notes += [f"heading: {heading}" for heading in headings]
        rows.append((printable_line(path), "  ".join(note for note in notes if note), path))
    width = min(MAX_NAME_COLUMN, max((len(name) for name, _, _ in rows), default=0))
    lines = [f"  {name:<{width}}  {notes}" for name, notes, _ in rows]
    return lines + [_summary(knowledge, trained, trained_on, word, len(rows))]


def _summary(
    knowledge: Knowledge, trained: bool, trained_on: dict[str, str] | None, word: str, shown: int
) -> str:
    files, chunks = len(knowledge.files), len(knowledge.chunks)
    if word:
        if not shown:
            return f"no note's name or heading holds {word!r}; /files lists them all"
        return f"{word!r} is in the name or a heading of {shown} of the {files} files"
    total = f"{files} file{'s' * (files != 1)}, {chunks} chunk{'s' * (chunks != 1)} (sentences)"
    if not trained:
        return f"{total}; no trained model yet"
    if trained_on is None:
        return f"{total}; the model does not record which versions it was trained on"
    changed = knowledge.changed_since(trained_on)
    if not changed:
        return f"{total}; the model was trained on them as they are"
    removed = len(set(trained_on) - set(knowledge.files))
    gone = f", {removed} of them removed" if removed else ""
    return f"{total}; {changed} changed since training{gone}: /retrain"
