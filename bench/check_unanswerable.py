#!/usr/bin/env python3
"""Check the unanswerable entries of a tinychat question file against its knowledge folder.

    python3 bench/check_unanswerable.py QUESTIONS.yaml KNOWLEDGE_DIR

Counts answerable and unanswerable entries (by kind), and checks that every unanswerable
entry has `answerable: false`, `missing` in {fact, subject}, a `source` naming an existing
note for `missing: fact`, no `source` for `missing: subject`, and no answer fields.
For `missing: subject` it lists every word of 5+ letters of the question that also occurs
in the notes, with the notes it occurs in, for review by hand (a shared word is not an
error: some of these questions share ordinary words with the notes on purpose).

Exit status: 0 when no problem was found, 1 otherwise, 2 on bad arguments.
"""

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

KINDS = ("fact", "subject")
UNANSWERABLE_KEYS = {"q", "answerable", "missing", "source"}
ANSWER_KEYS = ("answer", "keywords", "line")
WORD = re.compile(r"[a-z]+")


def normalise(word):
    """Fold a simple plural so that 'bridges' in a question matches 'bridge' in a note."""
    if len(word) > 5 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def read_notes(folder):
    notes = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            notes[rel.as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    return notes


def word_index(notes):
    """normalised word -> sorted list of notes containing it."""
    index = {}
    for name, text in notes.items():
        for word in set(WORD.findall(text.lower())):
            index.setdefault(normalise(word), set()).add(name)
    return {word: sorted(names) for word, names in index.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path, help="questions YAML file")
    parser.add_argument("knowledge", type=Path, help="knowledge folder the questions are about")
    args = parser.parse_args(argv)

    if not args.questions.is_file():
        parser.error(f"no such questions file: {args.questions}")
    if not args.knowledge.is_dir():
        parser.error(f"no such knowledge folder: {args.knowledge}")

    notes = read_notes(args.knowledge)
    index = word_index(notes)
    entries = yaml.safe_load(args.questions.read_text(encoding="utf-8"))
    problems = []
    counts = Counter()
    review = []

    if not isinstance(entries, list):
        print(f"{args.questions}: expected a YAML list, got {type(entries).__name__}")
        return 1

    seen = {}
    for number, entry in enumerate(entries, 1):
        where = f"entry {number}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a mapping: {entry!r}")
            continue
        q = entry.get("q")
        if not isinstance(q, str) or not q.strip():
            problems.append(f"{where}: missing or empty 'q'")
            q = ""
        else:
            where = f"entry {number} ({q!r})"
            key = " ".join(q.lower().split()).rstrip("?").strip()
            if key in seen:
                problems.append(f"{where}: same question as entry {seen[key]}")
            seen.setdefault(key, number)

        unanswerable = "missing" in entry or entry.get("answerable", True) is not True
        if not unanswerable:
            counts["answerable"] += 1
            source = entry.get("source")
            if not isinstance(source, str) or source not in notes:
                problems.append(f"{where}: answerable entry whose source {source!r} is not a note")
            continue

        missing = entry.get("missing")
        counts[f"unanswerable, {missing}" if missing in KINDS else "unanswerable, ?"] += 1
        if entry.get("answerable") is not False:
            has = entry.get("answerable")
            problems.append(f"{where}: unanswerable entry needs 'answerable: false', has {has!r}")
        if missing not in KINDS:
            problems.append(
                f"{where}: 'missing' must be one of {', '.join(KINDS)}, has {missing!r}"
            )
        for field in ANSWER_KEYS:
            if field in entry:
                problems.append(f"{where}: unanswerable entry must not have '{field}'")
        for field in sorted(set(entry) - UNANSWERABLE_KEYS - set(ANSWER_KEYS)):
            problems.append(f"{where}: unexpected key '{field}'")

        if missing == "fact":
            source = entry.get("source")
            if not isinstance(source, str) or not source:
                problems.append(f"{where}: missing: fact needs a 'source'")
            elif source not in notes:
                problems.append(f"{where}: source {source!r} is not a note in {args.knowledge}")
        elif missing == "subject":
            if "source" in entry:
                problems.append(f"{where}: missing: subject must not have a 'source'")
            shared = []
            for word in dict.fromkeys(WORD.findall(q.lower())):
                if len(word) >= 5 and normalise(word) in index:
                    shared.append(f"{word} ({', '.join(index[normalise(word)])})")
            if shared:
                review.append(f"  {q}\n      " + "\n      ".join(shared))

    total = sum(counts.values())
    print(f"{args.questions} over {args.knowledge} ({len(notes)} notes)")
    for label in ("answerable", "unanswerable, fact", "unanswerable, subject", "unanswerable, ?"):
        if counts[label] or label != "unanswerable, ?":
            print(f"  {label + ':':24}{counts[label]:4}")
    print(f"  {'total:':24}{total:4}")
    subject_total = counts["unanswerable, subject"]
    print(
        f"missing: subject questions sharing a 5+ letter word with the notes: "
        f"{len(review)} of {subject_total} (review by hand)"
    )
    for item in review:
        print(item)
    if problems:
        print(f"PROBLEMS ({len(problems)}):")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print("problems: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
