"""The chat session: JSON fields, no context at top-k 0, greedy answers fixed by two
implementations, and a knowledge folder that changes between answers."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.conftest import with_paths
from tinychat.chat import ChatSession


def keras_greedy(model_checkpoint, prompt: str, max_chars: int) -> str:
    """Greedy decoding by re-running the whole Keras model for every character (no cache)."""
    from tinychat.model import build_model, set_arrays
    from tinychat.vocab import NEWLINE_ID, decode, encode

    model = build_model(model_checkpoint.config)
    set_arrays(model, model_checkpoint.arrays)
    ids = list(encode(prompt))
    out = []
    for _ in range(max_chars):
        token = int(np.argmax(np.asarray(model(np.array([ids], np.int32)))[0, -1]))
        if token == NEWLINE_ID:
            break
        out.append(token)
        ids.append(token)
    return decode(out)


def test_greedy_answer_is_fixed_and_agrees_with_keras(trained, tmp_path):
    config, model = trained
    shutil.copytree(config.paths.knowledge, tmp_path / "notes")
    one = ChatSession(with_paths(config, tmp_path), model).ask("when does the ferry leave?")
    two = ChatSession(with_paths(config, tmp_path), model).ask("when does the ferry leave?")
    assert one.text == two.text and one.prompt == two.prompt and len(one.text) > 0
    assert keras_greedy(model, one.prompt, config.generation.max_answer_chars) == one.text
    assert np.allclose(
        one.probabilities, [d.max() for d in one.distributions]
    )  # greedy picks the maximum


def test_json_fields_and_sources(session):
    record = session.ask("when does the ferry leave?").to_json()
    assert set(record) == {
        "query",
        "answer",
        "abstained",
        "weak",
        "searched",
        "sources",
        "closest",
        "retrieved_only",
    }
    assert record["abstained"] is False and record["searched"] == "when does the ferry leave?"
    assert record["sources"] and record["sources"][0] == {
        "path": "ferry.md",
        "line": 3,
        "end_line": 3,
        "score": record["sources"][0]["score"],
        "text": "The ferry to Brisk leaves at 7 every morning.",
    }
    assert record["closest"] == [] and record["retrieved_only"] is False
    scores = [s["score"] for s in record["sources"]]
    assert scores == sorted(scores, reverse=True)


def test_a_declined_answer_s_closest_sentences_are_apart_from_its_sources(session):
    """A program reading `sources` must not take sentences that were not used for ones that were."""
    answer = session.ask("what is the capital of france?")
    record = answer.to_json()
    assert record["abstained"] is True and record["sources"] == []
    assert record["closest"] and all(set(s) >= {"path", "line", "text"} for s in record["closest"])
    assert [s["text"] for s in record["closest"]] == [hit.chunk.text for hit in answer.sources]
    assert answer.cited == []  # a declined answer cites nothing


def test_top_k_zero_uses_no_context(session):
    session.top_k = 0
    answer = session.ask("when does the ferry leave?")
    assert answer.sources == [] and answer.prompt.startswith("[CONTEXT]\n[QUERY]\n")


def test_knowledge_changes_between_answers(session, tmp_path):
    notes = tmp_path / "notes"
    (notes / "zeppelin.txt").write_text("The zeppelin Quorvax carries 310 passengers.\n")
    first = session.ask("how many passengers on the zeppelin quorvax?")
    assert first.sources[0].chunk.path == "zeppelin.txt" and "re-indexed" in session.reindexed

    (notes / "zeppelin.txt").write_text(
        "A first line.\nThe zeppelin Quorvax now carries 420 passengers.\n"
    )
    edited = session.ask("how many passengers on the zeppelin quorvax?")
    top = edited.sources[0].chunk
    assert (top.path, top.line, "420" in top.text) == ("zeppelin.txt", 2, True)

    (notes / "zeppelin.txt").rename(notes / "airship.txt")
    renamed = session.ask("how many passengers on the zeppelin quorvax?")
    assert renamed.sources[0].chunk.path == "airship.txt"

    (notes / "airship.txt").unlink()
    gone = session.ask("how many passengers on the zeppelin quorvax?")
    assert all(hit.chunk.path not in ("zeppelin.txt", "airship.txt") for hit in gone.sources)


def test_binary_and_latin1_files_beside_good_ones(session, tmp_path):
    notices = []
    session.on_notice = notices.append
    (tmp_path / "notes" / "image.txt").write_bytes(b"\x89PNG\x00\x00binary")
    (tmp_path / "notes" / "old.txt").write_bytes("caf\xe9 latin-1.\n".encode("latin-1"))
    answer = session.ask("when does the ferry leave?")
    assert answer.sources and all(
        hit.chunk.path not in ("image.txt", "old.txt") for hit in answer.sources
    )
    assert any("image.txt" in n for n in notices) and any("old.txt" in n for n in notices)


def test_restart_re_embeds_nothing(trained, tmp_path):
    config, model = trained
    shutil.copytree(config.paths.knowledge, tmp_path / "notes")
    first = ChatSession(with_paths(config, tmp_path), model)
    assert first.cache.computed == len(first.knowledge.chunks)
    second = ChatSession(with_paths(config, tmp_path), model)
    assert second.cache.computed == 0  # counted, not timed


def test_answers_stop_cleanly(session):
    for query in ("keras", "ferry bicycles", "what is tensorflow?", "zzz"):
        answer = session.ask(query)
        assert (
            "\n" not in answer.text
            and len(answer.text) <= session.config.generation.max_answer_chars
        )


def test_stale_notice_counts_files_changed_since_training(session, tmp_path):
    assert session.stale == ""
    (tmp_path / "notes" / "new.txt").write_text("A new note.\n")
    (tmp_path / "notes" / "keras.txt").write_text("Keras, edited.\n")
    session.sync()
    assert session.stale == "model trained before 2 files changed: /retrain"
    (tmp_path / "notes" / "new.txt").unlink()
    session.sync()
    assert session.stale == "model trained before 1 file changed: /retrain"


def test_a_cache_damaged_while_running_is_rewritten_at_close(trained, tmp_path):
    from tinychat.retrieval import CACHE_NAME, FeatureCache

    config, model = trained
    shutil.copytree(config.paths.knowledge, tmp_path / "notes")
    cache = tmp_path / "state" / CACHE_NAME
    with ChatSession(with_paths(config, tmp_path), model) as session:
        session.ask("when does the ferry leave?")
        cache.write_bytes(cache.read_bytes()[:100])  # truncated by something else meanwhile
        session.ask("how many bicycles does the ferry carry?")
    assert len(FeatureCache(cache).count_rows) == len(session.knowledge.chunks)  # whole again
    cache.unlink()  # deleted meanwhile: written again too
    with ChatSession(with_paths(config, tmp_path), model) as session:
        assert session.cache.computed == len(session.knowledge.chunks)
        cache.unlink()
    assert len(FeatureCache(cache).count_rows) == len(session.knowledge.chunks)


def test_a_character_outside_the_vocabulary_is_shown_as_the_context_writes_it(
    session, monkeypatch
):
    """The model reads "£" and "°" as one unknown id and writes that id back when it copies
    them, and "Inês" as "Ines"; the answer shows what it copied as the note writes it."""
    from tinychat.vocab import NEWLINE_ID, UNKNOWN_ID, VOCAB_SIZE, encode

    answer = session.prepare("when does the ferry leave?")
    assert not answer.abstained
    answer.context = ["A ticket from Inês is £4; bake at 170°C."]
    answer.prompt = f"[CONTEXT]\n{answer.context[0]}\n[QUERY]\nq\n[ANSWER]\n"
    script = [*encode("A ticket from Ines is "), UNKNOWN_ID, *encode("4; 170"), UNKNOWN_ID]
    script.append(NEWLINE_ID)
    calls = []

    def step(token):
        calls.append(token)
        probs = np.full(VOCAB_SIZE, 1e-6)
        probs[script[len(calls) - 1]] = 1.0  # the prompt's last character is the first step
        return probs / probs.sum()

    monkeypatch.setattr(session.runtime, "prefill", lambda ids: None)
    monkeypatch.setattr(session.runtime, "step", step)
    session.temperature = 0.0
    assert "".join(session.generate(answer)) == "A ticket from Inês is £4; 170°"
    assert answer.text == "A ticket from Inês is £4; 170°"


def test_unusable_probabilities_are_one_line(session, monkeypatch):
    """Weights that pass the load checks yet overflow still give one line, at any temperature."""
    from tinychat.errors import TinychatError

    for temperature, failure in ((0.0, np.nan), (0.7, np.nan), (0.0, OverflowError)):
        session.temperature = temperature

        def step(token, failure=failure):
            if failure is OverflowError:
                raise OverflowError("math range error")  # math.exp in the copy gate
            return np.full(97, failure)

        monkeypatch.setattr(session.runtime, "step", step)
        with pytest.raises(TinychatError, match="no usable probabilities.*train --fresh"):
            session.ask("when does the ferry leave?")


def test_info_and_ask_on_mistyped_metadata(trained, tmp_path, capsys):
    import json

    import h5py

    from tinychat.cli import main
    from tinychat.info import describe

    config, _ = trained
    shutil.copytree(config.paths.knowledge, tmp_path / "notes")
    shutil.copytree(config.paths.state, tmp_path / "state")
    with h5py.File(tmp_path / "state" / "checkpoint.h5", "r+") as file:
        header = json.loads(file.attrs["tinychat"])
        file.attrs["tinychat"] = json.dumps({**header, "knowledge": None})
    lines = describe(with_paths(config, tmp_path)).splitlines()
    assert any(line.startswith("checkpoint   ") and "knowledge is null" in line for line in lines)
    tiny = "model: {window: 128}\ngeneration: {max_answer_chars: 40}"
    (tmp_path / "tinychat.yaml").write_text(tiny)
    assert main(["--knowledge", "notes", "--state", "state", "ask", "ferry?"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "knowledge is null, expected a mapping" in err


@pytest.mark.parametrize("notes", [{"a.md": "# Title\n\n## Sub\n"}, {"a.txt": ""}, {"b.txt": "\n"}])
def test_notes_without_a_sentence_are_one_line(trained, tmp_path, notes):
    from tests.conftest import write_notes
    from tinychat.errors import TinychatError

    config, model = trained
    write_notes(tmp_path / "notes", notes)
    with pytest.raises(TinychatError, match=r"notes: no .txt or .md text found \(blank files and"):
        ChatSession(with_paths(config, tmp_path), model)


def test_notes_emptied_while_running_are_not_answered_from_the_old_index(session, tmp_path):
    from tinychat.errors import TinychatError

    assert session.ask("when does the ferry leave?").sources
    for path in (tmp_path / "notes").iterdir():
        path.write_text("# Only a heading now\n")
    for _ in range(2):  # the second time nothing changed on disk: still no old sentences
        with pytest.raises(TinychatError, match="no .txt or .md text found"):
            session.ask("when does the ferry leave?")
    (tmp_path / "notes" / "ferry.md").write_text("The ferry to Brisk leaves at 9.\n")
    top = session.ask("when does the ferry leave?").sources[0].chunk
    assert top.text == "The ferry to Brisk leaves at 9."


@pytest.mark.parametrize("as_json", [False, True])
def test_a_pipe_outlives_a_moment_without_the_notes_folder(session, tmp_path, capsys, as_json):
    import io
    import json

    from tinychat.cli import answer_lines

    notes = tmp_path / "notes"

    def questions():
        yield b"when does the ferry leave?\n"
        notes.rename(tmp_path / "away")  # e.g. a git checkout or an rsync --delete
        yield b"how many bicycles does the ferry carry?\n"
        (tmp_path / "away").rename(notes)
        yield b"what is keras?\n"

    out = io.StringIO()
    assert answer_lines(session, questions(), out, as_json) == 1  # one question failed
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # one line per question, the failed one included
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tinychat: ") and "folder not found" in err
    if as_json:
        records = [json.loads(line) for line in lines]
        error = err.removeprefix("tinychat: ").strip()
        assert records[1] == {
            "query": "how many bicycles does the ferry carry?",
            "answer": "",
            "abstained": False,
            "weak": "",
            "searched": "how many bicycles does the ferry carry?",
            "sources": [],
            "closest": [],
            "retrieved_only": False,
            "error": error,
        }
        assert "error" not in records[0] and "error" not in records[2] and records[2]["sources"]
    else:
        assert lines[1] == "" and lines[0] and lines[2]
