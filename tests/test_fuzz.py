"""Random bytes and random JSON/YAML where tinychat keeps or reads its files.

Four files tinychat reads and a person (or a crash, or a disk) could leave in any state: the
index cache, the knowledge manifest, the checkpoint's metadata and the config file. Each is
fed random bytes, a valid file with random bytes changed or cut, and (for the JSON ones) a
valid document with one field replaced by a random value. The outcome must be one line (a
TinychatError) or a clean recovery that answers as if the file were fine; never another
exception. Examples stay small so the whole file runs in seconds.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinychat import checkpoint
from tinychat.config import Config, KnowledgeConfig, ModelConfig, load_config
from tinychat.errors import TinychatError
from tinychat.retrieval import FeatureCache, build_retriever
from tinychat.knowledge import Knowledge
from tinychat.runtime import weight_shapes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = 150  # per strategy: 1,350 trials over the four kinds of file
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOTES = {
    "ferry.txt": "The ferry to Brisk leaves at 7.\nThe ferry carries 40 bicycles.\n",
    "keras.md": "# Keras\n\nKeras provides a high-level API.\n",
}
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def edits(size: int) -> st.SearchStrategy:
    """Changes to a valid file of `size` bytes: (offset, new byte) pairs, then where to cut it."""
    return st.tuples(
        st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, 255)), max_size=6),
        st.integers(0, size),
    )


def damaged(data: bytes, change: tuple[list[tuple[int, int]], int]) -> bytes:
    changed = bytearray(data)
    for offset, value in change[0]:
        changed[offset] = value
    return bytes(changed[: change[1]])


def leaves(document: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a JSON document where a value could be replaced, as key paths."""
    places = [path]
    if isinstance(document, dict):
        places += [p for key, value in document.items() for p in leaves(value, (*path, key))]
    elif isinstance(document, list):
        places += [p for index, value in enumerate(document) for p in leaves(value, (*path, index))]
    return places


def replaced(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = replaced(document[path[0]], path[1:], value)
    return copy


def one_line(action) -> Any:
    """`action()`; a TinychatError is allowed if it is one line, anything else fails the test."""
    try:
        return action()
    except TinychatError as error:
        assert "\n" not in str(error), str(error)
        return None


# ---------------------------------------------------------------------------- index cache


@pytest.fixture(scope="module")
def valid_cache(tmp_path_factory) -> tuple[Path, bytes, list]:
    folder = tmp_path_factory.mktemp("cache")
    knowledge = Knowledge(write(folder / "notes"), KnowledgeConfig())
    knowledge.refresh()
    build_retriever("hybrid", knowledge.chunks, TABLE, FeatureCache(folder / "cache.npz"))
    return folder / "cache.npz", (folder / "cache.npz").read_bytes(), knowledge.chunks


TABLE = np.random.default_rng(0).normal(size=(97, 8)).astype(np.float32)


def write(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    return folder


def check_cache(path: Path, data: bytes, chunks: list) -> None:
    path.write_bytes(data)
    index = build_retriever("hybrid", chunks, TABLE, FeatureCache(path))  # a cache never raises
    expected = build_retriever("hybrid", chunks, TABLE)  # features computed afresh, no cache at all
    for query in ("when does the ferry leave?", "keras", "bicycles"):
        assert index.search(query, 3) == expected.search(query, 3)


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_as_the_index_cache(valid_cache, data):
    check_cache(*valid_cache[:1], data, valid_cache[2])


@FUZZ
@given(change=st.data())
def test_a_damaged_index_cache(valid_cache, change):
    path, good, chunks = valid_cache
    check_cache(path, damaged(good, change.draw(edits(len(good)))), chunks)


# ---------------------------------------------------------------------------- manifest


@pytest.fixture(scope="module")
def valid_manifest(tmp_path_factory) -> tuple[Path, Path, dict]:
    folder = tmp_path_factory.mktemp("manifest")
    knowledge = Knowledge(write(folder / "notes"), KnowledgeConfig(), folder / "manifest.json")
    knowledge.refresh()
    knowledge.save_manifest()
    manifest = folder / "manifest.json"
    return folder / "notes", manifest, json.loads(manifest.read_text())


def check_manifest(folder: Path, manifest: Path, data: bytes) -> None:
    manifest.write_bytes(data)
    knowledge = Knowledge(folder, KnowledgeConfig(), manifest)  # a manifest never raises either
    knowledge.refresh()
    texts = {chunk.text for chunk in knowledge.chunks}
    # A forged entry whose size and time match is trusted (it is a cache); any other is read again.
    assert len(knowledge.files) == 2
    assert all(type(chunk.line) is int for chunk in knowledge.chunks)
    assert texts and all(isinstance(text, str) for text in texts)


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_as_the_manifest(valid_manifest, data):
    check_manifest(*valid_manifest[:2], data)


@FUZZ
@given(choice=st.data())
def test_a_manifest_with_one_field_replaced(valid_manifest, choice):
    folder, manifest, good = valid_manifest
    path = choice.draw(st.sampled_from(leaves(good)))
    check_manifest(folder, manifest, json.dumps(replaced(good, path, choice.draw(JSON))).encode())


# ---------------------------------------------------------------------------- checkpoint metadata

CONFIG = ModelConfig(window=64)


@pytest.fixture(scope="module")
def valid_checkpoint(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("checkpoint")
    rng = np.random.default_rng(0)
    shapes = weight_shapes(CONFIG)
    arrays = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    knowledge = {"fingerprint": "f" * 64, "files": 2, "chunks": 3, "manifest": {"a.txt": "0" * 64}}
    meta = {
        "knowledge": knowledge,
        "trained_at": "2026-11-27T06:00:00+00:00",
        "retriever": "tfidf",
        "metrics": {"steps": 30, "seconds": 7.1, "final_loss": 2.7, "warm_start": False},
    }
    checkpoint.save(folder / "good.h5", CONFIG, arrays, meta)
    with h5py.File(folder / "good.h5", "r") as file:
        header = json.loads(file.attrs["tinychat"])
    return folder, header


def check_metadata(folder: Path, metadata: str | bytes) -> None:
    path = folder / "checkpoint.h5"
    shutil.copyfile(folder / "good.h5", path)
    with h5py.File(path, "r+") as file:
        file.attrs["tinychat"] = as_attribute(metadata)
    loaded = one_line(lambda: checkpoint.load(path, expected=CONFIG))
    if loaded is not None:  # whatever loads is typed as the rest of tinychat expects
        record = loaded.record
        assert isinstance(record.fingerprint, str) and type(record.files) in (int, type(None))
        assert record.manifest is None or all(isinstance(v, str) for v in record.manifest.values())
        assert record.trained_at is None or record.trained_at.tzinfo is not None


def as_attribute(metadata: str | bytes) -> str | np.void:
    """Text as an HDF5 string where h5py can store it; other bytes as an opaque value (h5py
    strings can hold neither NUL nor lone surrogates)."""
    if isinstance(metadata, str):
        if "\x00" not in metadata and metadata.isprintable() or metadata == "":
            return metadata
        metadata = metadata.encode("utf-8", "surrogatepass")
    return np.void(metadata) if metadata else ""


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=300))
def test_random_bytes_as_checkpoint_metadata(valid_checkpoint, data):
    check_metadata(valid_checkpoint[0], data)


@FUZZ
@given(choice=st.data())
def test_checkpoint_metadata_with_one_field_replaced(valid_checkpoint, choice):
    folder, good = valid_checkpoint
    path = choice.draw(st.sampled_from(leaves(good)))
    check_metadata(folder, json.dumps(replaced(good, path, choice.draw(JSON))))


# ---------------------------------------------------------------------------- config file

SHIPPED = (ROOT / "tinychat.yaml").read_bytes()
KEYS = [
    (section.name, key.name)
    for section in dataclasses.fields(Config)
    for key in dataclasses.fields(getattr(Config(), section.name))
]
VALUE_PIECES = st.sampled_from(
    [
        "[",
        "]",
        "{",
        "}",
        "&a ",
        "*a",
        "!!int ",
        "!!float ",
        "!!binary ",
        "!!timestamp ",
        "!!set ",
        "- ",
        ": ",
        ", ",
        "'",
        '"',
        "x",
        "5",
        "1e999",
        "-5",
        ".nan",
        "2001-02-30",
        "yes",
        "~",
        "\\0",
        "\t",
        "\udcff",
    ]
)


@st.composite
def documents(draw) -> str:
    """A config of known sections and keys whose values are made of tricky YAML pieces."""
    lines = []
    for section, key in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4)):
        value = "".join(draw(st.lists(VALUE_PIECES, max_size=6)))
        lines.append(f"{section}:\n  {key}: {value}")
    return "\n".join(lines) + "\n"


def check_config(folder: Path, data: bytes) -> None:
    (folder / "tinychat.yaml").write_bytes(data)
    config = one_line(lambda: load_config(folder / "tinychat.yaml"))
    if config is not None:
        config.check("again")  # whatever loads is valid


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_as_the_config(tmp_path, data):
    check_config(tmp_path, data)


@FUZZ
@given(change=edits(len(SHIPPED)))
def test_a_damaged_config(tmp_path, change):
    check_config(tmp_path, damaged(SHIPPED, change))


@FUZZ
@given(document=documents())
def test_a_config_with_tricky_values(tmp_path, document):
    check_config(tmp_path, document.encode("utf-8", "surrogateescape"))
