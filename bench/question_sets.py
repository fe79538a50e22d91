"""What the question-set checkers share: the walk over a notes folder, a note's lines, a YAML list,
the word split and the paraphrase rule.

Imported by bench/check_unanswerable.py, bench/holdout/check.py and bench/natural/check.py,
which read question files and notes and never the program under test; like them, this module
needs only python3 and pyyaml (no tinychat, no numpy).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

import yaml

WORD = re.compile(r"[a-z]+")
CONTENT_WORD_LETTERS = 4  # shorter words never count as shared content


def note_paths(folder: str) -> Iterator[tuple[str, str]]:
    """(path relative to folder with '/' separators, full path) of every file below folder,
    in os.walk order."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            full = os.path.join(root, name)
            yield os.path.relpath(full, folder).replace(os.sep, "/"), full


def note_lines(text: str) -> list[str]:
    """A note's lines, without the empty one after a final newline: line n is [n - 1]."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def load_yaml_list(path: str, not_a_list: str) -> tuple[list, list[str]]:
    """The entries of the YAML file at path, and the problem `not_a_list` when the file does
    not hold a list (then there are no entries)."""
    with open(path, encoding="utf-8") as fh:
        entries = yaml.safe_load(fh)
    if not isinstance(entries, list):
        return [], [not_a_list]
    return entries, []


def words(text: str, min_letters: int = 1) -> list[str]:
    """The lower-case runs of a-z in text that have at least min_letters letters, in order."""
    return [word for word in WORD.findall(text.lower()) if len(word) >= min_letters]


def shared_content_words(
    question: str, sentences: Iterable[str], stop: Iterable[str], ignore: Iterable[str] = ()
) -> list[str]:
    """The content words of a question that also occur in any of its answering sentences,
    sorted: words of 4+ letters, leaving out the function words in `stop` and the subject's
    own names in `ignore` (a question has to name its subject somehow). A question marked
    paraphrased should share none."""
    skipped = set(stop) | set(ignore)
    asked = {word for word in words(question, CONTENT_WORD_LETTERS) if word not in skipped}
    answered = set()
    for sentence in sentences:
        answered.update(words(sentence, CONTENT_WORD_LETTERS))
    return sorted(asked & answered)
