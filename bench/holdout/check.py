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

Run:  python3 check.py
"""

import os
import re
import sys

import yaml

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

errors = []


def err(msg):
    errors.append(msg)


def words(text):
    return [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4]


# ---------------------------------------------------------------- notes
def load_notes():
    notes = {}
    for root, _dirs, files in os.walk(KNOW):
        for f in files:
            full = os.path.join(root, f)
            rel = os.path.relpath(full, KNOW).replace(os.sep, "/")
            if not (f.endswith(".txt") or f.endswith(".md")):
                err(f"note {rel}: not .txt or .md")
                continue
            try:
                with open(full, encoding="utf-8") as fh:
                    text = fh.read()
            except UnicodeDecodeError:
                err(f"note {rel}: not UTF-8")
                continue
            notes[rel] = text.split("\n")
            if notes[rel] and notes[rel][-1] == "":
                notes[rel].pop()
    return notes


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


# ---------------------------------------------------------------- entries
def check_answerable(where, e, notes, analysed, stats):
    for key in ("q", "source", "line", "answer", "keywords"):
        if key not in e:
            err(f"{where}: missing '{key}'")
            return None
    src, line, kws = e["source"], e["line"], e["keywords"]
    if src not in notes:
        err(f"{where}: source {src!r} not found")
        return None
    lines = notes[src]
    if not isinstance(line, int) or not 1 <= line <= len(lines):
        err(f"{where}: line {line!r} does not exist in {src}")
        return None
    if not kws or not all(isinstance(k, (str, int, float)) for k in kws):
        err(f"{where}: keywords must be a non-empty list")
        return None
    kws = [str(k) for k in kws]
    window = lines[line - 1]
    if line < len(lines):
        window += " " + lines[line]
    for k in kws:
        if k.lower() not in window.lower():
            err(f"{where}: keyword {k!r} not on {src}:{line} or the next line")
    sents = analysed[src]
    target = answering(sents, line, kws)
    stats["covered"].update((src, s["text"]) for s in target)
    first = first_sentence(sents)
    is_first = bool(target) and all(s is first for s in target)
    if e.get("paraphrased"):
        allowed = set(words(str(e.get("subject", ""))))
        sent_words = set()
        for s in target:
            sent_words |= set(words(s["text"]))
        shared = (set(words(e["q"])) - STOP - allowed) & sent_words
        if shared:
            err(
                f"{where}: paraphrased question shares {sorted(shared)} "
                f"with its sentence: {' | '.join(s['text'] for s in target)}"
            )
    return is_first


def main():
    notes = load_notes()
    analysed = {k: analyse(v) for k, v in notes.items()}
    if len(notes) < 18:
        err(f"only {len(notes)} notes (need 18)")
    for rel, sents in sorted(analysed.items()):
        n = sum(1 for s in sents if not s["heading"])
        if not 3 <= n <= 12:
            err(f"note {rel}: {n} sentences (need 3-12)")

    stats = {"covered": set()}
    with open(os.path.join(HERE, "questions.yaml"), encoding="utf-8") as fh:
        questions = yaml.safe_load(fh)
    if not isinstance(questions, list):
        err("questions.yaml must be a list")
        questions = []

    answerable, unanswerable, seen = [], [], set()
    for i, e in enumerate(questions, 1):
        where = f"questions.yaml #{i} ({e.get('q', '?')!r})"
        q = str(e.get("q", "")).strip().lower()
        if q in seen:
            err(f"{where}: duplicate question")
        seen.add(q)
        if e.get("answerable", True) is False:
            unanswerable.append(e)
            kind = e.get("missing")
            if kind not in ("fact", "subject"):
                err(f"{where}: missing must be 'fact' or 'subject'")
            if kind == "fact" and e.get("source") not in notes:
                err(f"{where}: missing fact needs an existing source")
            if kind == "subject" and "source" in e:
                err(f"{where}: missing subject should have no source")
        else:
            is_first = check_answerable(where, e, notes, analysed, stats)
            answerable.append((e, is_first))

    n_ans = len(answerable)
    n_first = sum(1 for _e, f in answerable if f)
    n_para = sum(1 for e, _f in answerable if e.get("paraphrased"))
    n_fact = sum(1 for e in unanswerable if e.get("missing") == "fact")
    n_subj = sum(1 for e in unanswerable if e.get("missing") == "subject")
    if n_ans < 70:
        err(f"only {n_ans} answerable questions (need 70)")
    if len(unanswerable) < 24:
        err(f"only {len(unanswerable)} unanswerable questions (need 24)")
    if n_fact < 12 or n_subj < 12:
        err(f"need 12 missing-fact and 12 missing-subject, have {n_fact}/{n_subj}")
    if n_ans and (n_ans - n_first) * 3 < n_ans * 2:
        err(f"only {n_ans - n_first}/{n_ans} questions are about a non-first sentence")
    if n_ans and n_para * 2 < n_ans:
        err(f"only {n_para}/{n_ans} questions are paraphrased (need half)")

    with open(os.path.join(HERE, "conversations.yaml"), encoding="utf-8") as fh:
        convs = yaml.safe_load(fh)
    if not isinstance(convs, list):
        err("conversations.yaml must be a list")
        convs = []
    n_back = n_switch = 0
    for i, c in enumerate(convs, 1):
        turns = c.get("turns") or []
        where = f"conversations.yaml #{i}"
        if len(turns) != 2:
            err(f"{where}: needs exactly two turns")
            continue
        for j, t in enumerate(turns, 1):
            check_answerable(f"{where} turn {j} ({t.get('q', '?')!r})", t, notes, analysed, stats)
        if c.get("switch"):
            if turns[0].get("source") == turns[1].get("source"):
                err(f"{where}: switch conversation stays in one note")
            n_switch += 1
        else:
            if turns[0].get("source") != turns[1].get("source"):
                err(f"{where}: follow-up answer is in another note (mark switch?)")
            if not REFER.search(str(turns[1].get("q", ""))):
                err(f"{where}: follow-up has no referring word")
            n_back += 1
    if len(convs) < 20:
        err(f"only {len(convs)} conversations (need 20)")
    if n_back < 16:
        err(f"only {n_back} refer-back conversations (need 16)")
    if n_switch < 4:
        err(f"only {n_switch} switch conversations (need 4)")

    body = [(rel, s["text"]) for rel, ss in analysed.items() for s in ss if not s["heading"]]
    covered = sum(1 for b in body if b in stats["covered"])

    print(f"notes: {len(notes)}")
    print(
        f"answerable: {n_ans} (paraphrased {n_para}, about a non-first sentence {n_ans - n_first})"
    )
    print(f"unanswerable: {len(unanswerable)} (missing fact {n_fact}, missing subject {n_subj})")
    print(f"conversations: {len(convs)} (refer-back {n_back}, switch {n_switch})")
    print(f"note sentences with a question: {covered}/{len(body)}")
    if errors:
        print(f"\n{len(errors)} problem(s):")
        for e in errors:
            print("  -", e)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
