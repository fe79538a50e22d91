"""Properties of the four readers of the state folder, over random and adversarial headers.

Whatever an index cache, a manifest, a checkpoint or a training-progress file declares (shapes
of billions of elements, compressed or lying members, wrong dtypes, links, huge text), reading
it allocates no more than a bound set by the notes or the model, and it ends in the reader's
result or in one TinychatError, never another exception. Memory is measured with tracemalloc
where Python and numpy allocate; for HDF5, whose library allocates out of tracemalloc's sight,
every dataset read is watched and must be one the model could have made.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import tracemalloc
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import tiny_config, write_notes
from tinychat import checkpoint, resume
from tinychat.architecture import weight_shapes
from tinychat.config import KnowledgeConfig
from tinychat.errors import TinychatError
from tinychat.knowledge import Knowledge
from tinychat.manifest import manifest_header
from tinychat.retrieval import FeatureCache, cache_limit, cached_texts
from tinychat.retrieval.cache import ARRAYS

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Dimensions from empty to far past any memory, and the dtypes a header may name.
DIMENSIONS = st.one_of(st.integers(0, 40), st.integers(0, 2**40))
SHAPES = st.lists(DIMENSIONS, max_size=3).map(tuple)
DTYPES = st.sampled_from(["<i4", "<i8", "|u1", "<f4", ">f8", "<U12", "|S5", "<c8", "|b1"])


def peak_of(action) -> int:
    """Bytes allocated at the peak of `action()` (Python objects and numpy arrays)."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def watched_reads(monkeypatch):
    """Every HDF5 dataset read: (name, elements) in `reads`."""
    reads: list[tuple[str, int]] = []
    read = h5py.Dataset.__getitem__

    def watched(dataset, selection):
        reads.append((dataset.name, dataset.size))
        assert dataset.size <= 1 << 20, f"read {dataset.name} of shape {dataset.shape}"
        return read(dataset, selection)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", watched)
    return reads


# ---------------------------------------------------------------------------- index cache


@st.composite
def npz_files(draw) -> bytes:
    """An .npz of members with any name, header, payload and compression."""
    names = draw(st.lists(st.sampled_from([*ARRAYS, "extra"]), max_size=len(ARRAYS) + 1))
    if draw(st.booleans()):
        names = list(ARRAYS)  # every member present: the header checks are what is tried
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            header = io.BytesIO()
            fortran = draw(st.booleans())
            described = {"descr": draw(DTYPES), "fortran_order": fortran, "shape": draw(SHAPES)}
            np.lib.format.write_array_header_1_0(header, described)
            zeros = draw(st.sampled_from([0, 16, 1 << 20, 4 << 20]))  # inflates to megabytes
            payload = header.getvalue() + draw(st.binary(max_size=64)) + bytes(zeros)
            packed = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            if packed == zipfile.ZIP_STORED and zeros > 16:
                payload = payload[: len(payload) - zeros]  # stored zeros would only be slow
            archive.writestr(f"{name}.npy", payload, compress_type=packed)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cache_world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache-world")
    knowledge = Knowledge(write_notes(folder / "notes"), KnowledgeConfig())
    knowledge.refresh()
    texts = cached_texts(knowledge.chunks)
    return folder / "index-cache.npz", texts, cache_limit(texts, 16)


@pytest.mark.filterwarnings("ignore:Duplicate name")  # a zip holding a name twice is tried too
@PROPERTY
@given(data=npz_files())
def test_any_index_cache_is_read_within_its_bound_or_ignored(cache_world, data):
    path, texts, limit = cache_world
    path.write_bytes(data)
    notices: list[str] = []

    def load() -> None:
        cache = FeatureCache(path, limit, on_notice=notices.append)
        cache.term_counts(texts[:3])  # whatever was taken must serve

    peak = peak_of(load)
    assert peak < 2 * len(data) + 4_000_000, f"{peak:,} bytes for a file of {len(data):,}"
    assert len(notices) <= 1


# ---------------------------------------------------------------------------- manifest


@st.composite
def manifests(draw, folder: Path) -> bytes:
    """A manifest for `folder`'s notes with any number of forged entries of any field values."""
    value = st.one_of(
        st.integers(-(2**70), 2**70), st.text(max_size=12), st.none(), st.lists(st.integers())
    )
    entry = {
        "size": draw(value),
        "mtime_ns": draw(value),
        "sha256": draw(value),
        "chunks": draw(st.one_of(st.just([[1, 1, "t" * draw(st.integers(0, 1000)), "t"]]), value)),
    }
    count = draw(st.sampled_from([0, 1, 50, 2_000, 40_000]))
    files = {f"g{number}.txt": entry for number in range(count)}
    header = manifest_header(folder, KnowledgeConfig().chunk_chars)
    if draw(st.booleans()):
        header["version"] = draw(value)
    warned = draw(st.one_of(value, st.just({})))
    return json.dumps({**header, "files": files, "warned": warned}).encode()


@pytest.fixture(scope="module")
def manifest_world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("manifest-world")
    return write_notes(folder / "notes"), folder / "manifest.json"


@settings(PROPERTY, max_examples=30)  # each builds up to 40,000 entries of JSON: fewer examples
@given(data=st.data())
def test_any_manifest_is_read_within_its_bound_or_ignored(manifest_world, data):
    folder, manifest = manifest_world
    manifest.write_bytes(data.draw(manifests(folder)))

    def load() -> None:
        knowledge = Knowledge(folder, KnowledgeConfig(), manifest)
        knowledge.refresh()
        assert len(knowledge.files) == 3  # forged entries are never taken for notes found

    assert peak_of(load) < 8_000_000  # a 40,000-entry manifest parsed would take far more


# ---------------------------------------------------------------------------- HDF5 files

SMALL_SHAPES = st.lists(st.integers(0, 40), max_size=3).map(tuple)
TINY = tiny_config(Path("/nowhere")).model
LARGEST_WEIGHT = max(math.prod(shape) for shape in weight_shapes(TINY).values())


@st.composite
def datasets(draw, shape: tuple[int, ...]):
    """(shape, dtype, options) of a dataset standing where one of `shape` should."""
    kind = draw(st.sampled_from(["right", "huge", "other"]))
    if kind == "right":
        return shape, draw(st.sampled_from(["<f4", "<f8", "<i8"])), {}
    if kind == "huge":  # gzip chunks of a shape past any memory: a few KB on disk
        big = tuple(draw(st.integers(1, 60_000)) for _ in range(max(1, len(shape)))) + (64,)
        return big, "<f4", {"chunks": tuple(min(8, n) for n in big), "compression": "gzip"}
    return draw(SMALL_SHAPES), draw(DTYPES), {}


def fill(file, name: str, spec) -> None:
    """Dataset `name` as `spec` says, declared only: HDF5 writes no data for it."""
    shape, dtype, options = spec
    dtype = h5py.string_dtype() if dtype == "<U12" else dtype
    file.create_dataset(name, shape=shape, dtype=dtype, **options)


def damage(path: Path, attribute: str, header: dict, damaged: list) -> None:
    with h5py.File(path, "r+") as file:
        file.attrs[attribute] = json.dumps(header)
        for name, spec in damaged:
            del file[name]
            fill(file, name, spec)


@st.composite
def checkpoint_files(draw) -> tuple[dict, list]:
    """(header, [(name, dataset spec)]) of a checkpoint for the tiny model, damaged anywhere."""
    from tinychat.vocab import CHARS

    shapes = weight_shapes(TINY)
    header = {"format_version": 1, "model": dataclasses.asdict(TINY), "vocab": CHARS}
    if draw(st.booleans()):
        key = draw(st.sampled_from(["knowledge", "metrics", "trained_at", "checksums", "model"]))
        header[key] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=8), st.just({})))
    damaged = draw(st.lists(st.sampled_from(sorted(shapes)), max_size=3, unique=True))
    return header, [(name, draw(datasets(shapes[name]))) for name in damaged]


@PROPERTY
@given(example=checkpoint_files())
def test_any_checkpoint_is_loaded_or_refused_in_one_line_reading_only_what_the_model_has(
    tmp_path, watched_reads, example
):
    path = tmp_path / "checkpoint.h5"
    arrays = {name: np.zeros(shape, np.float32) for name, shape in weight_shapes(TINY).items()}
    checkpoint.save(path, TINY, arrays, {})
    damage(path, "tinychat", *example)
    try:
        loaded = checkpoint.load(path, expected=TINY)
    except TinychatError as error:
        assert "\n" not in str(error)
    else:
        assert all(np.isfinite(array).all() for array in loaded.arrays.values())
    assert all(size <= LARGEST_WEIGHT for _, size in watched_reads)


@st.composite
def progress_files(draw):
    """(step, [(name, dataset spec)]) of the tiny run's progress, damaged anywhere."""
    variables = resume.optimizer_variables(TINY)
    shapes = {f"weights/{name}": shape for name, shape in weight_shapes(TINY).items()}
    shapes |= {f"optimizer/{number}": shape for number, (shape, _) in enumerate(variables)}
    step = draw(st.one_of(st.integers(-5, 50), st.text(max_size=4), st.none(), st.floats()))
    damaged = draw(st.lists(st.sampled_from(sorted(shapes)), max_size=3, unique=True))
    return step, [(name, draw(datasets(shapes[name]))) for name in damaged]


@PROPERTY
@given(example=progress_files())
def test_any_progress_file_is_resumed_or_ignored_reading_only_what_the_run_has(
    tmp_path, watched_reads, example
):
    step, damaged = example
    config = tiny_config(tmp_path)
    identity = resume.run_identity(config, "fingerprint", config.train.steps, False, "")
    weights = {name: np.zeros(shape, np.float32) for name, shape in weight_shapes(TINY).items()}
    optimizer = [np.zeros(shape, np.float32) for shape, _ in resume.optimizer_variables(TINY)]
    resume.save_progress(config.paths.state, identity, 10, weights, optimizer)
    path = resume.progress_path(config.paths.state)
    with h5py.File(path, "r") as file:
        header = json.loads(file.attrs["tinychat_progress"])
    damage(path, "tinychat_progress", {**header, "step": step}, damaged)
    saved = resume.load_progress(config.paths.state, identity, lambda text: None)
    if saved is not None:  # only this run's progress, at a step inside it
        assert type(step) is int and 0 < step < config.train.steps and saved.step == step
    assert all(size <= LARGEST_WEIGHT for _, size in watched_reads)
