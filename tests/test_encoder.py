"""The encoder stage (`retrieval.encoder`), with a tiny model made here: a word-level tokenizer and
an ONNX graph that looks up one row per word, so each sentence's vector is known in advance.

In its table "sails" and "travel" point one way and "called" and "name" another, so "how does
the boat travel?" (whose words, but for the subject, are in no note) finds "It sails from the
harbour at dawn." only with the encoder's cosine added to the lexical score."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.cli_support import env
from tests.conftest import write_notes
from tinychat.chat import ChatSession
from tinychat.config import Config, PathsConfig, RetrievalConfig, load_config
from tinychat.errors import TinychatError

HAS_EXTRA = all(importlib.util.find_spec(name) for name in ("onnxruntime", "tokenizers", "onnx"))
needs_extra = pytest.mark.skipif(
    not HAS_EXTRA,
    reason='the encoder extra is not installed: pip install -e ".[test]" brings it',
)

NOTES = {
    "boat.txt": "The boat is called Kittiwake.\nIt sails from the harbour at dawn.\n",
    "garden.txt": "The garden has three apple trees.\nThe shed holds the mower.\n",
}
QUESTION = "how does the boat travel?"
NAME_SENTENCE = "The boat is called Kittiwake."  # first by file and line when the words tie
TRAVEL_SENTENCE = "It sails from the harbour at dawn."
WIDTH = 4
# each word's row: every word has 1 on the first axis; these also point along another
DIRECTIONS = {"sails": 1, "travel": 1, "called": 2, "name": 2, "apple": 3}
WORDS = sorted(
    {"[UNK]", *DIRECTIONS}
    | set(" ".join([*NOTES.values(), QUESTION, "boat", "garden"]).lower().replace(".", " ").split())
)


def word_row(word: str) -> np.ndarray:
    row = np.zeros(WIDTH, np.float32)
    row[0] = 1.0
    if word in DIRECTIONS:
        row[DIRECTIONS[word]] = 4.0
    return row


def make_model(folder: Path) -> Path:
    """A folder `retrieval.encoder` loads: tokenizer.json (whole lower-case words) and model.onnx
    (input_ids -> the table's rows, attention_mask taken and unused)."""
    import onnx
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {word: i for i, word in enumerate(WORDS)}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    table = np.stack([word_row(word) for word in WORDS])
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)],
        "rows",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", WIDTH]
            )
        ],
        [helper.make_tensor("table", TensorProto.FLOAT, table.shape, table.flatten().tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every ONNX Runtime the extra allows
    onnx.save(model, str(folder / "model.onnx"))
    return folder


def expected_vector(text: str) -> np.ndarray:
    """What the stage should make of `text`: the mean of its words' rows, at unit length."""
    words = text.lower().replace(".", " . ").replace("?", " ? ").replace(":", " : ").split()
    mean = np.mean([word_row(word) for word in words], axis=0)
    return mean / np.linalg.norm(mean)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    if not HAS_EXTRA:
        pytest.skip("the encoder extra is not installed")
    return make_model(tmp_path_factory.mktemp("encoder") / "tiny")


def config_for(folder: Path, encoder: str) -> Config:
    """Retrieval alone (no weights needed) over `folder/notes`, state in `folder/state`."""
    return Config(
        retrieval=RetrievalConfig(encoder=encoder),
        paths=PathsConfig(knowledge=folder / "notes", state=folder / "state"),
    )


@pytest.fixture
def notes(tmp_path) -> Path:
    write_notes(tmp_path / "notes", NOTES)
    return tmp_path


@pytest.fixture
def encoded(monkeypatch) -> list[str]:
    """Every text the encoder is given, in order (sentences and questions alike)."""
    from tinychat.retrieval.encoder_model import Encoder

    texts: list[str] = []
    encode = Encoder.encode

    def counting(self, batch, *args, **kwargs):
        texts.extend(batch)
        return encode(self, batch, *args, **kwargs)

    monkeypatch.setattr(Encoder, "encode", counting)
    return texts


def top(session: ChatSession, question: str = QUESTION) -> str:
    answer = session.ask(question)
    return answer.sources[0].chunk.text


# ---------------------------------------------------------------------------- the ranking


@needs_extra
def test_the_encoder_cosine_is_added_to_the_lexical_score(notes, model_folder):
    from tinychat.retrieval.encoder import scaled

    with ChatSession(config_for(notes, "none"), None) as words_alone:
        assert top(words_alone) == NAME_SENTENCE  # "travel" is in no note: the subject ties
    with ChatSession(config_for(notes, str(model_folder)), None) as session:
        assert top(session) == TRAVEL_SENTENCE
        lexical = session.retriever.lexical
        chunks = lexical.chunks
        vectors = np.stack([expected_vector(f"{lexical.subject(c)}: {c.text}") for c in chunks])
        cosine = vectors @ expected_vector(QUESTION)
        rows = np.ones(len(chunks), bool)
        expected = scaled(lexical.scores(QUESTION), rows) + scaled(cosine, rows)
        found = {hit.chunk.text: hit.score for hit in session.retrieve(QUESTION)}
        for chunk, score in zip(chunks, expected):
            assert found[chunk.text] == pytest.approx(score, abs=1e-5), chunk.text


@needs_extra
def test_the_model_folder_may_be_written_relative_to_the_config_file(tmp_path, model_folder):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("retrieval:\n  encoder: ../models/tiny\n")
    make_model(tmp_path / "models" / "tiny")
    assert load_config(tmp_path / "sub" / "c.yaml").retrieval.encoder == str(
        tmp_path / "sub" / ".." / "models" / "tiny"
    )
    (tmp_path / "name.yaml").write_text("retrieval:\n  encoder: someone/some-model\n")
    assert load_config(tmp_path / "name.yaml").retrieval.encoder == "someone/some-model"


@pytest.mark.parametrize(
    "yaml_text, problem",
    [
        ("retrieval:\n  encoder: ''\n", "retrieval.encoder='' must be none, a model name"),
        ("retrieval:\n  encoder: 3\n", "retrieval.encoder=3 must be a string"),
        (
            "retrieval:\n  encoder: some/model\n  retriever: hybrid\n",
            "retrieval.encoder adds to the tfidf ranking",
        ),
    ],
)
def test_a_wrong_encoder_setting_is_one_line(tmp_path, yaml_text, problem):
    (tmp_path / "c.yaml").write_text(yaml_text)
    with pytest.raises(TinychatError, match=problem):
        load_config(tmp_path / "c.yaml")


# ---------------------------------------------------------------------------- vectors on disk


@needs_extra
def test_vectors_are_kept_and_only_a_changed_note_is_encoded_again(notes, model_folder, encoded):
    config = config_for(notes, str(model_folder))
    with ChatSession(config, None) as session:
        top(session)
    sentences = [text for text in encoded if text != QUESTION]
    assert len(sentences) == 4 and (notes / "state" / "encoder-vectors.npz").is_file()
    encoded.clear()
    with ChatSession(config, None) as session:
        assert top(session) == TRAVEL_SENTENCE
        assert encoded == [QUESTION]  # the vectors came from the file
        encoded.clear()
        (notes / "notes" / "garden.txt").write_text("The garden has four apple trees.\n")
        top(session)
    assert [text for text in encoded if text != QUESTION] == [
        "garden: The garden has four apple trees."
    ]


def damage(path: Path, how: str) -> None:
    """Spoil a good vectors file at `path` in one way."""
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    if how == "garbage":
        path.write_bytes(b"not a zip file at all")
        return
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return
    if how == "float64":
        arrays["vectors"] = arrays["vectors"].astype(np.float64)
    elif how == "wider":
        arrays["vectors"] = np.zeros((len(arrays["keys"]), WIDTH + 1), np.float32)
    elif how == "nan":
        arrays["vectors"][0, 0] = np.nan
    elif how == "fewer keys":
        arrays["keys"] = arrays["keys"][:-1]
    elif how == "other model":
        arrays["model"] = np.array("another model's identity")
    elif how == "compressed":  # a deflated member could inflate to any size: refused unread
        np.savez_compressed(path.with_suffix(""), **arrays)
        return
    with open(path, "wb") as file:
        np.savez(file, **arrays)


@needs_extra
@pytest.mark.parametrize(
    "how",
    ["garbage", "truncated", "float64", "wider", "nan", "fewer keys", "other model", "compressed"],
)
def test_a_damaged_vectors_file_is_ignored_and_rewritten(notes, model_folder, encoded, how):
    config = config_for(notes, str(model_folder))
    with ChatSession(config, None) as session:
        top(session)
    path = notes / "state" / "encoder-vectors.npz"
    damage(path, how)
    encoded.clear()
    with ChatSession(config, None) as session:
        assert top(session) == TRAVEL_SENTENCE
    assert len([text for text in encoded if text != QUESTION]) == 4  # made again ...
    encoded.clear()
    with ChatSession(config, None) as session:
        top(session)
    assert encoded == [QUESTION]  # ... and the file put right


# ---------------------------------------------------------------------------- when it cannot run


@needs_extra
def test_without_the_extra_one_line_says_what_to_do_and_words_answer(
    notes, model_folder, monkeypatch
):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    said: list[str] = []
    with ChatSession(config_for(notes, str(model_folder)), None, on_notice=said.append) as session:
        assert top(session) == NAME_SENTENCE
        assert top(session) == NAME_SENTENCE
    assert said == [
        f'retrieval.encoder: {model_folder} needs onnxruntime: pip install "tinychat[encoder]";'
        " answers use the word ranking alone"
    ]


@needs_extra
@pytest.mark.parametrize(
    "encoder, problem",
    [
        (
            "nobody/no-such-model",
            "retrieval.encoder: cannot fetch nobody/no-such-model (not cached, and the model hub"
            " cannot be reached); connect once to cache it, or give a folder made by"
            " bench/export_encoder.py; answers use the word ranking alone",
        ),
        ("./nowhere", "is not a folder; give a folder holding model.onnx and tokenizer.json"),
    ],
)
def test_a_model_that_cannot_be_had_is_one_line_and_words_answer(
    trained_folder, encoder, problem
):
    with open(trained_folder / "tinychat.yaml", "a") as settings:
        settings.write(f"retrieval:\n  encoder: {encoder}\n")
    offline = {**env(), "HF_HUB_OFFLINE": "1", "HF_HOME": str(trained_folder / "hub")}
    result = subprocess.run(
        [sys.executable, "-m", "tinychat", "--config", "tinychat.yaml", "--knowledge", "notes",
         "--state", "state", "--json"],
        cwd=trained_folder, input="when does the ferry leave?\n", capture_output=True, text=True,
        env=offline, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stderr.splitlines()) == 1 and problem in result.stderr, result.stderr
    answer = json.loads(result.stdout)
    assert answer["sources"][0]["path"] == "ferry.md" and answer["sources"][0]["line"] == 3


# ---------------------------------------------------------------------------- in the background


@needs_extra
def test_encoding_in_the_background_is_swapped_in_between_answers(notes, model_folder, monkeypatch):
    """The REPL's way: the ChatSession opens at once, words answer while the notes are encoded, and
    the encoder's ranking comes in at the next question after the encoding ends, not before."""
    from tinychat.retrieval.encoder_model import Encoder

    # more sentences than are encoded at once between two answers (encoder.AT_ONCE)
    write_notes(notes / "notes", {f"note{i}.txt": f"Note {i} is short.\n" for i in range(40)})
    gate = threading.Event()
    encode = Encoder.encode

    def held(self, texts, *args, **kwargs):
        if threading.current_thread().name == "tinychat-encoder":
            assert gate.wait(30)
        return encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(Encoder, "encode", held)
    started = time.perf_counter()
    session = ChatSession(config_for(notes, str(model_folder)), None, background=True)
    assert time.perf_counter() - started < 10
    try:
        assert top(session) == NAME_SENTENCE  # the words' ranking, meanwhile
        assert wait_for(lambda: session.progress.startswith("encoding sentences 0/"))
        assert toolbar(session).startswith("encoding sentences 0/44 | ")
        gate.set()
        assert wait_for(lambda: session.progress == "encoded: the next question uses it")
        assert session.retrieve(QUESTION)[0].chunk.text == NAME_SENTENCE  # not swapped yet
        assert top(session) == TRAVEL_SENTENCE  # the next answer ranks with the encoder
        assert session.progress == ""
    finally:
        gate.set()
        session.close()
    # a restart only loads the encoder: the toolbar then says nothing of it
    with ChatSession(config_for(notes, str(model_folder)), None, background=True) as session:
        assert wait_for(lambda: session.progress == "")
        assert top(session) == TRAVEL_SENTENCE


def toolbar(session: ChatSession) -> str:
    """The REPL's bottom line for `session`."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from tinychat.repl import Repl

    with create_pipe_input() as pipe:
        return Repl(session, out=io.StringIO(), input=pipe, output=DummyOutput()).toolbar()


def wait_for(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------------------- the default


def test_the_default_chat_imports_none_of_the_encoder_libraries(trained_folder):
    probe = (
        "import sys, io\n"
        "from tinychat.cli import main\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(b'when does the ferry leave?\\n'))\n"
        "code = main(['--config', 'tinychat.yaml', '--knowledge', 'notes', '--state', 'state',"
        " '--json'])\n"
        "names = ('onnxruntime', 'tokenizers', 'huggingface_hub', 'tinychat.retrieval.encoder')\n"
        "print('CODE', code, [name for name in names if name in sys.modules], file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=trained_folder,
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert "CODE 0 []" in result.stderr, result.stderr


def test_the_state_folder_gets_no_vectors_file_by_default(notes):
    with ChatSession(config_for(notes, "none"), None) as session:
        top(session)
    assert not os.path.lexists(notes / "state" / "encoder-vectors.npz")
    assert Config().retrieval.encoder == "none"


@needs_extra
def test_closing_while_encoding_keeps_what_was_encoded_and_goes_on_later(
    notes, model_folder, monkeypatch
):
    from tinychat.retrieval.encoder_model import BATCH, Encoder

    write_notes(notes / "notes", {f"note{i}.txt": f"Note {i} is short.\n" for i in range(80)})
    batches = threading.Semaphore(1)  # the background encodes one batch, then waits
    encode = Encoder.encode

    def held(self, texts, *args, **kwargs):
        if threading.current_thread().name == "tinychat-encoder":
            assert batches.acquire(timeout=30)
        return encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(Encoder, "encode", held)
    session = ChatSession(config_for(notes, str(model_folder)), None, background=True)
    assert wait_for(lambda: session.progress == f"encoding sentences {BATCH}/84")
    closing = threading.Thread(target=session.close)
    closing.start()
    time.sleep(0.2)
    batches.release()  # the batch under way ends, and the thread stops before the next
    closing.join(30)
    with np.load(notes / "state" / "encoder-vectors.npz") as kept:
        assert len(kept["keys"]) == 2 * BATCH
    batches.release(100)
    session.background = False
    assert top(session) == TRAVEL_SENTENCE  # the same ChatSession, used on: it encodes the rest
