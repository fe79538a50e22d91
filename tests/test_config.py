"""Config: validated on load, errors name the file and the key, the shipped YAML matches the defaults."""

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
    assert shipped.paths.knowledge == ROOT / "knowledge" and shipped.paths.state == ROOT / ".tinychat"


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


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                   st.text(max_size=12), st.lists(st.integers(), max_size=3))  # fmt: skip
SECTIONS = {section.name: [f.name for f in dataclasses.fields(section.type if isinstance(section.type, type) else
                                                              type(getattr(Config(), section.name)))]
            for section in dataclasses.fields(Config)}  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(sorted(SECTIONS)), st.dictionaries(st.text(max_size=10) | st.sampled_from(
    sorted({key for keys in SECTIONS.values() for key in keys})), VALUES, max_size=4), max_size=4))
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
