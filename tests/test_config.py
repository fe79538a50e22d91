"""Config: validated on load, errors name the file and the key, the shipped YAML matches the
defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinychat.config import Config, load_config
from tinychat.errors import TinychatError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "text, named",
    [
        ("model:\n  windw: 64\n", "model.windw"),
        ("model:\n  window: sixty\n", "model.window"),
        ("model:\n  window: 0\n", "model.window"),
        ("model:\n  window: 1000000000\n", "model.window"),
        ("model:\n  n_heads: 3\n", "model.n_heads"),
        ("model:\n  positions: sinusoid\n", "model.positions"),
        ("model:\n  copy: maybe\n", "model.copy"),
        ("train:\n  steps: -5\n", "train.steps"),
        ("train:\n  learning_rate: .nan\n", "train.learning_rate"),
        ("generation:\n  temperature: -0.5\n", "generation.temperature"),
        ("generation:\n  cite: sometimes\n", "generation.cite"),
        ("retrieval:\n  retriever: bm99\n", "retrieval.retriever"),
        ("retrieval:\n  top_k: 1000\n", "retrieval.top_k"),
        ("retrieval:\n  top_k: 0\n", "retrieval.top_k"),  # never trained to answer without context
        ("knowledge:\n  extensions: [txt]\n", "knowledge.extensions"),
        ("colour: blue\n", "colour"),
        ("model: 3\n", "model"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path, text, named):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TinychatError) as error:
        load_config(path)
    assert str(path) in str(error.value) and named in str(error.value)
    assert "\n" not in str(error.value)


def test_invalid_yaml_and_non_mapping(tmp_path):
    (tmp_path / "broken.yaml").write_text("model: [\n")
    with pytest.raises(TinychatError, match=r"broken.yaml: invalid YAML at line 2"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(TinychatError, match="top level"):
        load_config(tmp_path / "list.yaml")
    with pytest.raises(TinychatError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_shipped_yaml_matches_the_dataclass_defaults():
    shipped, defaults = load_config(ROOT / "tinychat.yaml"), Config()
    for section in ("model", "train", "knowledge", "retrieval", "generation"):
        assert getattr(shipped, section) == getattr(defaults, section), section
    assert (
        shipped.paths.knowledge == ROOT / "knowledge" and shipped.paths.state == ROOT / ".tinychat"
    )


def test_overrides_and_relative_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.yaml"
    path.write_text("paths:\n  knowledge: notes\nmodel:\n  window: 256\n")
    config = load_config(path, {"retrieval.top_k": 1, "generation.temperature": 0.7})
    assert config.paths.knowledge == tmp_path / "sub" / "notes"  # relative to the config file
    settings = (config.retrieval.top_k, config.generation.temperature, config.model.window)
    assert settings == (1, 0.7, 256)
    with pytest.raises(TinychatError, match=r"command line: retrieval.top_k=0"):
        load_config(path, {"retrieval.top_k": 0})


def test_no_config_file_gives_defaults():
    assert load_config() == dataclasses.replace(Config())  # tests run in an empty temporary folder


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
)
SECTIONS = {
    section.name: [
        f.name
        for f in dataclasses.fields(
            section.type
            if isinstance(section.type, type)
            else type(getattr(Config(), section.name))
        )
    ]
    for section in dataclasses.fields(Config)
}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(sorted(SECTIONS)),
        st.dictionaries(
            st.text(max_size=10)
            | st.sampled_from(sorted({key for keys in SECTIONS.values() for key in keys})),
            VALUES,
            max_size=4,
        ),
        max_size=4,
    )
)
def test_any_yaml_mapping_loads_or_names_the_key(tmp_path, document):
    import yaml

    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        config = load_config(path)
    except TinychatError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(str(path))
        named = [f"{s}.{k}" for s, keys in document.items() for k in (keys or {})] + list(document)
        assert any(name in message or repr(name) in message for name in named), message
    else:
        config.check("again")  # whatever loads is valid
        assert config.model.window <= 4096 and config.model.d_model % config.model.n_heads == 0


# ---------------------------------------------------------------------------- hostile files


def alias_bomb(levels: int = 9) -> str:
    """A "billion laughs" YAML value: each level holds nine copies of the one before."""
    anchors = ['&l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        anchors.append(f"&l{level} [" + ",".join([f"*l{level - 1}"] * 9) + "]")
    return "[" + ", ".join(anchors) + "]"  # each anchor defined once, before its aliases


@pytest.mark.parametrize(
    "text, named",
    [
        (
            f"knowledge:\n  extensions: {alias_bomb()}\n",
            "knowledge.extensions=[['lol', 'lol', 'lol',",
        ),
        (f"model: {alias_bomb()}\n", "model must be a mapping of keys, got [['lol', 'lol', 'lol',"),
        (f"paths:\n  state: {alias_bomb()}\n", "paths.state="),
    ],
)
def test_an_alias_bomb_costs_nothing(tmp_path, text, named):
    import time

    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(TinychatError) as error:
        load_config(path)
    assert time.perf_counter() - start < 2  # 17 s and 1.5 GB when the message held repr(value)
    assert named in str(error.value) and len(str(error.value)) < 250


def test_files_that_are_not_config_files_get_one_line(tmp_path, monkeypatch):
    import os

    extensions = ", ".join(f"'.e{i}'" for i in range(200_000))
    (tmp_path / "big.yaml").write_text(f"knowledge:\n  extensions: [{extensions}]\n")
    os.mkfifo(tmp_path / "fifo.yaml")  # opening it to read would wait for a writer forever
    for name, problem in (
        ("big.yaml", "larger than 1 MB, too large for a config file"),
        ("fifo.yaml", "is a FIFO \\(named pipe\\), not a regular file"),
        ("missing.yaml", "config file not found"),
    ):
        with pytest.raises(TinychatError, match=problem):
            load_config(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tinychat.yaml").mkdir()  # where the default config would be: not silently skipped
    with pytest.raises(TinychatError, match=r"^tinychat.yaml: is a folder, not a regular file"):
        load_config()


@pytest.mark.parametrize(
    "text",
    [
        "model:\n  window: 2001-02-30\n",
        "model:\n  window: !!timestamp 5\n",
        "model: {window: !!int x}\n",
        "model: " + "[" * 5000 + "]" * 5000 + "\n",
        "\udcff: 1\n",
    ],
)
def test_yaml_that_the_loader_cannot_build_is_one_line(tmp_path, text):
    path = tmp_path / "odd.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(TinychatError, match=r"odd.yaml: (invalid YAML|cannot read the config)"):
        load_config(path)


def test_libyaml_loads_the_config_when_installed(tmp_path, monkeypatch):
    yaml = pytest.importorskip("yaml")
    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without libyaml")
    loaders = []
    load = yaml.load
    spy = lambda text, Loader: loaders.append(Loader) or load(text, Loader)  # noqa: E731, N803
    monkeypatch.setattr(yaml, "load", spy)
    (tmp_path / "c.yaml").write_text("model:\n  window: 256\n")
    assert load_config(tmp_path / "c.yaml").model.window == 256
    assert loaders == [yaml.CSafeLoader]  # 10x faster than the pure-Python SafeLoader on big files


def test_the_state_folder_may_not_be_in_the_notes_folder(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "notes")
    for state in ("notes", "notes/.tinychat", "link/state", "link"):
        paths = {"paths.knowledge": tmp_path / "notes", "paths.state": tmp_path / state}
        with pytest.raises(
            TinychatError,
            match=r"the state folder is (inside )?the knowledge"
            r" folder .*notes, which tinychat only reads",
        ):
            load_config(None, paths)
    for state in ("state", "notes-state"):  # a sibling whose name starts the same is outside
        paths = {"paths.knowledge": tmp_path / "notes", "paths.state": tmp_path / state}
        assert load_config(None, paths).paths.state == tmp_path / state


def test_a_nul_byte_in_a_path_is_named(tmp_path):
    (tmp_path / "c.yaml").write_text('paths:\n  state: "st\\0ate"\n')
    with pytest.raises(TinychatError, match=r"paths.state='st\\x00ate' must be a path"):
        load_config(tmp_path / "c.yaml")
