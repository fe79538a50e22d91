#!/usr/bin/env python3
"""Validate the "natural" evaluation set (notes + questions + conversations).

Usage:
    python3 check.py            # run all checks, print counts, exit 1 on errors
    python3 check.py --units    # also print every sentence unit of every note
    python3 check.py --overlaps # also print reviewed word overlaps of
                                # missing-subject questions

Only python3 + pyyaml are needed.  The script never looks at the program
under test; it only reads the files next to it.
"""

import os
import re
import sys

import yaml

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

errors = []
warnings = []


def err(msg):
    errors.append(msg)


def words(text, min_len):
    return [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= min_len]


def content_words(text, ignore=()):
    ig = set(ignore)
    return {w for w in words(text, 4) if w not in STOP and w not in ig}


def load_notes():
    notes = {}
    for root, _dirs, files in os.walk(KNOW):
        for name in files:
            if not (name.endswith(".txt") or name.endswith(".md")):
                continue
            full = os.path.join(root, name)
            rel = os.path.relpath(full, KNOW).replace(os.sep, "/")
            with open(full, "rb") as fh:
                raw = fh.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                err(f"{rel}: not UTF-8")
                continue
            notes[rel] = text.split("\n")
            if notes[rel] and notes[rel][-1] == "":
                notes[rel].pop()
    return notes


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


def check_answerable(entry, where, notes, units_by_note):
    """Check one answerable question/turn; return the matched units."""
    for field in ("q", "source", "line", "answer", "keywords"):
        if field not in entry:
            err(f"{where}: missing field '{field}'")
            return None
    src, line, kws = entry["source"], entry["line"], entry["keywords"]
    if src not in notes:
        err(f"{where}: source '{src}' not found")
        return None
    lines = notes[src]
    if not isinstance(line, int) or not 1 <= line <= len(lines):
        err(f"{where}: line {line} does not exist in {src}")
        return None
    if not kws or not isinstance(kws, list):
        err(f"{where}: keywords must be a non-empty list")
        return None
    window = lines[line - 1] + " " + (lines[line] if line < len(lines) else "")
    for kw in kws:
        if not has_kw(window, kw):
            err(f"{where}: keyword {kw!r} not on line {line} (or {line + 1}) of {src}")
    if len(str(entry["answer"])) > 40:
        err(f"{where}: answer longer than 40 characters")
    qlow = " " + re.sub(r"[^a-z0-9:£.,]+", " ", entry["q"].lower()) + " "
    for kw in kws:
        k = str(kw).lower()
        if re.search(r"(?<![a-z0-9])" + re.escape(k) + r"(?![a-z0-9])", qlow):
            err(f"{where}: question contains its own keyword {kw!r}")
    # the answering sentence(s): units touching line/line+1 holding keywords
    units = units_by_note[src]
    near = [u for u in units if u["first"] <= line + 1 and u["last"] >= line]
    full = [u for u in near if all(has_kw(u["text"], k) for k in kws)]
    if full:
        # prefer the sentence that actually spans the given line
        on_line = [u for u in full if u["first"] <= line <= u["last"]]
        pick = on_line or full
        if len(pick) > 1:
            warnings.append(f"{where}: keywords fit {len(pick)} sentences; taking the first")
        return pick[:1]
    some = [u for u in near if any(has_kw(u["text"], k) for k in kws)]
    if not some:
        err(f"{where}: no sentence near line {line} of {src} holds the keywords")
    return some


def main():
    show_units = "--units" in sys.argv
    show_overlaps = "--overlaps" in sys.argv
    notes = load_notes()
    units_by_note = {rel: note_units(lines) for rel, lines in notes.items()}

    # ---- notes -----------------------------------------------------------
    total_units = 0
    for rel in sorted(notes):
        units = units_by_note[rel]
        total_units += len(units)
        if not 3 <= len(units) <= 10:
            err(f"{rel}: {len(units)} sentences (want 3 to 10)")
        if rel not in SUBJECT_WORDS:
            err(f"{rel}: no SUBJECT_WORDS entry in check.py")
        if show_units:
            print(f"== {rel}")
            for n, u in enumerate(units, 1):
                print(f"  {n:2d} L{u['first']}-{u['last']}: {u['text']}")
    for rel in SUBJECT_WORDS:
        if rel not in notes:
            err(f"SUBJECT_WORDS names missing note {rel}")
    if len(notes) < 32:
        err(f"only {len(notes)} notes (want >= 32)")

    all_note_words = set()
    for lines in notes.values():
        all_note_words.update(words("\n".join(lines), 1))

    # ---- questions -------------------------------------------------------
    with open(os.path.join(HERE, "questions.yaml"), encoding="utf-8") as fh:
        questions = yaml.safe_load(fh)
    if not isinstance(questions, list):
        err("questions.yaml must be a YAML list")
        questions = []
    covered = set()  # (note, unit index)
    n_ans = n_para = n_not_first = 0
    missing = {"fact": 0, "subject": 0}
    seen_q = set()
    overlaps_report = []
    for i, e in enumerate(questions, 1):
        where = f"questions.yaml #{i} ({e.get('q', '?')!r})"
        q = e.get("q")
        if not q:
            err(f"{where}: no q")
            continue
        if q.strip().lower() in seen_q:
            err(f"{where}: duplicate question")
        seen_q.add(q.strip().lower())
        if e.get("answerable", True) is False:
            kind = e.get("missing")
            if kind not in missing:
                err(f"{where}: missing must be 'fact' or 'subject'")
                continue
            missing[kind] += 1
            if kind == "fact":
                src = e.get("source")
                if src not in notes:
                    err(f"{where}: source {src!r} not found")
                    continue
                named = set(words(q, 1)) & set(SUBJECT_WORDS.get(src, []))
                if not named:
                    err(f"{where}: does not name the subject of {src}")
            else:
                if "source" in e:
                    err(f"{where}: missing: subject must not have a source")
                shared = sorted(w for w in set(words(q, 5)) - STOP if w in all_note_words)
                bad = [w for w in shared if w not in ALLOWED_SHARED]
                if bad:
                    err(
                        f"{where}: words also found in the notes: {bad} "
                        f"(review; add to ALLOWED_SHARED if ordinary)"
                    )
                if shared:
                    overlaps_report.append((q, shared))
            continue
        n_ans += 1
        matched = check_answerable(e, where, notes, units_by_note)
        if not matched:
            continue
        units = units_by_note[e["source"]]
        idx = [units.index(u) for u in matched]
        for k in idx:
            covered.add((e["source"], k))
        if 0 not in idx:
            n_not_first += 1
        if e.get("paraphrased"):
            n_para += 1
            ign = SUBJECT_WORDS.get(e["source"], [])
            qw = content_words(q, ign)
            sw = set()
            for u in matched:
                sw |= content_words(u["text"], ign)
            common = sorted(qw & sw)
            if common:
                err(f"{where}: marked paraphrased but shares {common} with its answer sentence")

    uncovered = [
        (rel, k, u)
        for rel in sorted(notes)
        for k, u in enumerate(units_by_note[rel])
        if (rel, k) not in covered
    ]
    if n_ans < 130:
        err(f"only {n_ans} answerable questions (want >= 130)")
    if n_ans and n_not_first * 3 < n_ans * 2:
        err(f"only {n_not_first}/{n_ans} questions avoid first sentences (want >= 2/3)")
    if n_ans and n_para * 2 < n_ans:
        err(f"only {n_para}/{n_ans} questions marked paraphrased (want >= 1/2)")
    if missing["fact"] < 18 or missing["subject"] < 18:
        err(f"unanswerable by kind {missing} (want >= 18 each)")
    if missing["fact"] + missing["subject"] < 36:
        err("fewer than 36 unanswerable questions")
    for rel, k, u in uncovered:
        err(f"sentence not covered by any question: {rel} L{u['first']}: {u['text']!r}")

    # ---- conversations ---------------------------------------------------
    with open(os.path.join(HERE, "conversations.yaml"), encoding="utf-8") as fh:
        convs = yaml.safe_load(fh)
    if not isinstance(convs, list):
        err("conversations.yaml must be a YAML list")
        convs = []
    n_follow = n_switch = 0
    backref = re.compile(
        r"\b(it|its|it's|they|them|their|there|that|those|"
        r"this|these|she|her|he|him|his|one)\b|^(and|what about|"
        r"how about)\b"
    )
    for i, c in enumerate(convs, 1):
        turns = c.get("turns") if isinstance(c, dict) else None
        where = f"conversations.yaml #{i}"
        if not isinstance(turns, list) or len(turns) != 2:
            err(f"{where}: needs exactly 2 turns")
            continue
        for t, turn in enumerate(turns, 1):
            check_answerable(turn, f"{where} turn {t} ({turn.get('q')!r})", notes, units_by_note)
        a, b = turns
        q2 = b.get("q", "")
        names2 = set(words(q2, 1)) & set(SUBJECT_WORDS.get(b.get("source"), []))
        if c.get("switch"):
            n_switch += 1
            if a.get("source") == b.get("source"):
                err(f"{where}: switch conversation stays in one note")
            if not names2:
                err(f"{where}: switch turn 2 does not name its subject")
        else:
            n_follow += 1
            if a.get("source") != b.get("source"):
                err(f"{where}: follow-up answer is in a different note")
            if names2:
                err(f"{where}: follow-up names its subject {sorted(names2)}")
            if not backref.search(q2.lower()):
                err(f"{where}: follow-up has no back-reference word")
    if n_follow < 32:
        err(f"only {n_follow} follow-up conversations (want >= 32)")
    if n_switch < 8:
        err(f"only {n_switch} switch conversations (want >= 8)")
    if n_follow + n_switch < 40:
        err("fewer than 40 conversations")

    # ---- report ----------------------------------------------------------
    if show_overlaps:
        print("Missing-subject questions sharing (reviewed) words with notes:")
        for q, shared in overlaps_report:
            print(f"  {q!r}: {shared}")
    print(f"notes: {len(notes)}")
    print(f"sentence units: {total_units} (covered {total_units - len(uncovered)})")
    print(f"answerable questions: {n_ans}")
    if n_ans:
        print(f"  not about a first sentence: {n_not_first} ({n_not_first / n_ans:.0%})")
        print(f"  paraphrased: {n_para} ({n_para / n_ans:.0%})")
    print(
        f"unanswerable: {missing['fact'] + missing['subject']} "
        f"(missing fact {missing['fact']}, missing subject "
        f"{missing['subject']})"
    )
    print(f"conversations: {len(convs)} (follow-up {n_follow}, switch {n_switch})")
    for w in warnings:
        print("WARNING:", w)
    if errors:
        for e in errors:
            print("ERROR:", e)
        print(f"FAILED with {len(errors)} error(s)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
