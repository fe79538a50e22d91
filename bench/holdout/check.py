#!/usr/bin/env python3
"""Validate the held-out set in this folder.

Checks (exit status 1 if any fails):
  * every note in knowledge/ is UTF-8 text, .txt or .md, 3-12 sentences;
  * at least 18 notes;
  * every answerable question / conversation turn names an existing note and
    an existing 1-based line, and each keyword occurs (case-insensitive) on
    that line or the next one;
  * at least 70 answerable and 24 unanswerable questions, at least 12 with
    `missing: fact` (and a real `source`) and 12 with `missing: subject`;
  * at least two thirds of answerable questions are about a sentence other
    than the note's first;
  * at least half of the answerable questions are `paraphrased: true`, and a
    paraphrased question shares no content word of 4+ letters with its
    answering sentence, apart from the words listed in its `subject` field
    (the subject's own name) and a short list of function words;
  * at least 20 conversations of two turns; at least 16 follow-ups stay in
    the same note and use a referring word; at least 4 are `switch: true`
    and change note.

Run:  python3 check.py  (or python3 bench/holdout/check.py from the repo root)

Needs python3 and pyyaml; the helpers it shares with the other question-set
checkers are in bench/question_sets.py.
"""

import os
import re
import sys

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

STOP = set(
    """
what whats when where which whom whose does have that this there their they
them then than with from into about many much should would could will were
been being your some also just
""".split()
)

REFER = re.compile(
    r"\b(it|its|it's|they|them|their|there|that one|that|"
    r"she|her|he|his|the last one|the first one|what about|and on|and the|how about)\b",
    re.I,
)


# ---------------------------------------------------------------- files
def load_notes():
    """The notes as lists of lines, and the problems of the files that are not notes."""
    notes, problems = {}, []
    for rel, full in note_paths(KNOW):
        if not (rel.endswith(".txt") or rel.endswith(".md")):
            problems.append(f"note {rel}: not .txt or .md")
            continue
        try:
            with open(full, encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError:
            problems.append(f"note {rel}: not UTF-8")
            continue
        notes[rel] = note_lines(text)
    return notes, problems


def load_list(name):
    """The entries of the YAML list `name` next to this script, and the problem if it is none."""
    return load_yaml_list(os.path.join(HERE, name), f"{name} must be a list")


# ---------------------------------------------------------------- notes
ABBREV = {"dr", "st", "mr", "mrs", "ms"}


def split_sentences(text):
    """Return (start, end) character spans of the sentences in text."""
    spans, start = [], 0
    for m in re.finditer(r"[.!?]+\s+", text):
        before = re.findall(r"([A-Za-z]+)\.$", text[start : m.start() + 1])
        if before and before[0].lower() in ABBREV:
            continue
        spans.append((start, m.start() + len(m.group().rstrip())))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def analyse(lines):
    """Cut a note into blocks and sentences.

    Returns a list of sentences: dict(text, lines=set of 1-based lines,
    heading=bool).  Headings, underlines and list items are blocks of their
    own; other consecutive non-blank lines form a paragraph.
    """
    blocks, cur = [], []

    def flush():
        if cur:
            blocks.append(list(cur))
            cur.clear()

    for i, line in enumerate(lines, 1):
        s = line.strip()
        if not s:
            flush()
        elif re.fullmatch(r"[=\-]{3,}", s):
            flush()
            if blocks:
                blocks[-1] = [(n, t, True) for n, t, _h in blocks[-1]]
        elif s.startswith("#"):
            flush()
            blocks.append([(i, s.lstrip("#").strip(), True)])
        elif re.match(r"([-*+]|\d+[.)])\s", s):
            flush()
            blocks.append([(i, re.sub(r"^([-*+]|\d+[.)])\s+", "", s), False)])
        else:
            cur.append((i, s, False))
    flush()

    sentences = []
    for block in blocks:
        text, offs = "", []
        for n, t, _h in block:
            if text:
                text += " "
            offs.append((n, len(text), len(text) + len(t)))
            text += t
        heading = block[0][2] or (len(block) == 1 and not re.search(r"[.!?:;]", text))
        for a, b in split_sentences(text):
            covered = {n for n, s0, s1 in offs if s0 < b and a < s1}
            sentences.append({"text": text[a:b], "lines": covered, "heading": heading})
    return sentences


def first_sentence(sents):
    for s in sents:
        if not s["heading"]:
            return s
    return None


def answering(sents, line, keywords):
    """Sentences a (line, keywords) pair points at."""
    kws = [k.lower() for k in keywords]
    on = [s for s in sents if line in s["lines"]]
    hit = [s for s in on if all(k in s["text"].lower() for k in kws)]
    if hit:
        return hit
    near = [s for s in sents if line in s["lines"] or line + 1 in s["lines"]]
    hit = [s for s in near if all(k in s["text"].lower() for k in kws)]
    if hit:
        return hit
    hit = [s for s in near if any(k in s["text"].lower() for k in kws)]
    return hit or on


def check_notes(notes, analysed):
    """Enough notes, each of 3-12 sentences."""
    problems = []
    if len(notes) < 18:
        problems.append(f"only {len(notes)} notes (need 18)")
    for rel, sents in sorted(analysed.items()):
        n = sum(1 for s in sents if not s["heading"])
        if not 3 <= n <= 12:
            problems.append(f"note {rel}: {n} sentences (need 3-12)")
    return problems


# ---------------------------------------------------------------- entries
def reference_problem(where, e, notes):
    """What stops an answerable entry from pointing at a line of a note, or None."""
    for key in ("q", "source", "line", "answer", "keywords"):
        if key not in e:
            return f"{where}: missing '{key}'"
    src, line, kws = e["source"], e["line"], e["keywords"]
    if src not in notes:
        return f"{where}: source {src!r} not found"
    lines = notes[src]
    if not isinstance(line, int) or not 1 <= line <= len(lines):
        return f"{where}: line {line!r} does not exist in {src}"
    if not kws or not all(isinstance(k, (str, int, float)) for k in kws):
        return f"{where}: keywords must be a non-empty list"
    return None


def keyword_problems(where, lines, src, line, kws):
    """Every keyword is on the entry's line or the next one."""
    window = lines[line - 1]
    if line < len(lines):
        window += " " + lines[line]
    return [
        f"{where}: keyword {k!r} not on {src}:{line} or the next line"
        for k in kws
        if k.lower() not in window.lower()
    ]


def paraphrase_problems(where, e, target):
    """A paraphrased question shares no content word with its sentence but its subject's."""
    if not e.get("paraphrased"):
        return []
    allowed = words(str(e.get("subject", "")))
    shared = shared_content_words(e["q"], [s["text"] for s in target], STOP, allowed)
    if not shared:
        return []
    sentences = " | ".join(s["text"] for s in target)
    return [f"{where}: paraphrased question shares {shared} with its sentence: {sentences}"]


def check_answerable(where, e, notes, analysed, covered):
    """Check one answerable question or conversation turn: (is it about its note's first
    sentence, problems). Adds the (note, sentence) pairs it is about to `covered`."""
    problem = reference_problem(where, e, notes)
    if problem:
        return None, [problem]
    src, line = e["source"], e["line"]
    kws = [str(k) for k in e["keywords"]]
    problems = keyword_problems(where, notes[src], src, line, kws)
    sents = analysed[src]
    target = answering(sents, line, kws)
    covered.update((src, s["text"]) for s in target)
    first = first_sentence(sents)
    is_first = bool(target) and all(s is first for s in target)
    return is_first, problems + paraphrase_problems(where, e, target)


def check_unanswerable(where, e, notes):
    """An unanswerable question says what is missing: a fact of a note (its source) or a
    subject no note has (no source)."""
    problems = []
    kind = e.get("missing")
    if kind not in ("fact", "subject"):
        problems.append(f"{where}: missing must be 'fact' or 'subject'")
    if kind == "fact" and e.get("source") not in notes:
        problems.append(f"{where}: missing fact needs an existing source")
    if kind == "subject" and "source" in e:
        problems.append(f"{where}: missing subject should have no source")
    return problems


def check_questions(questions, notes, analysed, covered):
    """Every question checked: the answerable ones as (entry, is about a first sentence), the
    unanswerable entries, and the problems."""
    answerable, unanswerable, problems, seen = [], [], [], set()
    for i, e in enumerate(questions, 1):
        where = f"questions.yaml #{i} ({e.get('q', '?')!r})"
        q = str(e.get("q", "")).strip().lower()
        if q in seen:
            problems.append(f"{where}: duplicate question")
        seen.add(q)
        if e.get("answerable", True) is False:
            unanswerable.append(e)
            problems += check_unanswerable(where, e, notes)
        else:
            is_first, found = check_answerable(where, e, notes, analysed, covered)
            problems += found
            answerable.append((e, is_first))
    return answerable, unanswerable, problems


def question_counts(answerable, unanswerable):
    """The figures the rules and the summary speak of."""
    return {
        "answerable": len(answerable),
        "first": sum(1 for _e, f in answerable if f),
        "paraphrased": sum(1 for e, _f in answerable if e.get("paraphrased")),
        "unanswerable": len(unanswerable),
        "fact": sum(1 for e in unanswerable if e.get("missing") == "fact"),
        "subject": sum(1 for e in unanswerable if e.get("missing") == "subject"),
    }


def check_question_counts(counts):
    """Enough questions of each kind, mostly about later sentences, half paraphrased."""
    problems = []
    n_ans, n_first, n_para = counts["answerable"], counts["first"], counts["paraphrased"]
    n_fact, n_subj = counts["fact"], counts["subject"]
    if n_ans < 70:
        problems.append(f"only {n_ans} answerable questions (need 70)")
    if counts["unanswerable"] < 24:
        problems.append(f"only {counts['unanswerable']} unanswerable questions (need 24)")
    if n_fact < 12 or n_subj < 12:
        problems.append(f"need 12 missing-fact and 12 missing-subject, have {n_fact}/{n_subj}")
    if n_ans and (n_ans - n_first) * 3 < n_ans * 2:
        problems.append(f"only {n_ans - n_first}/{n_ans} questions are about a non-first sentence")
    if n_ans and n_para * 2 < n_ans:
        problems.append(f"only {n_para}/{n_ans} questions are paraphrased (need half)")
    return problems


def check_conversations(convs, notes, analysed, covered):
    """Two answerable turns each; a follow-up stays in its note and refers back, a switch
    changes note. Returns the conversations counted by kind, and the problems."""
    problems, n_back, n_switch = [], 0, 0
    for i, c in enumerate(convs, 1):
        turns = c.get("turns") or []
        where = f"conversations.yaml #{i}"
        if len(turns) != 2:
            problems.append(f"{where}: needs exactly two turns")
            continue
        for j, t in enumerate(turns, 1):
            turn_where = f"{where} turn {j} ({t.get('q', '?')!r})"
            problems += check_answerable(turn_where, t, notes, analysed, covered)[1]
        if c.get("switch"):
            if turns[0].get("source") == turns[1].get("source"):
                problems.append(f"{where}: switch conversation stays in one note")
            n_switch += 1
        else:
            if turns[0].get("source") != turns[1].get("source"):
                problems.append(f"{where}: follow-up answer is in another note (mark switch?)")
            if not REFER.search(str(turns[1].get("q", ""))):
                problems.append(f"{where}: follow-up has no referring word")
            n_back += 1
    return {"conversations": len(convs), "refer-back": n_back, "switch": n_switch}, problems


def check_conversation_counts(kinds):
    """Enough conversations, of both kinds."""
    problems = []
    if kinds["conversations"] < 20:
        problems.append(f"only {kinds['conversations']} conversations (need 20)")
    if kinds["refer-back"] < 16:
        problems.append(f"only {kinds['refer-back']} refer-back conversations (need 16)")
    if kinds["switch"] < 4:
        problems.append(f"only {kinds['switch']} switch conversations (need 4)")
    return problems


# ---------------------------------------------------------------- report
def print_counts(notes, counts, analysed, covered):
    """The set's figures, and how many note sentences some question or turn is about."""
    body = [(rel, s["text"]) for rel, ss in analysed.items() for s in ss if not s["heading"]]
    n_covered = sum(1 for b in body if b in covered)
    n_ans, non_first = counts["answerable"], counts["answerable"] - counts["first"]
    print(f"notes: {len(notes)}")
    print(
        f"answerable: {n_ans} (paraphrased {counts['paraphrased']}, "
        f"about a non-first sentence {non_first})"
    )
    print(
        f"unanswerable: {counts['unanswerable']} "
        f"(missing fact {counts['fact']}, missing subject {counts['subject']})"
    )
    print(
        f"conversations: {counts['conversations']} "
        f"(refer-back {counts['refer-back']}, switch {counts['switch']})"
    )
    print(f"note sentences with a question: {n_covered}/{len(body)}")


def main():
    notes, problems = load_notes()
    analysed = {k: analyse(v) for k, v in notes.items()}
    problems += check_notes(notes, analysed)
    covered = set()  # (note, sentence text) of every sentence a question or turn is about

    questions, found = load_list("questions.yaml")
    answerable, unanswerable, more = check_questions(questions, notes, analysed, covered)
    counts = question_counts(answerable, unanswerable)
    problems += found + more + check_question_counts(counts)

    convs, found = load_list("conversations.yaml")
    kinds, more = check_conversations(convs, notes, analysed, covered)
    problems += found + more + check_conversation_counts(kinds)

    print_counts(notes, counts | kinds, analysed, covered)
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for problem in problems:
            print("  -", problem)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
