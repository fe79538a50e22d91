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
import sys
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root, for bench.*

from bench.question_sets import words

KINDS = ("fact", "subject")
UNANSWERABLE_KEYS = {"q", "answerable", "missing", "source"}
ANSWER_KEYS = ("answer", "keywords", "line")
COUNT_LABELS = ("answerable", "unanswerable, fact", "unanswerable, subject", "unanswerable, ?")


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
        for word in set(words(text)):
            index.setdefault(normalise(word), set()).add(name)
    return {word: sorted(names) for word, names in index.items()}


# ---------------------------------------------------------------- checks of one entry
def check_question(number, entry, seen):
    """The entry's label for messages, its question ('' when it has none) and the problems of
    the question itself; `seen` maps each question asked so far to its entry number."""
    q = entry.get("q")
    if not isinstance(q, str) or not q.strip():
        return f"entry {number}", "", [f"entry {number}: missing or empty 'q'"]
    where = f"entry {number} ({q!r})"
    key = " ".join(q.lower().split()).rstrip("?").strip()
    problems = [f"{where}: same question as entry {seen[key]}"] if key in seen else []
    seen.setdefault(key, number)
    return where, q, problems


def is_unanswerable(entry):
    return "missing" in entry or entry.get("answerable", True) is not True


def check_answerable_source(where, entry, notes):
    source = entry.get("source")
    if not isinstance(source, str) or source not in notes:
        return [f"{where}: answerable entry whose source {source!r} is not a note"]
    return []


def check_unanswerable_keys(where, entry):
    """An unanswerable entry says `answerable: false` and what is missing, and has no answer."""
    problems = []
    if entry.get("answerable") is not False:
        has = entry.get("answerable")
        problems.append(f"{where}: unanswerable entry needs 'answerable: false', has {has!r}")
    missing = entry.get("missing")
    if missing not in KINDS:
        problems.append(f"{where}: 'missing' must be one of {', '.join(KINDS)}, has {missing!r}")
    for field in ANSWER_KEYS:
        if field in entry:
            problems.append(f"{where}: unanswerable entry must not have '{field}'")
    for field in sorted(set(entry) - UNANSWERABLE_KEYS - set(ANSWER_KEYS)):
        problems.append(f"{where}: unexpected key '{field}'")
    return problems


def check_missing_fact(where, entry, notes, knowledge):
    """A missing fact is about a subject the notes have: its `source` names that note."""
    source = entry.get("source")
    if not isinstance(source, str) or not source:
        return [f"{where}: missing: fact needs a 'source'"]
    if source not in notes:
        return [f"{where}: source {source!r} is not a note in {knowledge}"]
    return []


def words_shared_with_notes(q, index):
    """'word (note, note)' for each word of 5+ letters of q that also occurs in the notes."""
    return [
        f"{word} ({', '.join(index[normalise(word)])})"
        for word in dict.fromkeys(words(q, 5))
        if normalise(word) in index
    ]


# ---------------------------------------------------------------- the whole file
def check_entries(entries, notes, index, knowledge):
    """Problems found, entries counted by kind, and the missing-subject questions to review."""
    problems, counts, review, seen = [], Counter(), [], {}
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            problems.append(f"entry {number}: not a mapping: {entry!r}")
            continue
        where, q, found = check_question(number, entry, seen)
        problems += found
        if not is_unanswerable(entry):
            counts["answerable"] += 1
            problems += check_answerable_source(where, entry, notes)
            continue
        missing = entry.get("missing")
        counts[f"unanswerable, {missing}" if missing in KINDS else "unanswerable, ?"] += 1
        problems += check_unanswerable_keys(where, entry)
        if missing == "fact":
            problems += check_missing_fact(where, entry, notes, knowledge)
        elif missing == "subject":
            if "source" in entry:
                problems.append(f"{where}: missing: subject must not have a 'source'")
            shared = words_shared_with_notes(q, index)
            if shared:
                review.append(f"  {q}\n      " + "\n      ".join(shared))
    return problems, counts, review


def print_counts(args, notes, counts, review):
    print(f"{args.questions} over {args.knowledge} ({len(notes)} notes)")
    for label in COUNT_LABELS:
        if counts[label] or label != "unanswerable, ?":
            print(f"  {label + ':':24}{counts[label]:4}")
    print(f"  {'total:':24}{sum(counts.values()):4}")
    subject_total = counts["unanswerable, subject"]
    print(
        f"missing: subject questions sharing a 5+ letter word with the notes: "
        f"{len(review)} of {subject_total} (review by hand)"
    )
    for item in review:
        print(item)


def print_problems(problems):
    """Print the verdict; the exit status: 1 when a problem was found, else 0."""
    if problems:
        print(f"PROBLEMS ({len(problems)}):")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print("problems: none")
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", type=Path, help="questions YAML file")
    parser.add_argument("knowledge", type=Path, help="knowledge folder the questions are about")
    args = parser.parse_args(argv)
    if not args.questions.is_file():
        parser.error(f"no such questions file: {args.questions}")
    if not args.knowledge.is_dir():
        parser.error(f"no such knowledge folder: {args.knowledge}")
    return args


def main(argv=None):
    args = parse_args(argv)
    notes = read_notes(args.knowledge)
    index = word_index(notes)
    entries = yaml.safe_load(args.questions.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        print(f"{args.questions}: expected a YAML list, got {type(entries).__name__}")
        return 1
    problems, counts, review = check_entries(entries, notes, index, args.knowledge)
    print_counts(args, notes, counts, review)
    return print_problems(problems)


if __name__ == "__main__":
    sys.exit(main())
