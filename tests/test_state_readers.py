"""Files tinychat reads back from its state folder, damaged so that trusting them costs
gigabytes: every array is checked from its header first, and a damaged cache or saved progress
is ignored with a notice, never a traceback.

Where a damaged file must not be read, h5py's reads are watched (`watched_reads`): reading an
array larger than the model could have made fails the test at once, before it allocates.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import finishes, tiny_config, write_notes
from tinychat import resume
from tinychat.architecture import parameter_count, weight_shapes

LARGEST_READ = 1 << 20  # elements: every array of the tiny model is far smaller


@pytest.fixture
def watched_reads(monkeypatch):
    """Fails a test that reads an HDF5 dataset larger than LARGEST_READ elements."""
    read = h5py.Dataset.__getitem__

    def checked(dataset, selection):
        assert dataset.size <= LARGEST_READ, f"read {dataset.name} of shape {dataset.shape}"
        return read(dataset, selection)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", checked)


# ---------------------------------------------------------------------------- training progress


def saved_progress(tmp_path: Path, step: int = 10, fingerprint: str = "fingerprint"):
    """(config, identity) with a progress file of this run saved at `step`, as training writes."""
    config = tiny_config(tmp_path)
    identity = resume.run_identity(config, fingerprint, config.train.steps, False, "")
    shapes = weight_shapes(config.model)
    weights = {name: np.full(shape, 0.5, np.float32) for name, shape in shapes.items()}
    variables = resume.optimizer_variables(config.model)
    optimizer = [np.zeros(shape, np.float32) for shape, _ in variables]
    optimizer[0] = np.array(step, np.int64)
    resume.save_progress(config.paths.state, identity, step, weights, optimizer)
    return config, identity


def edit_progress(config, change) -> None:
    with h5py.File(resume.progress_path(config.paths.state), "r+") as file:
        change(file)


def huge_dataset(name: str):
    """A dataset declaring 60000 x 60000 float32 (14 GB) in a few KB of gzip."""

    def change(file):
        del file[name]
        file.create_dataset(
            name, shape=(60000, 60000), dtype="f4", chunks=(1000, 1000), compression="gzip"
        )

    return change


def with_step(step):
    def change(file):
        header = json.loads(file.attrs["tinychat_progress"])
        header["step"] = step
        file.attrs["tinychat_progress"] = json.dumps(header)

    return change


def replaced(name: str, array: np.ndarray):
    def change(file):
        del file[name]
        file.create_dataset(name, data=array)

    return change


def test_a_progress_file_declaring_a_huge_array_is_ignored_without_reading_it(
    tmp_path, watched_reads
):
    config, identity = saved_progress(tmp_path)
    edit_progress(config, huge_dataset("optimizer/5"))
    assert resume.progress_path(config.paths.state).stat().st_size < 200_000
    notices: list[str] = []
    assert resume.load_progress(config.paths.state, identity, notices.append) is None
    assert len(notices) == 1 and "optimizer/5 has shape (60000, 60000)" in notices[0]
    assert "training starts over" in notices[0]


DAMAGED_PROGRESS = {
    "step as text": with_step("abc"),
    "no step": with_step(None),
    "step past the run": with_step(5000),
    "negative step": with_step(-50),
    "a weight of another shape": replaced("weights/head/b", np.zeros((3, 3), np.float32)),
    "an optimizer array of another shape": replaced("optimizer/7", np.zeros(7, np.float32)),
    "a missing weight": lambda file: file.__delitem__("weights/token_embedding"),
    "complex numbers": replaced("weights/head/b", np.zeros(97, np.complex64)),
    "a link to another file": lambda file: (
        file.__delitem__("weights/head/b"),
        file.__setitem__("weights/head/b", h5py.ExternalLink("/dev/zero", "/x")),
    ),
}


@pytest.mark.parametrize("damage", DAMAGED_PROGRESS.values(), ids=DAMAGED_PROGRESS.keys())
def test_damaged_progress_is_ignored_with_a_notice(tmp_path, damage):
    config, identity = saved_progress(tmp_path)
    edit_progress(config, damage)
    notices: list[str] = []
    assert resume.load_progress(config.paths.state, identity, notices.append) is None
    assert len(notices) == 1 and "is damaged" in notices[0], notices
    assert resume.saved_step(config.paths.state, identity) in (0, 10)


def test_a_progress_file_larger_than_the_run_could_write_is_not_opened(tmp_path, monkeypatch):
    config, identity = saved_progress(tmp_path)
    path = resume.progress_path(config.paths.state)
    with path.open("ab") as file:
        file.truncate(resume.progress_limit(config.model) + 1)  # sparse: no disk taken
    monkeypatch.setattr(h5py, "File", None)  # opening it at all would fail the test
    notices: list[str] = []
    assert resume.load_progress(config.paths.state, identity, notices.append) is None
    assert "more than the" in notices[0]


def test_a_training_with_damaged_progress_starts_over_and_finishes(tmp_path, watched_reads):
    from tinychat.knowledge import open_knowledge
    from tinychat.progress import Progress
    from tinychat.train import train

    write_notes(tmp_path / "notes")
    knowledge = open_knowledge(tiny_config(tmp_path))
    knowledge.refresh()
    config, _ = saved_progress(tmp_path, fingerprint=knowledge.fingerprint())
    edit_progress(config, huge_dataset("optimizer/5"))
    notices: list[str] = []
    progress = Progress(config.train.steps, 1, stream=io.StringIO())
    result = train(config, knowledge, fresh=True, progress=progress, on_notice=notices.append)
    assert result.steps == config.train.steps
    assert [notice for notice in notices if "is damaged" in notice], notices
    assert not any("resuming" in notice for notice in notices)


def test_adam_keeps_its_variables_in_the_order_the_progress_file_is_checked_in(tmp_path):
    import dataclasses

    from tinychat import train as training
    from tinychat.model import build_model

    config = tiny_config(tmp_path)
    for model_config in (config.model, dataclasses.replace(config.model, positions="learned")):
        run = training._Run(
            dataclasses.replace(config, model=model_config), 30, 0, False, {}, None
        )
        model = build_model(model_config)
        training._compile(model, run)  # Adam as training makes it
        kept = [(tuple(v.shape), np.dtype(v.dtype).kind) for v in model.optimizer.variables]
        expected = resume.optimizer_variables(model_config)
        assert [shape for shape, _ in kept] == [shape for shape, _ in expected]
        assert all(kind in kinds for (_, kind), (_, kinds) in zip(kept, expected))
        assert resume.progress_limit(model_config) > 12 * parameter_count(model_config)


# ---------------------------------------------------------------------------- index cache


@pytest.fixture
def cache_file(tmp_path):
    """(path, texts, limit) of an index cache written for a few notes, as a chat session does."""
    from tinychat.knowledge import Knowledge
    from tinychat.config import KnowledgeConfig
    from tinychat.retrieval import FeatureCache, build_retriever, cache_limit, cached_texts

    knowledge = Knowledge(write_notes(tmp_path / "notes"), KnowledgeConfig())
    knowledge.refresh()
    texts = cached_texts(knowledge.chunks)
    limit = cache_limit(texts, 16)
    path = tmp_path / "index-cache.npz"
    table = np.random.default_rng(0).normal(size=(97, 16)).astype(np.float32)
    build_retriever("hybrid", knowledge.chunks, table, FeatureCache(path, limit))
    return path, knowledge.chunks, limit


def npz_with(path: Path, name: str, member: bytes, compression=zipfile.ZIP_STORED) -> None:
    """`path`'s .npz with member `name` replaced by the bytes `member`."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[f"{name}.npy"] = member
    with zipfile.ZipFile(path, "w") as archive:
        for filename, data in members.items():
            packed = compression if filename == f"{name}.npy" else zipfile.ZIP_STORED
            archive.writestr(filename, data, compress_type=packed)


def npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def load_measured(path: Path, limit: int) -> tuple[list[str], int]:
    """(notices, peak bytes allocated) of reading the cache at `path`."""
    import tracemalloc

    from tinychat.retrieval import FeatureCache

    notices: list[str] = []
    tracemalloc.start()
    try:
        FeatureCache(path, limit, on_notice=notices.append)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return notices, peak


def test_a_cache_member_that_inflates_to_gigabytes_is_refused_without_inflating_it(cache_file):
    path, _, limit = cache_file
    count = 25_000_000  # int32 zeros: 100 MB inflated, 100 KB deflated
    npz_with(path, "cols", npy_header("<i4", (count,)) + bytes(4 * count), zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1_000_000
    notices, peak = load_measured(path, limit)
    assert peak < 20_000_000, f"{peak:,} bytes allocated"
    assert len(notices) == 1 and "cols is compressed" in notices[0]


def test_a_cache_member_declaring_more_than_it_holds_allocates_nothing_for_it(cache_file):
    path, _, limit = cache_file
    npz_with(path, "counts", npy_header("<i4", (250_000_000,)) + bytes(64))
    notices, peak = load_measured(path, limit)
    assert peak < 20_000_000, f"{peak:,} bytes allocated"
    assert len(notices) == 1 and "counts declares shape (250000000,)" in notices[0]


def test_a_cache_larger_than_the_notes_could_make_is_not_read(cache_file):
    path, _, limit = cache_file
    with path.open("ab") as file:
        file.truncate(limit + 1)
    notices, peak = load_measured(path, limit)
    assert peak < 1_000_000 and "larger than the" in notices[0]


def test_a_cache_written_for_the_notes_is_read_back_whole(cache_file):
    from tinychat.retrieval import FeatureCache

    path, chunks, limit = cache_file
    assert path.stat().st_size < limit
    cache = FeatureCache(path, limit, on_notice=pytest.fail)
    cache.term_counts([chunk.text for chunk in chunks])
    assert cache.computed == 0


# ---------------------------------------------------------------------------- manifest


def test_a_manifest_far_larger_than_the_notes_is_ignored_without_parsing_it(tmp_path):
    import tracemalloc

    from tinychat.config import KnowledgeConfig
    from tinychat.knowledge import Knowledge
    from tinychat.manifest import manifest_header

    folder = write_notes(tmp_path / "notes")
    manifest = tmp_path / "state" / "manifest.json"
    manifest.parent.mkdir()
    entry = '"g%d.txt": {"size": 1, "mtime_ns": 1, "sha256": "x", "chunks": [[1, 1, "t", "t"]]}'
    entries = ", ".join(entry % number for number in range(100_000))  # 8 MB of forged entries
    header = json.dumps(manifest_header(folder, KnowledgeConfig().chunk_chars))[:-1]
    manifest.write_text(f'{header}, "files": {{{entries}}}, "warned": {{}}}}')
    tracemalloc.start()
    try:
        knowledge = Knowledge(folder, KnowledgeConfig(), manifest)
        changes = knowledge.refresh()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"{peak:,} bytes allocated"
    assert sorted(changes.added) == sorted(knowledge.files) and not changes.removed
    assert any("manifest.json is larger than the notes found" in w for w in changes.warnings)


# ---------------------------------------------------------------------------- checkpoint


@pytest.fixture
def saved_checkpoint(tmp_path):
    """(path, config) of a checkpoint of random weights for the tiny model."""
    from tinychat import checkpoint

    config = tiny_config(tmp_path).model
    rng = np.random.default_rng(0)
    shapes = weight_shapes(config)
    arrays = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    path = tmp_path / "checkpoint.h5"
    checkpoint.save(path, config, arrays, {"trained_at": "2026-12-01T00:00:00+00:00"})
    return path, config


def test_weights_overwritten_on_disk_are_refused_as_damaged(saved_checkpoint):
    from tinychat import checkpoint
    from tinychat.errors import TinychatError

    path, config = saved_checkpoint
    with h5py.File(path, "r") as file:
        dataset = file["token_embedding"]
        offset, size = dataset.id.get_offset(), dataset.size * 4
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(1).uniform(-50, 50, size // 4).astype("<f4")
    data[offset : offset + size] = noise.tobytes()  # finite, in range: only a checksum tells
    path.write_bytes(bytes(data))
    with pytest.raises(TinychatError, match="token_embedding does not match its checksum"):
        checkpoint.load(path, expected=config)


def test_a_checkpoint_saved_before_checksums_still_loads(saved_checkpoint):
    from tinychat import checkpoint

    path, config = saved_checkpoint
    with h5py.File(path, "r+") as file:
        header = json.loads(file.attrs["tinychat"])
        del header["checksums"]
        file.attrs["tinychat"] = json.dumps(header)
    assert checkpoint.load(path, expected=config).record.trained_at is not None


def test_checkpoint_metadata_far_larger_than_any_checkpoint_writes_is_refused(saved_checkpoint):
    from tinychat import checkpoint
    from tinychat.errors import TinychatError

    path, config = saved_checkpoint
    with h5py.File(path, "r+", libver="latest") as file:  # dense attributes: any size
        header = json.loads(file.attrs["tinychat"])
        header["padding"] = "x" * (2 * checkpoint.METADATA_LIMIT)
        file.attrs["tinychat"] = json.dumps(header)
    with pytest.raises(TinychatError, match="bytes besides its arrays"):
        checkpoint.load(path, expected=config)


def test_a_weight_kept_in_an_external_file_is_not_read(saved_checkpoint, tmp_path):
    import os

    from tinychat import checkpoint
    from tinychat.errors import TinychatError

    path, config = saved_checkpoint
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it waits for a writer forever
    with h5py.File(path, "r+") as file:
        del file["head/b"]
        file.create_dataset("head/b", shape=(97,), dtype="f4", external=[(str(fifo), 0, 388)])
    try:
        with pytest.raises(TinychatError, match="head/b keeps its data outside this file"):
            finishes(lambda: checkpoint.load(path, expected=config), seconds=10)
    finally:  # a read stuck on the FIFO gets its bytes and ends
        try:
            descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.write(descriptor, bytes(388))
            os.close(descriptor)
        except OSError:
            pass  # no one is reading it
