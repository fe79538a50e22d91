"""Knowledge folder: chunks point at their real lines; refresh sees every kind of change; bad files are skipped once."""

from __future__ import annotations

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tinychat.config import KnowledgeConfig
from tinychat.knowledge import Knowledge, split_chunks


def test_one_sentence_per_line():
    chunks = split_chunks("a.txt", "First fact here.\nSecond fact here.\n\nThird one.\n", 200)
    assert [(c.line, c.end_line, c.text) for c in chunks] == [
        (1, 1, "First fact here."), (2, 2, "Second fact here."), (4, 4, "Third one.")]


def test_wrapped_paragraph_markdown_and_lists():
    text = "# Velmora\n\nThe town of Velmora has 4,812 people\nand two bridges. It sits on the\nDrisk river.\n\n- one fact\n- two facts\n"
    chunks = split_chunks("v.md", text, 200)
    assert [(c.line, c.end_line, c.text) for c in chunks] == [
        (3, 4, "The town of Velmora has 4,812 people and two bridges."),
        (4, 5, "It sits on the Drisk river."),
        (7, 7, "one fact"),
        (8, 8, "two facts"),
    ]
    # the heading is no chunk of its own, but the searchable subject of those below it, after the file's name
    assert {c.title for c in chunks} == {"Velmora"} and chunks[1].searchable == "v Velmora It sits on It sits on the Drisk river."


def test_file_path_words_are_searched_with_each_sentence():
    chunk = split_chunks("towns/north-velmora_notes.md", "It has two bridges.\n", 200)[0]
    assert chunk.searchable == "towns north velmora notes It has two It has two bridges."  # opening words twice
    assert chunk.text == "It has two bridges."  # the model never sees the file name


def test_long_sentences_are_cut_at_a_space():
    chunks = split_chunks("a.txt", "word " * 100, 50)
    assert len(chunks) > 5 and all(len(c.text) <= 50 for c in chunks)
    assert all(not c.text.startswith(" ") and "wor d" not in c.text for c in chunks)


SENTENCE = st.lists(st.sampled_from(["alpha", "beta", "Gamma", "delta", "4,812", "x"]), min_size=1, max_size=8).map(
    lambda words: " ".join(words) + "."
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(SENTENCE, min_size=0, max_size=3).map(" ".join), min_size=1, max_size=12), st.integers(20, 120))
def test_chunk_words_come_from_their_lines(lines, max_chars):
    chunks = split_chunks("p.txt", "\n".join(lines), max_chars)
    for chunk in chunks:
        assert 1 <= chunk.line <= chunk.end_line <= len(lines)
        source = " ".join(lines[chunk.line - 1 : chunk.end_line]).split()
        assert chunk.text.split()[0] in source and chunk.text.split()[-1] in source
        assert set(chunk.text.split()) <= set(source)
        assert len(chunk.text) <= max_chars
    # every word of the text lands in some chunk
    assert sorted(w for c in chunks for w in c.text.split()) == sorted(w for line in lines for w in line.split())


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
    assert [c.text for c in knowledge.chunks] == ["Alpha is now changed.", "And longer.", "Gamma is new."]

    os.rename(folder / "c.txt", folder / "renamed.txt")
    changes = knowledge.refresh()
    assert (changes.added, changes.removed) == (["renamed.txt"], ["c.txt"])


def test_bad_files_warn_once_and_the_rest_is_read(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "good.txt").write_text("Good text.\n")
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait.\n".encode("latin-1"))
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (folder / "huge.txt").write_text("x" * 3000)
    (folder / "empty.txt").write_text("")
    outside = tmp_path / "secret.txt"
    outside.write_text("Secret outside the folder.\n")
    (folder / "link.txt").symlink_to(outside)
    knowledge = Knowledge(folder, KnowledgeConfig(max_file_kb=2))
    changes = knowledge.refresh()
    assert [c.text for c in knowledge.chunks] == ["Good text."]
    assert len(changes.warnings) == 4
    for name, reason in (("latin1.txt", "not UTF-8"), ("binary.txt", "binary"), ("huge.txt", "max_file_kb"),
                         ("link.txt", "outside")):  # fmt: skip
        assert any(name in w and reason in w for w in changes.warnings), (name, changes.warnings)
    assert all(w.count("\n") == 0 for w in changes.warnings)
    (folder / "good.txt").write_text("Good text, edited.\n")
    assert knowledge.refresh().warnings == []  # each problem is said once, not before every answer


def test_manifest_survives_a_restart_without_reading_files(tmp_path, monkeypatch):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha is first.\n")
    manifest = tmp_path / "state" / "manifest.json"
    first = Knowledge(folder, KnowledgeConfig(), manifest)
    first.refresh()
    assert not manifest.exists()  # written on request (after a full index, at close), not per change
    first.save_manifest()
    reads = []
    original = type(folder).read_bytes
    monkeypatch.setattr(type(folder), "read_bytes", lambda self: reads.append(self) or original(self))
    again = Knowledge(folder, KnowledgeConfig(), manifest)
    assert not again.refresh() and reads == []  # nothing changed, nothing read
    assert [c.text for c in again.chunks] == ["Alpha is first."]


def test_file_deleted_between_scan_and_read(tmp_path, monkeypatch):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha.\n")
    (folder / "b.txt").write_text("Beta.\n")
    original = type(folder).read_bytes

    def vanish(self):
        if self.name == "b.txt":
            self.unlink()
        return original(self)

    monkeypatch.setattr(type(folder), "read_bytes", vanish)
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
    original = type(folder).read_bytes

    def read_then_edit(self):
        data = original(self)
        if self == note and b"Old" in data:  # an editor saves while we read
            os.utime(note, ns=(1, note.stat().st_mtime_ns + 10_000_000))
            note.write_text("New text, saved meanwhile.\n")
        return data

    monkeypatch.setattr(type(folder), "read_bytes", read_then_edit)
    knowledge = Knowledge(folder, KnowledgeConfig())
    knowledge.refresh()
    assert [c.text for c in knowledge.chunks] == ["Old text."]
    changes = knowledge.refresh()  # the stat taken before the read is older than the file: read again
    assert changes.changed == ["a.txt"] and [c.text for c in knowledge.chunks] == ["New text, saved meanwhile."]


HARD_SENTENCES = [
    ("Our vet is Dr. Patel and the surgery opens at 9 a.m. on weekdays. Call ahead.",
     ["Our vet is Dr. Patel and the surgery opens at 9 a.m. on weekdays.", "Call ahead."]),
    ("Bring tools, e.g. a spade. The shed is at No. 4 Mill Lane.",
     ["Bring tools, e.g. a spade.", "The shed is at No. 4 Mill Lane."]),
    ("It was built by J. R. Smith in 1911. It has 3 bells.", ["It was built by J. R. Smith in 1911.", "It has 3 bells."]),
    ("The pressure is 1.5 bar. Check it monthly.", ["The pressure is 1.5 bar.", "Check it monthly."]),
    ("Opens at 9 a.m. Closes at 5 p.m. Sundays closed.", ["Opens at 9 a.m.", "Closes at 5 p.m.", "Sundays closed."]),
    ("We met at St. Anne's. Mrs. Vell sang.", ["We met at St. Anne's.", "Mrs. Vell sang."]),
    ("buy milk. call mum.", ["buy milk.", "call mum."]),
    ("Is it open? Yes! It is.", ["Is it open?", "Yes!", "It is."]),
]


def test_abbreviations_initials_and_decimals_do_not_end_a_sentence():
    for text, sentences in HARD_SENTENCES:
        assert [c.text for c in split_chunks("a.txt", text + "\n", 200)] == sentences


def test_lines_are_counted_as_editors_count_them():
    """Only \\n, \\r\\n and \\r break lines; form feed, vertical tab, NEL and U+2028/9 do not (grep -n agrees)."""
    for odd in ("\f", "\v", "\x1c", "\x85", "\u2028", "\u2029"):
        text = f"Page one intro.{odd}More.\nThe flarn engine burns 31 liters.\n"
        assert [c.line for c in split_chunks("a.txt", text, 200)][-1] == 2, repr(odd)
    crlf = split_chunks("a.txt", "One.\r\nTwo.\r\n\r\nThree.\r\n", 200)
    assert [(c.line, c.text) for c in crlf] == [(1, "One."), (2, "Two."), (4, "Three.")]


def test_labelled_and_short_lines_are_facts_of_their_own():
    text = ("Front gate: 2290\nBike shed padlock: 1112\nAlarm: 4000 then OFF (panel behind the coat hooks)\n"
            "Allotment gate: 7733, changes every January\n\nThe choir was formed in Port Amsel in 1969 and has 34\n"
            "singers. It rehearses on Tuesdays.\n")
    chunks = split_chunks("codes.txt", text, 200)
    assert [(c.line, c.text) for c in chunks][:4] == [
        (1, "Front gate: 2290"), (2, "Bike shed padlock: 1112"), (3, "Alarm: 4000 then OFF (panel behind the coat hooks)"),
        (4, "Allotment gate: 7733, changes every January")]
    assert (chunks[4].line, chunks[4].end_line) == (6, 7)  # a wrapped sentence still spans its lines


def test_warnings_are_not_repeated_on_the_next_start_until_the_file_changes(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "good.txt").write_text("Good text.\n")
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait.\n".encode("latin-1"))
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02binary")
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
