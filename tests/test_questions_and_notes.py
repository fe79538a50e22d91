"""What a note or a question holds that it should not: zero-width characters pasted from web
pages, and a question megabytes long. Every way of asking passes through ChatSession.prepare,
so that is where a question is made fit."""

from __future__ import annotations

import io
import json
import tracemalloc

from tests.conftest import write_notes
from tinychat.cli import answer_lines
from tinychat.config import KnowledgeConfig
from tinychat.knowledge import Knowledge

ZERO_WIDTH = (
    "The zor\u200bblax fuel has 48\u200d12 units.\n"
    "\ufeffThe quux\ufeffite gem weighs 77 gr\u2060ams.\nIt is b\u200clue.\n"
)


def test_zero_width_characters_are_dropped_from_notes(tmp_path):
    folder = write_notes(tmp_path / "notes", {"zw.txt": ZERO_WIDTH})
    knowledge = Knowledge(folder, KnowledgeConfig())
    knowledge.refresh()
    assert [(chunk.line, chunk.text) for chunk in knowledge.chunks] == [
        (1, "The zorblax fuel has 4812 units."),
        (2, "The quuxite gem weighs 77 grams."),
        (3, "It is blue."),
    ]


def test_zero_width_characters_are_dropped_from_questions(session):
    answer = session.ask("when does the fer\u200bry lea\ufeffve?")
    assert answer.query == "when does the ferry leave?"
    assert answer.sources[0].chunk.path == "ferry.md"


def test_a_question_megabytes_long_is_cut_with_a_notice(session):
    notices: list[str] = []
    session.on_notice = notices.append
    line = "when does the ferry leave? " + "ferry " * 200_000  # 1.2 MB on one line
    out = io.StringIO()
    tracemalloc.start()
    try:
        code = answer_lines(session, [line.encode()], out, as_json=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 0 and peak < 60_000_000, f"{peak:,} bytes allocated"
    record = json.loads(out.getvalue())
    assert len(record["query"]) == 4096 and record["sources"][0]["path"] == "ferry.md"
    said = "note: the question is 1,200,026 characters long; only its first 4,096 are read"
    assert notices == [said]
