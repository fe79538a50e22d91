"""Knowledge folder: chunks point at their real lines; refresh sees every kind of change; bad
files are skipped once."""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import finishes
from tinychat import knowledge as knowledge_module
from tinychat.config import KnowledgeConfig
from tinychat.knowledge import Knowledge, split_chunks


def test_one_sentence_per_line():
    chunks = split_chunks("a.txt", "First fact here.\nSecond fact here.\n\nThird one.\n", 200)
    assert [(c.line, c.end_line, c.text) for c in chunks] == [
        (1, 1, "First fact here."),
        (2, 2, "Second fact here."),
        (4, 4, "Third one."),
    ]


def test_wrapped_paragraph_markdown_and_lists():
    text = (
        "# Velmora\n\nThe town of Velmora has 4,812 people\nand two bridges. It sits on the\n"
        "Drisk river.\n\n- one fact\n- two facts\n"
    )
    chunks = split_chunks("v.md", text, 200)
    assert [(c.line, c.end_line, c.text) for c in chunks] == [
        (3, 4, "The town of Velmora has 4,812 people and two bridges."),
        (4, 5, "It sits on the Drisk river."),
        (7, 7, "one fact"),
        (8, 8, "two facts"),
    ]
    # the heading is no chunk of its own, but the searchable subject of those below it, after the
    # file's name
    assert {c.title for c in chunks} == {"Velmora"} and chunks[
        1
    ].searchable == "v Velmora It sits on It sits on the Drisk river."


def test_a_title_holds_every_heading_above_the_chunk():
    text = (
        "# Hollin Lane Allotments\n\nNotes from the welcome pack.\n\n## Money\n- Rent: £62\n"
        "### Water\n- Levy: £8\n## Site\n- Gate code: 3300\n# Plot 14\nIt floods.\n"
    )
    titles = [(c.text, c.title) for c in split_chunks("rules.md", text, 200)]
    assert titles == [
        ("Notes from the welcome pack.", "Hollin Lane Allotments"),
        ("Rent: £62", "Hollin Lane Allotments / Money"),
        ("Levy: £8", "Hollin Lane Allotments / Money / Water"),
        ("Gate code: 3300", "Hollin Lane Allotments / Site"),  # a heading ends the deeper ones
        ("It floods.", "Plot 14"),
    ]


def test_a_lead_in_line_titles_the_lines_below_it_up_to_a_blank_line():
    text = (
        "## Chutney:\nIngredients:\n* 2 onions\n* 400 ml vinegar\n\nSimmer for two hours.\n"
        "\n---\nVet details:\nName: Moorside Vets\nPhone: 01422 344 004\n\nCar\n===\nIt is red.\n"
    )
    titles = [(c.text, c.title, c.lead_in) for c in split_chunks("chutney.md", text, 200)]
    assert titles == [
        ("2 onions", "Chutney:", "Ingredients"),  # a heading ending in ":" is still a heading
        ("400 ml vinegar", "Chutney:", "Ingredients"),
        ("Simmer for two hours.", "Chutney:", ""),  # after the blank line
        ("Name: Moorside Vets", "Chutney:", "Vet details"),  # "---" is no chunk
        ("Phone: 01422 344 004", "Chutney:", "Vet details"),
        ("It is red.", "Car", ""),  # a title underlined with "===" is a heading of level 1
    ]


def test_a_list_items_label_introduces_its_later_sentences():
    text = "- Babysitter: Freya, 07911 123 456. She charges £12 an hour.\nIt ends here. Or not.\n"
    chunks = [(c.text, c.lead_in) for c in split_chunks("contacts.md", text, 200)]
    assert chunks == [
        ("Babysitter: Freya, 07911 123 456.", ""),
        ("She charges £12 an hour.", "Babysitter"),  # "She" is the babysitter
        ("It ends here.", ""),  # a line that is no labelled item introduces nothing
        ("Or not.", ""),
    ]


def test_a_table_row_is_a_fact_of_its_own_its_cells_named_by_the_header():
    text = (
        "| Day | Bin | Out by |\n|-----|:---:|--------|\n| Monday | Black bin | 7am |\n"
        "| Thursday | Blue recycling | 6.30am |\nCall the council.\n| a | b |\n"
    )
    chunks = [(c.line, c.text) for c in split_chunks("bins.md", text, 200)]
    assert chunks == [
        (3, "Day: Monday; Bin: Black bin; Out by: 7am"),
        (4, "Day: Thursday; Bin: Blue recycling; Out by: 6.30am"),
        (5, "Call the council."),  # not part of the table
        (6, "a; b"),  # a row without a header row: its cells as they are
    ]


def test_file_path_words_are_searched_with_each_sentence():
    chunk = split_chunks("towns/north-velmora_notes.md", "It has two bridges.\n", 200)[0]
    assert (
        chunk.searchable == "towns north velmora notes It has two It has two bridges."
    )  # opening words twice
    assert chunk.text == "It has two bridges."  # the model never sees the file name


def test_long_sentences_are_cut_at_a_space():
    chunks = split_chunks("a.txt", "word " * 100, 50)
    assert len(chunks) > 5 and all(len(c.text) <= 50 for c in chunks)
    assert all(not c.text.startswith(" ") and "wor d" not in c.text for c in chunks)


SENTENCE = st.lists(
    st.sampled_from(["alpha", "beta", "Gamma", "delta", "4,812", "x"]), min_size=1, max_size=8
).map(lambda words: " ".join(words) + ".")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(SENTENCE, min_size=0, max_size=3).map(" ".join), min_size=1, max_size=12),
    st.integers(20, 120),
)
def test_chunk_words_come_from_their_lines(lines, max_chars):
    chunks = split_chunks("p.txt", "\n".join(lines), max_chars)
    for chunk in chunks:
        assert 1 <= chunk.line <= chunk.end_line <= len(lines)
        source = " ".join(lines[chunk.line - 1 : chunk.end_line]).split()
        assert chunk.text.split()[0] in source and chunk.text.split()[-1] in source
        assert set(chunk.text.split()) <= set(source)
        assert len(chunk.text) <= max_chars
    # every word of the text lands in some chunk
    assert sorted(w for c in chunks for w in c.text.split()) == sorted(
        w for line in lines for w in line.split()
    )


def test_refresh_reports_changes_and_ignores_what_it_should(tmp_path):
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("Alpha is first.\n")
    (folder / "sub" / "b.md").write_text("Beta is second.\n")
    for ignored in (".hidden.txt", "c.txt~", ".c.txt.swp", "d.pdf", ".#e.txt"):
        (folder / ignored).write_text("Ignored text.\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "f.txt").write_text("Ignored too.\n")
    knowledge = Knowledge(folder, KnowledgeConfig())
    changes = knowledge.refresh()
    assert sorted(changes.added) == ["a.txt", "sub/b.md"] and not changes.warnings
    assert not knowledge.refresh()  # nothing changed: nothing to report

    (folder / "a.txt").write_text("Alpha is now changed.\nAnd longer.\n")
    (folder / "c.txt").write_text("Gamma is new.\n")
    (folder / "sub" / "b.md").unlink()
    changes = knowledge.refresh()
    assert (changes.changed, changes.added, changes.removed) == (["a.txt"], ["c.txt"], ["sub/b.md"])
    assert [c.text for c in knowledge.chunks] == [
        "Alpha is now changed.",
        "And longer.",
        "Gamma is new.",
    ]

    os.rename(folder / "c.txt", folder / "renamed.txt")
    changes = knowledge.refresh()
    assert (changes.added, changes.removed) == (["renamed.txt"], ["c.txt"])


def notes_with_bad_files(tmp_path: Path) -> Path:
    """A notes folder with one good note, one in Latin-1 and one binary file."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "good.txt").write_text("Good text.\n")
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait.\n".encode("latin-1"))
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    return folder


def test_bad_files_warn_once_and_the_rest_is_read(tmp_path):
    folder = notes_with_bad_files(tmp_path)
    (folder / "huge.txt").write_text("x" * 3000)
    (folder / "empty.txt").write_text("")
    outside = tmp_path / "secret.txt"
    outside.write_text("Secret outside the folder.\n")
    (folder / "link.txt").symlink_to(outside)
    knowledge = Knowledge(folder, KnowledgeConfig(max_file_kb=2))
    changes = knowledge.refresh()
    assert [c.text for c in knowledge.chunks] == ["Good text."]
    assert len(changes.warnings) == 4
    for name, reason in (
        ("latin1.txt", "not UTF-8"),
        ("binary.txt", "binary"),
        ("huge.txt", "max_file_kb"),
        ("link.txt", "outside"),
    ):
        assert any(name in w and reason in w for w in changes.warnings), (name, changes.warnings)
    assert all(w.count("\n") == 0 for w in changes.warnings)
    (folder / "good.txt").write_text("Good text, edited.\n")
    assert knowledge.refresh().warnings == []  # each problem is said once, not before every answer


def saved_manifest(tmp_path: Path, text: str) -> tuple[Path, Path]:
    """(notes folder, manifest) after one scan of `a.txt` holding `text` and a saved manifest."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text(text)
    manifest = tmp_path / "state" / "manifest.json"
    first = Knowledge(folder, KnowledgeConfig(), manifest)
    first.refresh()
    assert not manifest.exists()  # written on request (after a full index, at close)
    first.save_manifest()
    return folder, manifest


def test_manifest_survives_a_restart_without_reading_files(tmp_path):
    """A note whose size and mtime match the manifest is not read again. Proven by its text:
    rewritten behind tinychat's back (same size, mtime put back), the old sentence stays."""
    folder, manifest = saved_manifest(tmp_path, "Alpha is first.\n")
    note = folder / "a.txt"
    before = note.stat()
    note.write_text("Gamma is later.\n")  # as long as the old text
    os.utime(note, ns=(before.st_atime_ns, before.st_mtime_ns))
    again = Knowledge(folder, KnowledgeConfig(), manifest)
    assert not again.refresh()  # nothing changed, as far as size and mtime tell
    assert [c.text for c in again.chunks] == ["Alpha is first."]  # so the note was not read
    os.utime(note, ns=(before.st_atime_ns, before.st_mtime_ns + 1))  # a touched note is read again
    assert again.refresh() and [c.text for c in again.chunks] == ["Gamma is later."]


def test_file_deleted_between_scan_and_read(tmp_path, monkeypatch):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha.\n")
    (folder / "b.txt").write_text("Beta.\n")
    original = knowledge_module.read_regular

    def vanish(path, limit):
        if path.name == "b.txt":
            path.unlink()
        return original(path, limit)

    monkeypatch.setattr(knowledge_module, "read_regular", vanish)
    knowledge = Knowledge(folder, KnowledgeConfig())
    changes = knowledge.refresh()
    assert [c.text for c in knowledge.chunks] == ["Alpha."]
    assert any("b.txt" in w and re.search("cannot be read", w) for w in changes.warnings)


def test_bad_utf8_can_be_read_with_replacement_characters(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "old.txt").write_bytes("The caf\xe9 opens at 8.\n".encode("latin-1"))
    knowledge = Knowledge(folder, KnowledgeConfig(bad_utf8="replace"))
    changes = knowledge.refresh()
    assert [c.text for c in knowledge.chunks] == ["The caf\ufffd opens at 8."]
    assert len(changes.warnings) == 1 and "replacement characters" in changes.warnings[0]


def test_a_file_changing_while_it_is_read_is_read_again(tmp_path, monkeypatch):
    folder = tmp_path / "notes"
    folder.mkdir()
    note = folder / "a.txt"
    note.write_text("Old text.\n")
    original = knowledge_module.read_regular

    def read_then_edit(path, limit):
        data = original(path, limit)
        if path == note and b"Old" in data:  # an editor saves while we read
            os.utime(note, ns=(1, note.stat().st_mtime_ns + 10_000_000))
            note.write_text("New text, saved meanwhile.\n")
        return data

    monkeypatch.setattr(knowledge_module, "read_regular", read_then_edit)
    knowledge = Knowledge(folder, KnowledgeConfig())
    knowledge.refresh()
    assert [c.text for c in knowledge.chunks] == ["Old text."]
    # the stat taken before the read is older than the file: read again
    changes = knowledge.refresh()
    assert changes.changed == ["a.txt"] and [c.text for c in knowledge.chunks] == [
        "New text, saved meanwhile."
    ]


HARD_SENTENCES = [
    (
        "Our vet is Dr. Patel and the surgery opens at 9 a.m. on weekdays. Call ahead.",
        ["Our vet is Dr. Patel and the surgery opens at 9 a.m. on weekdays.", "Call ahead."],
    ),
    (
        "Bring tools, e.g. a spade. The shed is at No. 4 Mill Lane.",
        ["Bring tools, e.g. a spade.", "The shed is at No. 4 Mill Lane."],
    ),
    (
        "It was built by J. R. Smith in 1911. It has 3 bells.",
        ["It was built by J. R. Smith in 1911.", "It has 3 bells."],
    ),
    (
        "The pressure is 1.5 bar. Check it monthly.",
        ["The pressure is 1.5 bar.", "Check it monthly."],
    ),
    (
        "Opens at 9 a.m. Closes at 5 p.m. Sundays closed.",
        ["Opens at 9 a.m.", "Closes at 5 p.m.", "Sundays closed."],
    ),
    ("We met at St. Anne's. Mrs. Vell sang.", ["We met at St. Anne's.", "Mrs. Vell sang."]),
    ("buy milk. call mum.", ["buy milk.", "call mum."]),
    ("Is it open? Yes! It is.", ["Is it open?", "Yes!", "It is."]),
]


def test_abbreviations_initials_and_decimals_do_not_end_a_sentence():
    for text, sentences in HARD_SENTENCES:
        assert [c.text for c in split_chunks("a.txt", text + "\n", 200)] == sentences


def test_lines_are_counted_as_editors_count_them():
    """Only \\n, \\r\\n and \\r break lines; form feed, vertical tab, NEL and U+2028/9 do not
    (grep -n agrees)."""
    for odd in ("\f", "\v", "\x1c", "\x85", "\u2028", "\u2029"):
        text = f"Page one intro.{odd}More.\nThe flarn engine burns 31 liters.\n"
        assert [c.line for c in split_chunks("a.txt", text, 200)][-1] == 2, repr(odd)
    crlf = split_chunks("a.txt", "One.\r\nTwo.\r\n\r\nThree.\r\n", 200)
    assert [(c.line, c.text) for c in crlf] == [(1, "One."), (2, "Two."), (4, "Three.")]


def test_labelled_and_short_lines_are_facts_of_their_own():
    text = (
        "Front gate: 2290\nBike shed padlock: 1112\n"
        "Alarm: 4000 then OFF (panel behind the coat hooks)\n"
        "Allotment gate: 7733, changes every January\n\n"
        "The choir was formed in Port Amsel in 1969 and has 34\n"
        "singers. It rehearses on Tuesdays.\n"
    )
    chunks = split_chunks("codes.txt", text, 200)
    assert [(c.line, c.text) for c in chunks][:4] == [
        (1, "Front gate: 2290"),
        (2, "Bike shed padlock: 1112"),
        (3, "Alarm: 4000 then OFF (panel behind the coat hooks)"),
        (4, "Allotment gate: 7733, changes every January"),
    ]
    assert (chunks[4].line, chunks[4].end_line) == (
        6,
        7,
    )  # a wrapped sentence still spans its lines
    # a long labelled line before a sentence, a label with brackets, "ext." before a number
    text = (
        "Annual leave: 27 days plus bank holidays; carry over at most 5 days\n"
        "Expenses must be claimed within 60 days.\n"
        "Alarm company (Sentrel Guard) helpline: 0800 600 1100\n"
        "Wi-Fi name: Pennyfield_Home\n"
        "IT helpdesk: ext. 4455, or 0800 313 3131 from outside\n"
    )
    lines = [(c.line, c.end_line) for c in split_chunks("office.txt", text, 200)]
    assert lines == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]


def test_warnings_are_not_repeated_on_the_next_start_until_the_file_changes(tmp_path):
    folder = notes_with_bad_files(tmp_path)
    manifest = tmp_path / "state" / "manifest.json"
    manifest.parent.mkdir()

    def start() -> list[str]:
        """A new process: a fresh Knowledge on the same manifest, refreshed, then saved."""
        knowledge = Knowledge(folder, KnowledgeConfig(), manifest=manifest)
        warnings = knowledge.refresh().warnings
        knowledge.save_manifest()
        return warnings

    assert len(start()) == 2
    assert start() == []  # the same two file versions: already said
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02binary, a new version")
    assert [w for w in start() if "binary.txt" in w and "binary" in w] and start() == []
    (folder / "latin1.txt").write_text("Now UTF-8.\n")
    assert start() == []
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait.\n".encode("latin-1"))  # broken again
    assert len(start()) == 1


# ---------------------------------------------------------------------------- hostile folders


def test_only_regular_files_are_read_and_the_rest_is_said_once(tmp_path, monkeypatch):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "good.txt").write_text("Good text.\n")
    os.mkfifo(folder / "fifo.txt")  # a read would wait for a writer forever
    (folder / "folder.txt").mkdir()  # a folder named like a note is walked, not read
    (folder / "loop.txt").symlink_to(".")  # a link to the folder itself
    (folder / "to-fifo.txt").symlink_to("fifo.txt")
    kinds = {
        "fifo.txt": "is a FIFO (named pipe), not a regular file",
        "loop.txt": "is a link to the knowledge folder itself",
        "to-fifo.txt": "is a FIFO",
    }
    try:  # a character device reads zeros without end (only root may make one)
        os.mknod(folder / "zero.txt", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
        kinds["zero.txt"] = "is a character device, not a regular file"
    except PermissionError:
        pass
    knowledge = Knowledge(folder, KnowledgeConfig())
    changes = finishes(knowledge.refresh)
    assert [c.text for c in knowledge.chunks] == ["Good text."]
    for name, reason in kinds.items():
        said = [w for w in changes.warnings if f"notes/{name} {reason}" in w]
        assert len(said) == 1 and said[0].endswith("skipped"), name
    assert len(changes.warnings) == len(kinds)
    assert finishes(knowledge.refresh).warnings == []  # said once

    # A note replaced by a FIFO between the scan and the read: the opened file is checked.
    original = knowledge_module.read_regular

    def swap_then_read(path, limit):
        path.unlink()
        os.mkfifo(path)
        return original(path, limit)

    (folder / "good.txt").write_text("Good text, edited.\n")
    monkeypatch.setattr(knowledge_module, "read_regular", swap_then_read)
    changes = finishes(knowledge.refresh)
    assert any("good.txt is a FIFO" in w for w in changes.warnings) and knowledge.chunks == []


def test_unreadable_subfolder_is_said_once(tmp_path, monkeypatch):
    folder = tmp_path / "notes"
    (folder / "secret").mkdir(parents=True)
    (folder / "a.txt").write_text("Alpha.\n")
    (folder / "secret" / "gem.txt").write_text("The gem weighs 77 grams.\n")
    scandir = os.scandir

    def forbidden(path):  # what chmod 000 does to anyone but root
        if str(path).endswith("secret"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", forbidden)
    knowledge = Knowledge(folder, KnowledgeConfig())
    changes = knowledge.refresh()
    assert [c.text for c in knowledge.chunks] == ["Alpha."]
    assert changes.warnings == [
        f"warning: {folder}/secret is a folder that cannot be read (Permission denied); skipped"
    ]
    assert knowledge.refresh().warnings == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_read(tmp_path, encoding):
    folder = tmp_path / "notes"
    folder.mkdir()
    text = "Intro.\n\nThe zorblax fuel has 4812 units.\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    (folder / "u.txt").write_bytes(data)
    knowledge = Knowledge(folder, KnowledgeConfig())
    changes = knowledge.refresh()
    assert changes.warnings == []
    lines = [(c.line, c.text) for c in knowledge.chunks]
    assert lines == [(1, "Intro."), (3, "The zorblax fuel has 4812 units.")]


def test_file_names_that_are_not_utf8_are_indexed(tmp_path):
    from tinychat.retrieval import FeatureCache, build_retriever

    folder = tmp_path / "notes"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9 menu.txt")  # Latin-1, as unpacked from an old zip
    (folder / name).write_text("The cafe opens at 8.\n")
    manifest = tmp_path / "state" / "manifest.json"
    knowledge = Knowledge(folder, KnowledgeConfig(), manifest)
    knowledge.refresh()
    assert [c.path for c in knowledge.chunks] == [name] and len(knowledge.fingerprint()) == 64
    cache = FeatureCache(tmp_path / "state" / "index-cache.npz")
    index = build_retriever("tfidf", knowledge.chunks, np.zeros((97, 4), np.float32), cache)
    assert index.search("when does the cafe open?", 1)[0].chunk.path == name
    knowledge.save_manifest()
    again = Knowledge(folder, KnowledgeConfig(), manifest)
    assert not again.refresh() and again.fingerprint() == knowledge.fingerprint()
    assert FeatureCache(tmp_path / "state" / "index-cache.npz").count_rows  # the cache reloads


def test_a_folder_past_its_budget_is_refused_before_the_scan_ends(tmp_path, monkeypatch):
    from tinychat.scan import KnowledgeTooLarge

    folder = tmp_path / "notes"
    for part in range(6):
        (folder / f"part{part}").mkdir(parents=True)
        for number in range(10):
            (folder / f"part{part}" / f"n{number}.png").write_bytes(b"")  # files of any kind count
    listed = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(path) or scandir(path))
    with pytest.raises(
        KnowledgeTooLarge,
        match=r"holds more than 15 files \(knowledge.max_files\);"
        r" check --knowledge, or raise knowledge.max_",
    ):
        Knowledge(folder, KnowledgeConfig(max_files=15)).refresh()
    assert len(listed) <= 3  # the root and two of the six subfolders: it stopped at once
    assert Knowledge(folder, KnowledgeConfig(max_files=0)).refresh() == knowledge_module.Changes()

    (folder / "big1.txt").write_text("Big text. " * 70_000)
    (folder / "big2.txt").write_text("Big text. " * 70_000)
    with pytest.raises(KnowledgeTooLarge, match=r"more than 1 MB of notes \(knowledge.max_total"):
        Knowledge(folder, KnowledgeConfig(max_total_mb=1)).refresh()


MANIFESTS = ["null", "[]", "42", '"x"', "{", "", '{"files": []}', "[" * 100_000 + "]" * 100_000]
FIELDS = [
    ("line", "7"),
    ("line", 0),
    ("end_line", None),
    ("text", 5),
    ("title", []),
    ("size", "1"),
    ("mtime_ns", 1.5),
    ("sha256", None),
    ("chunks", "x"),
    ("chunks", [[1, 1, "t"]]),
    ("line", True),
]


@pytest.mark.parametrize(
    "damage", MANIFESTS + FIELDS, ids=[repr(d)[:20] for d in MANIFESTS + FIELDS]
)
def test_a_damaged_manifest_is_ignored_and_rewritten(tmp_path, damage):
    folder, manifest = saved_manifest(tmp_path, "Alpha is first.\nBeta is second.\n")
    if isinstance(damage, str):
        manifest.write_text(damage)
    else:  # one field of a good manifest with the wrong type or value
        data = json.loads(manifest.read_text())
        entry = data["files"]["a.txt"]
        key, value = damage
        if key in ("line", "end_line", "text", "title"):
            entry["chunks"][0][["line", "end_line", "text", "title"].index(key)] = value
        else:
            entry[key] = value
        manifest.write_text(json.dumps(data))
    again = Knowledge(folder, KnowledgeConfig(), manifest)
    changes = again.refresh()
    assert changes.added == ["a.txt"]  # read again, as if there were no manifest
    lines = [(c.line, c.text) for c in again.chunks]
    assert lines == [(1, "Alpha is first."), (2, "Beta is second.")]
    again.save_manifest()
    assert Knowledge(folder, KnowledgeConfig(), manifest).chunks == again.chunks  # rewritten whole


def test_a_fifo_manifest_does_not_hang(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha is first.\n")
    (tmp_path / "state").mkdir()
    os.mkfifo(tmp_path / "state" / "manifest.json")
    manifest = tmp_path / "state" / "manifest.json"
    knowledge = finishes(lambda: Knowledge(folder, KnowledgeConfig(), manifest))
    assert finishes(knowledge.refresh).added == ["a.txt"]
