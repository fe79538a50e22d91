#!/usr/bin/env python3
"""Validate the "natural" evaluation set (notes + questions + conversations).

Usage:
    python3 check.py            # run all checks, print counts, exit 1 on errors
    python3 check.py --units    # also print every sentence unit of every note
    python3 check.py --overlaps # also print reviewed word overlaps of
                                # missing-subject questions

Only python3 + pyyaml are needed.  The script never looks at the program
under test; it only reads the files next to it (and imports the helpers the
question-set checkers share, bench/question_sets.py).
"""

import os
import re
import sys
from dataclasses import dataclass, field

# the repo root, for the helpers the question-set checkers share
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bench.question_sets import (
    load_yaml_list,
    note_lines,
    note_paths,
    shared_content_words,
    words,
)

HERE = os.path.dirname(os.path.abspath(__file__))
KNOW = os.path.join(HERE, "knowledge")

# Words that name the subject(s) of each note.  They are ignored when checking
# that a paraphrased question shares no content word with its answer sentence
# (a question has to name its subject somehow), and are used to check that
# follow-up turns do NOT name their subject while switch turns DO.
SUBJECT_WORDS = {
    "spindle.txt": ["corran", "spindle"],
    "clock.txt": ["hallowby", "corn", "exchange", "clock"],
    "bridge.txt": ["ambry", "footbridge", "bridge"],
    "lighthouses/gannet head.txt": ["gannet", "head", "lighthouse"],
    "lighthouses/the skerry light.txt": ["colm", "skerry", "lighthouse", "light"],
    "ferries/vessholm ferry.txt": ["vessholm", "ferry"],
    "ferries/tarrick ferry.txt": ["tarrick", "ferry"],
    "Notes on tea.md": ["halden", "gold", "tea"],
    "tea/brennock.txt": ["brennock", "smoke", "tea"],
    "choirs/larkfield singers.txt": ["larkfield", "singers", "choir"],
    "choirs/millrace.txt": ["millrace", "choir"],
    "walks/heron loop.txt": ["heron", "loop", "walk"],
    "walks/quarry walk.txt": ["quarry", "walk"],
    "house/house manual.md": [
        "house",
        "manual",
        "linnet",
        "close",
        "wifi",
        "bins",
        "bin",
        "boiler",
    ],
    "car.txt": ["car", "arden", "vela"],
    "vet.txt": ["vet", "vets", "pickle", "cat"],
    "dentist.txt": ["dentist", "dentists"],
    "recipes/flapjack.md": ["gran", "flapjack"],
    "recipes/lentil soup.txt": ["lentil", "soup"],
    "neighbours.txt": ["neighbours", "neighbour", "joan", "peter", "ashby", "desai"],
    "codes.txt": [
        "code",
        "codes",
        "front",
        "gate",
        "bike",
        "shed",
        "padlock",
        "alarm",
        "allotment",
        "work",
        "building",
    ],
    "opening times.md": [
        "library",
        "swimming",
        "pool",
        "post",
        "office",
        "recycling",
        "centre",
        "pharmacy",
        "millbeck",
        "oswick",
        "leisure",
    ],
    "misc.txt": ["window", "cleaner", "piano", "library", "card", "smoke", "alarm"],
    "2024-03 trip.md": ["trip", "march", "porthrey"],
    "allotment.md": ["allotment", "plot"],
    "hens.txt": ["hens", "hen", "chickens"],
    "boat.txt": ["tern", "boat", "dinghy"],
    "organ.txt": ["organ", "anne"],
    "market.txt": ["brackwater", "market"],
    "museum.txt": ["fennick", "museum", "oswick"],
    "history/derrow mill.txt": ["derrow", "mill"],
    "festival.txt": ["oswick", "lantern", "festival"],
    "bike.txt": ["bike"],
    "work/printer.txt": ["office", "printer"],
    "work/meeting 2024-05-14.md": ["meeting", "team"],
    "game rules.md": ["rook", "reed", "game", "rules"],
    "garden/apple tree.txt": ["apple", "tree"],
}

# Function words of 4+ letters; they do not count as content words.
STOP = set(
    """
what when where which while whose whom does doing done have having with that
this these those there their theirs they them then than from into onto upon
about would could should will shall were been being your yours ours some
much many more most very each only also just here other both same such again
ever even isn't don't doesn't can't it's what's where's who's that's whats
""".split()
)

# Words of 5+ letters in missing-subject questions that also occur somewhere
# in the notes, reviewed by hand: they are ordinary words, not the subject of
# the question, so sharing them is intended (it keeps those questions from
# being trivially unrelated).
ALLOWED_SHARED = {
    # ordinary words; the question's real subject is absent from the notes
    "house",  # council tax band
    "number",
    "phone",  # a plumber
    "reset",  # a dishwasher
    "password",  # a streaming account
    "ferry",
    "leave",  # the (non-existent) Kelby ferry
    "lighthouse",
    "visitors",  # the (non-existent) Orvington lighthouse
    "pressure",  # a caravan's tyres
    "centre",  # a hedgehog rescue centre
    "choir",
    "rehearse",  # the (non-existent) Glenmoor choir
    "water",  # boiling point
    "close",  # a fish and chip shop
}

ABBREV = {"dr", "mr", "mrs", "ms", "st", "no", "e.g", "i.e", "mt", "vs"}
WRAP_MIN = 60  # a plain line this long without end punctuation is wrapped

BACK_REFERENCE = re.compile(
    r"\b(it|its|it's|they|them|their|there|that|those|"
    r"this|these|she|her|he|him|his|one)\b|^(and|what about|"
    r"how about)\b"
)


# ---- files -------------------------------------------------------------
def load_notes():
    """The .txt and .md notes as lists of lines, and the problems of those not in UTF-8."""
    notes, problems = {}, []
    for rel, full in note_paths(KNOW):
        if not (rel.endswith(".txt") or rel.endswith(".md")):
            continue
        with open(full, "rb") as fh:
            raw = fh.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{rel}: not UTF-8")
            continue
        notes[rel] = note_lines(text)
    return notes, problems


def load_list(name):
    """The entries of the YAML list `name` next to this script, and the problem if it is none."""
    return load_yaml_list(os.path.join(HERE, name), f"{name} must be a YAML list")


# ---- sentence units ----------------------------------------------------
def split_sentences(text):
    """Return list of (start, end) character spans of sentences in text."""
    spans = []
    start = 0
    for m in re.finditer(r"[.!?](?=\s+[A-Z0-9\"'(£])", text):
        before = text[start : m.start()].split()
        last = before[-1].lower() if before else ""
        if last.strip("(") in ABBREV:
            continue
        spans.append((start, m.end()))
        start = m.end()
        while start < len(text) and text[start] == " ":
            start += 1
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def note_units(lines):
    """Sentence units of a note: list of dicts with first/last line and text.

    Markdown headings are not units; each bullet is a block; plain lines are
    joined into a block when the previous line looks hard-wrapped.
    """
    blocks = []  # each block: list of (lineno, text)
    cur = []
    prev_plain = None
    for i, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith("#"):
            if cur:
                blocks.append(cur)
            cur, prev_plain = [], None
            continue
        if re.match(r"^[-*]\s+", s):
            if cur:
                blocks.append(cur)
            blocks.append([(i, re.sub(r"^[-*]\s+", "", s))])
            cur, prev_plain = [], None
            continue
        wrapped = (
            prev_plain is not None
            and len(prev_plain) >= WRAP_MIN
            and not re.search(r"[.!?:]$", prev_plain)
        )
        if cur and not wrapped:
            blocks.append(cur)
            cur = []
        cur.append((i, s))
        prev_plain = s
    if cur:
        blocks.append(cur)

    units = []
    for block in blocks:
        text = ""
        owner = []  # line number of each character
        for ln, s in block:
            if text:
                text += " "
                owner.append(ln)
            text += s
            owner.extend([ln] * len(s))
        for a, b in split_sentences(text):
            units.append({"first": owner[a], "last": owner[b - 1], "text": text[a:b]})
    return units


def has_kw(text, kw):
    """Keyword occurs in text, case-insensitive, not inside a longer word or
    number ("4" does not match "14")."""
    pat = r"(?<![a-z0-9])" + re.escape(str(kw).lower()) + r"(?![a-z0-9])"
    return re.search(pat, text.lower()) is not None


# ---- one answerable question or turn -----------------------------------
def reference_problem(entry, where, notes):
    """What stops an answerable entry from pointing at a line of a note, or None."""
    for field_name in ("q", "source", "line", "answer", "keywords"):
        if field_name not in entry:
            return f"{where}: missing field '{field_name}'"
    src, line, kws = entry["source"], entry["line"], entry["keywords"]
    if src not in notes:
        return f"{where}: source '{src}' not found"
    lines = notes[src]
    if not isinstance(line, int) or not 1 <= line <= len(lines):
        return f"{where}: line {line} does not exist in {src}"
    if not kws or not isinstance(kws, list):
        return f"{where}: keywords must be a non-empty list"
    return None


def keyword_problems(entry, where, lines):
    """Keywords on the entry's line (or the next), a short answer, no keyword in the question."""
    src, line, kws = entry["source"], entry["line"], entry["keywords"]
    problems = []
    window = lines[line - 1] + " " + (lines[line] if line < len(lines) else "")
    for kw in kws:
        if not has_kw(window, kw):
            problems.append(f"{where}: keyword {kw!r} not on line {line} (or {line + 1}) of {src}")
    if len(str(entry["answer"])) > 40:
        problems.append(f"{where}: answer longer than 40 characters")
    qlow = " " + re.sub(r"[^a-z0-9:£.,]+", " ", entry["q"].lower()) + " "
    for kw in kws:
        if has_kw(qlow, kw):
            problems.append(f"{where}: question contains its own keyword {kw!r}")
    return problems


def answering_units(entry, where, units):
    """The answering sentence(s): units touching line/line+1 holding the keywords. Returns
    (units, problems, warnings)."""
    src, line, kws = entry["source"], entry["line"], entry["keywords"]
    near = [u for u in units if u["first"] <= line + 1 and u["last"] >= line]
    full = [u for u in near if all(has_kw(u["text"], k) for k in kws)]
    if full:
        # prefer the sentence that actually spans the given line
        on_line = [u for u in full if u["first"] <= line <= u["last"]]
        pick = on_line or full
        warnings = []
        if len(pick) > 1:
            warnings.append(f"{where}: keywords fit {len(pick)} sentences; taking the first")
        return pick[:1], [], warnings
    some = [u for u in near if any(has_kw(u["text"], k) for k in kws)]
    if not some:
        return some, [f"{where}: no sentence near line {line} of {src} holds the keywords"], []
    return some, [], []


def check_answerable(entry, where, notes, units_by_note):
    """Check one answerable question/turn: (matched units or None, problems, warnings)."""
    problem = reference_problem(entry, where, notes)
    if problem:
        return None, [problem], []
    problems = keyword_problems(entry, where, notes[entry["source"]])
    matched, found, warnings = answering_units(entry, where, units_by_note[entry["source"]])
    return matched, problems + found, warnings


# ---- notes -------------------------------------------------------------
def check_notes(notes, units_by_note):
    """3 to 10 sentences a note, a SUBJECT_WORDS entry for each note and none for another,
    enough notes."""
    problems = []
    for rel in sorted(notes):
        units = units_by_note[rel]
        if not 3 <= len(units) <= 10:
            problems.append(f"{rel}: {len(units)} sentences (want 3 to 10)")
        if rel not in SUBJECT_WORDS:
            problems.append(f"{rel}: no SUBJECT_WORDS entry in check.py")
    for rel in SUBJECT_WORDS:
        if rel not in notes:
            problems.append(f"SUBJECT_WORDS names missing note {rel}")
    if len(notes) < 32:
        problems.append(f"only {len(notes)} notes (want >= 32)")
    return problems


# ---- questions ---------------------------------------------------------
@dataclass
class QuestionTally:
    """What the rules and the summary count over questions.yaml."""

    answerable: int = 0
    paraphrased: int = 0
    not_first: int = 0  # answerable questions not about their note's first sentence
    missing: dict = field(default_factory=lambda: {"fact": 0, "subject": 0})
    covered: set = field(default_factory=set)  # (note, unit index) some question is about
    overlaps: list = field(default_factory=list)  # (missing-subject question, words shared)


def missing_fact_problems(q, entry, where, notes):
    """A missing fact is about a note's subject: its source exists and the question names it."""
    src = entry.get("source")
    if src not in notes:
        return [f"{where}: source {src!r} not found"]
    named = set(words(q, 1)) & set(SUBJECT_WORDS.get(src, []))
    if not named:
        return [f"{where}: does not name the subject of {src}"]
    return []


def missing_subject_problems(q, entry, where, note_words, tally):
    """A missing subject has no source and shares only reviewed ordinary 5+ letter words with
    the notes; the shared words go to tally.overlaps."""
    problems = []
    if "source" in entry:
        problems.append(f"{where}: missing: subject must not have a source")
    shared = sorted(w for w in set(words(q, 5)) - STOP if w in note_words)
    bad = [w for w in shared if w not in ALLOWED_SHARED]
    if bad:
        problems.append(
            f"{where}: words also found in the notes: {bad} "
            f"(review; add to ALLOWED_SHARED if ordinary)"
        )
    if shared:
        tally.overlaps.append((q, shared))
    return problems


def check_unanswerable(q, entry, where, notes, note_words, tally):
    """Problems of one unanswerable question, counted in tally by what is missing."""
    kind = entry.get("missing")
    if kind not in tally.missing:
        return [f"{where}: missing must be 'fact' or 'subject'"]
    tally.missing[kind] += 1
    if kind == "fact":
        return missing_fact_problems(q, entry, where, notes)
    return missing_subject_problems(q, entry, where, note_words, tally)


def check_answerable_question(entry, where, units_by_note, notes, tally):
    """(problems, warnings) of one answerable question, counted in tally: the sentences it
    covers, whether it avoids the first, and, if paraphrased, no content word shared."""
    tally.answerable += 1
    matched, problems, warnings = check_answerable(entry, where, notes, units_by_note)
    if not matched:
        return problems, warnings
    src = entry["source"]
    idx = [units_by_note[src].index(u) for u in matched]
    tally.covered.update((src, k) for k in idx)
    if 0 not in idx:
        tally.not_first += 1
    if entry.get("paraphrased"):
        tally.paraphrased += 1
        sentences = [u["text"] for u in matched]
        common = shared_content_words(entry["q"], sentences, STOP, SUBJECT_WORDS.get(src, []))
        if common:
            problems.append(
                f"{where}: marked paraphrased but shares {common} with its answer sentence"
            )
    return problems, warnings


def check_questions(questions, notes, units_by_note):
    """Every question checked: (tally, problems, warnings)."""
    note_words = set()
    for lines in notes.values():
        note_words.update(words("\n".join(lines), 1))
    tally, problems, warnings, seen_q = QuestionTally(), [], [], set()
    for i, e in enumerate(questions, 1):
        where = f"questions.yaml #{i} ({e.get('q', '?')!r})"
        q = e.get("q")
        if not q:
            problems.append(f"{where}: no q")
            continue
        if q.strip().lower() in seen_q:
            problems.append(f"{where}: duplicate question")
        seen_q.add(q.strip().lower())
        if e.get("answerable", True) is False:
            problems += check_unanswerable(q, e, where, notes, note_words, tally)
        else:
            found, warned = check_answerable_question(e, where, units_by_note, notes, tally)
            problems += found
            warnings += warned
    return tally, problems, warnings


def uncovered_units(units_by_note, covered):
    """(note, unit index, unit) of every sentence no question is about."""
    return [
        (rel, k, u)
        for rel in sorted(units_by_note)
        for k, u in enumerate(units_by_note[rel])
        if (rel, k) not in covered
    ]


def check_question_counts(tally, uncovered):
    """Enough questions of each kind, mostly about later sentences, half paraphrased, and
    every sentence covered."""
    problems = []
    n_ans, missing = tally.answerable, tally.missing
    if n_ans < 130:
        problems.append(f"only {n_ans} answerable questions (want >= 130)")
    if n_ans and tally.not_first * 3 < n_ans * 2:
        problems.append(
            f"only {tally.not_first}/{n_ans} questions avoid first sentences (want >= 2/3)"
        )
    if n_ans and tally.paraphrased * 2 < n_ans:
        problems.append(
            f"only {tally.paraphrased}/{n_ans} questions marked paraphrased (want >= 1/2)"
        )
    if missing["fact"] < 18 or missing["subject"] < 18:
        problems.append(f"unanswerable by kind {missing} (want >= 18 each)")
    if missing["fact"] + missing["subject"] < 36:
        problems.append("fewer than 36 unanswerable questions")
    for rel, _k, u in uncovered:
        problems.append(f"sentence not covered by any question: {rel} L{u['first']}: {u['text']!r}")
    return problems


# ---- conversations -----------------------------------------------------
def second_turn_problems(where, switch, first, second):
    """A switch changes note and names its subject; a follow-up stays in the note, names no
    subject and refers back."""
    q2 = second.get("q", "")
    names2 = set(words(q2, 1)) & set(SUBJECT_WORDS.get(second.get("source"), []))
    problems = []
    if switch:
        if first.get("source") == second.get("source"):
            problems.append(f"{where}: switch conversation stays in one note")
        if not names2:
            problems.append(f"{where}: switch turn 2 does not name its subject")
        return problems
    if first.get("source") != second.get("source"):
        problems.append(f"{where}: follow-up answer is in a different note")
    if names2:
        problems.append(f"{where}: follow-up names its subject {sorted(names2)}")
    if not BACK_REFERENCE.search(q2.lower()):
        problems.append(f"{where}: follow-up has no back-reference word")
    return problems


def check_conversations(convs, notes, units_by_note):
    """Every conversation checked: (counts by kind, problems, warnings)."""
    kinds = {"conversations": len(convs), "follow-up": 0, "switch": 0}
    problems, warnings = [], []
    for i, c in enumerate(convs, 1):
        turns = c.get("turns") if isinstance(c, dict) else None
        where = f"conversations.yaml #{i}"
        if not isinstance(turns, list) or len(turns) != 2:
            problems.append(f"{where}: needs exactly 2 turns")
            continue
        for t, turn in enumerate(turns, 1):
            turn_where = f"{where} turn {t} ({turn.get('q')!r})"
            _matched, found, warned = check_answerable(turn, turn_where, notes, units_by_note)
            problems += found
            warnings += warned
        kinds["switch" if c.get("switch") else "follow-up"] += 1
        problems += second_turn_problems(where, c.get("switch"), *turns)
    return kinds, problems, warnings


def check_conversation_counts(kinds):
    """Enough conversations of each kind."""
    problems = []
    n_follow, n_switch = kinds["follow-up"], kinds["switch"]
    if n_follow < 32:
        problems.append(f"only {n_follow} follow-up conversations (want >= 32)")
    if n_switch < 8:
        problems.append(f"only {n_switch} switch conversations (want >= 8)")
    if n_follow + n_switch < 40:
        problems.append("fewer than 40 conversations")
    return problems


# ---- report ------------------------------------------------------------
def print_units(units_by_note):
    """--units: every sentence unit of every note, with its lines."""
    for rel in sorted(units_by_note):
        print(f"== {rel}")
        for n, u in enumerate(units_by_note[rel], 1):
            print(f"  {n:2d} L{u['first']}-{u['last']}: {u['text']}")


def print_overlaps(overlaps):
    """--overlaps: the reviewed words missing-subject questions share with the notes."""
    print("Missing-subject questions sharing (reviewed) words with notes:")
    for q, shared in overlaps:
        print(f"  {q!r}: {shared}")


def print_summary(units_by_note, uncovered, tally, kinds):
    total_units = sum(len(units) for units in units_by_note.values())
    n_ans, missing = tally.answerable, tally.missing
    print(f"notes: {len(units_by_note)}")
    print(f"sentence units: {total_units} (covered {total_units - len(uncovered)})")
    print(f"answerable questions: {n_ans}")
    if n_ans:
        print(f"  not about a first sentence: {tally.not_first} ({tally.not_first / n_ans:.0%})")
        print(f"  paraphrased: {tally.paraphrased} ({tally.paraphrased / n_ans:.0%})")
    print(
        f"unanswerable: {missing['fact'] + missing['subject']} "
        f"(missing fact {missing['fact']}, missing subject "
        f"{missing['subject']})"
    )
    print(
        f"conversations: {kinds['conversations']} "
        f"(follow-up {kinds['follow-up']}, switch {kinds['switch']})"
    )


def print_verdict(errors, warnings):
    """Print the warnings, then the errors; the exit status: 1 on any error, else 0."""
    for w in warnings:
        print("WARNING:", w)
    if errors:
        for e in errors:
            print("ERROR:", e)
        print(f"FAILED with {len(errors)} error(s)")
        return 1
    print("OK")
    return 0


def main():
    show_units = "--units" in sys.argv
    show_overlaps = "--overlaps" in sys.argv
    notes, errors = load_notes()
    units_by_note = {rel: note_units(lines) for rel, lines in notes.items()}
    if show_units:
        print_units(units_by_note)
    errors += check_notes(notes, units_by_note)

    questions, found = load_list("questions.yaml")
    tally, more, warnings = check_questions(questions, notes, units_by_note)
    uncovered = uncovered_units(units_by_note, tally.covered)
    errors += found + more + check_question_counts(tally, uncovered)

    convs, found = load_list("conversations.yaml")
    kinds, more, turn_warnings = check_conversations(convs, notes, units_by_note)
    errors += found + more + check_conversation_counts(kinds)

    if show_overlaps:
        print_overlaps(tally.overlaps)
    print_summary(units_by_note, uncovered, tally, kinds)
    return print_verdict(errors, warnings + turn_warnings)


if __name__ == "__main__":
    sys.exit(main())
