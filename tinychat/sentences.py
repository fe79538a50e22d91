"""Cut a note's text into sentence chunks that remember their line numbers. Pure: no files.

A chunk is a sentence (or a piece of a long one), the unit the retriever ranks and the model
copies answers from. Each chunk keeps its file and the 1-based lines it spans, so every
answer can cite exactly where it came from. Hard-wrapped sentences are joined, list items
and labelled lines ("Front gate: 2290") stand alone, markdown headings title the chunks
below them (and a lead-in such as "Ingredients:" the lines right below it), and abbreviations
("Dr.", "e.g.") do not end a sentence.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from tinychat import rules
from tinychat.vocab import normalize

SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")  # a sentence may end at . ! ? and a space
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as editors and `grep -n` count lines (not \f, \v, U+2028)
# Words that end in a full stop without ending the sentence. Titles and "No." come before a name
# or a number, so they never end one; the others do only when the next word starts a sentence.
NEVER_ENDS = frozenset(
    "dr mr mrs ms st prof no nos mt rev sgt capt gen col lt fr jr sr vs e.g i.e cf ext tel ref vol"
    " pp".split()
)
ENDS_BEFORE_CAPITAL = frozenset(
    "a.m p.m etc approx inc ltd co ave rd dept est fig ca min max".split()
)
MARKDOWN_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
# "| Monday | Black bin | 7am |", and the "|---|:--:|" line under a table's header row
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
TABLE_RULE = re.compile(r"^\s*\|?(\s*:?-+:?\s*\|)+\s*(:?-+:?\s*)?$")
RULE = re.compile(r"^\s{0,3}([-*_=])(\s*\1){2,}\s*$")  # "---", "* * *", or "=====" under a title
# "Front gate: 2290", "Alarm company (Sentrel) helpline: 0800 600 1100": a labelled value
LABEL = re.compile(r"^[A-Za-z][\w'&/() -]{0,40}: \S")
# hard-wrapped prose fills its lines; a line shorter than this may be an item of its own
SHORT_LINE = 50
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
# A sentence usually opens with its subject, so its first words are searched twice; this many
# found the answering line most often (README, "Figures behind the code's constants").
SUBJECT_WORDS = 3
PATH_WORD_BREAK = re.compile(r"[/_\-.\s]+")
TITLE_JOIN = " / "  # between the headings of a chunk's title
# "Ingredients:", "Vet details:": a line that only introduces the lines right below it
LEAD_IN = re.compile(r"^[^:.!?]{1,40}:$")


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of a file: a sentence on lines `line`..`end_line` (1-based)."""

    path: str  # relative to the knowledge folder, '/'-separated
    line: int
    end_line: int
    text: str  # one line of text, whitespace folded, ready for the prompt
    # the markdown headings above it, outermost first ("Allotment Society / Money"): searched,
    # never shown to the model
    title: str = ""
    # what introduces it within its section: a lead-in line ("Ingredients:") over a list, or the
    # label of the list item it ends ("Babysitter: Freya. She charges £12 an hour."). Searched
    # with it, but not the subject of the note a follow-up question carries on with.
    lead_in: str = ""

    @property
    def searchable(self) -> str:
        """What the retriever indexes: the sentence plus the words that say what it is about.

        That is the file's name and the heading above ("velmora.txt", "# Velmora" / "It has two
        bridges."), and the sentence's first words once more, since a sentence usually opens
        with its subject ("Keras provides ..." is about Keras more than "Calling fit in Keras ...").
        """
        opening = " ".join(self.text.split(maxsplit=SUBJECT_WORDS)[:SUBJECT_WORDS])
        parts = (subject_of(self.path), self.title, self.lead_in, opening, self.text)
        return " ".join(part for part in parts if part)


@functools.lru_cache(maxsize=1 << 16)  # asked once per chunk, the same for a file's chunks
def subject_of(path: str) -> str:
    """Words of a file's path without its suffix, as "towns/north_velmora.md" ->
    "towns north velmora".

    Notes are usually named after what they are about, so the name is searched with every
    sentence (what that gained: README, "Figures behind the code's constants").
    """
    name_start, dot = path.rfind("/") + 1, path.rfind(".")  # chunk paths are '/'-separated
    without_suffix = path[:dot] if dot > name_start else path
    return " ".join(word for word in PATH_WORD_BREAK.split(without_suffix) if word)



def split_chunks(path: str, text: str, max_chars: int) -> list[Chunk]:
    """Cut a file's text into sentence chunks that remember their line numbers.

    Consecutive non-blank lines form a paragraph, so a sentence hard-wrapped over several
    lines is one chunk spanning them; list items stand alone. A markdown heading is not a
    chunk (it answers nothing) but the title of the chunks below it, together with the headings
    it sits under ("# Allotment Society" / "## Money": a sentence under Money is about the
    society too). Sentences longer than `max_chars` are cut at a space.
    """
    chunks: list[Chunk] = []
    headings: list[tuple[int, str]] = []  # (level, text) of the headings above, outermost first
    title = ""
    lead_in, last_line = "", 0  # "Ingredients:" titles the lines below it, up to a blank line
    lines = LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the text's last newline ends the last line; it starts no new one
    for paragraph in _paragraphs(lines):
        number, first_line = paragraph[0]
        if number != last_line + 1:
            lead_in = ""  # a blank line ends what a lead-in introduced
        last_line = paragraph[-1][0]
        if MARKDOWN_HEADING.match(first_line):
            marks = first_line.lstrip()
            level = len(marks) - len(marks.lstrip("#"))  # "## Money" is level 2
            heading = " ".join(normalize(MARKDOWN_HEADING.sub("", first_line)).split())
            headings = [(above, text) for above, text in headings if above < level]
            headings.append((level, heading))
            title = TITLE_JOIN.join(text for _, text in headings if text)
            lead_in = ""
            continue
        if len(paragraph) == 1 and LEAD_IN.match(first_line.strip()):
            lead_in = " ".join(normalize(first_line).split())[:-1]
            continue
        # "Babysitter: Freya, 07911 123 456. She charges £12 an hour.": "She" is the babysitter
        label = LABEL.match(first_line.strip()) if len(paragraph) == 1 else None
        label = label if rules.active("item_labels") else None
        item = label.group().split(":")[0].strip() if label else ""
        # Join the paragraph's lines with spaces, remembering which line each character came from.
        joined, line_of = "", []
        for number, line in paragraph:
            # the note's own characters ("Inês", "£"): the prompt folds them, answers show them
            piece = " ".join(line.split())
            if joined:
                joined += " "
                line_of.append(number)
            joined += piece
            line_of.extend([number] * len(piece))
        start = 0
        for match in [*sentence_ends(joined), None]:
            end = match.start() + len(match.group().rstrip()) if match else len(joined)
            for first, last in _pieces(joined, start, end, max_chars):
                while first < last and joined[first] == " ":
                    first += 1
                while last > first and joined[last - 1] == " ":
                    last -= 1
                piece = joined[first:last]
                if any(char.isalnum() for char in piece):  # "..." or "***" says nothing
                    introduced = TITLE_JOIN.join(filter(None, (lead_in, item if start else "")))
                    chunks.append(
                        Chunk(path, line_of[first], line_of[last - 1], piece, title, introduced)
                    )
            start = match.end() if match else len(joined)
    return chunks


def sentence_ends(text: str) -> list[re.Match]:
    """The places where a sentence of `text` ends: after . ! or ? and a space, except after an
    abbreviation ("Dr. Patel", "No. 4", "e.g. tea", "9 a.m. on weekdays") or an initial
    ("J. Smith")."""
    ends = []
    for match in SENTENCE_END.finditer(text):
        if text[match.start() - 1] != ".":  # ! and ? always end a sentence
            ends.append(match)
            continue
        before = text[: match.start() - 1].rsplit(" ", 1)[-1].lstrip("(\"'").lower()
        after = text[match.end() : match.end() + 1]
        if before in NEVER_ENDS or (len(before) == 1 and before.isalpha()):
            continue
        if (before in ENDS_BEFORE_CAPITAL or "." in before) and not after.isupper():
            continue
        ends.append(match)
    return ends


def _paragraphs(lines: list[str]) -> list[list[tuple[int, str]]]:
    """Runs of lines that read as one text; headings, list items, table rows and short labelled
    lines stand alone. A line underlined with "===" or "---" is a heading; a rule line alone is
    dropped."""
    paragraphs: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    header: list[str] = []  # the cells of the markdown table's header row, while in a table
    for number, line in enumerate(lines, start=1):
        if TABLE_ROW.match(line):  # each row is a fact of its own, its cells named by the header
            if current:
                paragraphs.append(current)
            current = []
            following = lines[number] if number < len(lines) else ""
            if TABLE_RULE.match(line):
                continue
            if TABLE_RULE.match(following):
                header = _cells(line)
                continue
            paragraphs.append([(number, _table_row(header, _cells(line)))])
            continue
        header = []
        rule = RULE.match(line)
        if rule and len(current) == 1 and rule.group(1) in "=-":  # "Money" over "-----"
            level = "#" if rule.group(1) == "=" else "##"
            paragraphs.append([(current[0][0], f"{level} {current[0][1]}")])
            current = []
            continue
        if rule:  # a rule between parts ("---") ends a paragraph and says nothing
            if current:
                paragraphs.append(current)
            current = []
            continue
        if current and _ends_a_line_of_its_own(current[-1][1], line):
            paragraphs.append(current)
            current = []
        stands_alone = MARKDOWN_HEADING.match(line) or LIST_ITEM.match(line)
        if not line.strip() or stands_alone:
            if current:
                paragraphs.append(current)
            current = []
        if MARKDOWN_HEADING.match(line):
            paragraphs.append([(number, line)])  # kept whole: split_chunks reads it as a title
        elif stands_alone:
            paragraphs.append([(number, LIST_ITEM.sub("", line))])
        elif line.strip():
            current.append((number, line))
    if current:
        paragraphs.append(current)
    return paragraphs


def _cells(row: str) -> list[str]:
    """The cells of a markdown table row: "| Monday | Black bin |" -> Monday, Black bin."""
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _table_row(header: list[str], cells: list[str]) -> str:
    """A table row as one fact, each cell after its column's name: "Day: Monday; Bin: Black
    bin" (only the cells without a header row)."""
    named = [f"{name}: {cell}" if name else cell for name, cell in zip(header, cells) if cell]
    return "; ".join(named + [cell for cell in cells[len(header) :] if cell])


def _ends_a_line_of_its_own(line: str, following: str) -> bool:
    """A short line without a full stop before one that starts like a new item ("Front gate: 2290" /
    "Bike shed padlock: 1112") is a fact of its own, not a sentence wrapped onto the next line."""
    text, after = line.strip(), following.lstrip()
    if LABEL.match(text) and LABEL.match(after):  # "Alarm: 4000 then OFF" / "Gate: 7733"
        return True
    # a stop splits the line from the next anyway; a comma, "and" or "the" runs on to it
    stop_or_run_on = text.endswith((".", "!", "?", ",", ";", "-", "and", "or", "of", "the"))
    # a labelled line of any length is one fact ("Annual leave: 27 days; carry over 5 days")
    short = len(text) < SHORT_LINE or bool(LABEL.match(text))
    starts_new = bool(after) and (after[0].isupper() or after[0].isdigit())
    return short and not stop_or_run_on and starts_new


def _pieces(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split text[start:end] into spans of at most max_chars, breaking at a space where possible."""
    spans = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars + 1)
        cut = cut if cut > start else start + max_chars
        spans.append((start, cut))
        start = cut
    spans.append((start, end))
    return spans
