"""Load and validate `tinychat.yaml` into frozen dataclasses.

This is the only module that reads YAML (`read_yaml` also serves eval's questions files).
Each section of the file is one dataclass; its defaults live here and nowhere else. Unknown
keys, wrong types and out-of-range values stop with one line naming the key, the value and
what is allowed. Nothing is built from the file's values before they are checked: a value
shown in an error is cut short, so an alias bomb costs nothing.
"""

from __future__ import annotations

import dataclasses
import os
import re
import reprlib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinychat.errors import TinychatError
from tinychat.files import FileTooLarge, NotRegularFile, read_regular

DEFAULT_CONFIG_NAME = "tinychat.yaml"
MAX_CONFIG_BYTES = 1 << 20  # the shipped file is 3 KB; a megabyte is a mistake, and slow to parse


def ranged(default: Any, low: float, high: float) -> Any:
    """A setting that must lie between `low` and `high` (checked by `check_fields`)."""
    return field(default=default, metadata={"range": (low, high)})


def one_of(default: str, *choices: str) -> Any:
    """A setting that must be one of `choices`."""
    return field(default=default, metadata={"choices": choices})


# At least one sentence: training always fills [CONTEXT], and with none the model answers "[QUERY]".
TOP_K_RANGE = (1, 50)
TEMPERATURE_RANGE = (0.0, 10.0)
RETRIEVERS = ("tfidf", "embedding", "hybrid")
NO_ENCODER = "none"
# a model hub name, "owner/name"; anything else that is not "none" is a folder
ENCODER_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
SEED = (0, 2**31 - 1)
BUDGET = (0, 1_000_000_000)  # 0 = no limit
MAX_EXTENSIONS = 100  # in knowledge.extensions: every file name is matched against each


@dataclass(frozen=True)
class ModelConfig:
    """The architecture: the one description of the model's shape.

    The checkpoint stores it; the Keras model and the numpy runtime are both built from it.
    """

    d_model: int = ranged(16, 2, 1024)  # embedding size
    n_heads: int = ranged(2, 1, 64)  # attention heads per layer (must divide d_model)
    d_ff: int = ranged(32, 1, 4096)  # hidden size of each feed-forward layer
    n_layers: int = ranged(2, 1, 32)  # transformer blocks
    window: int = ranged(640, 8, 4096)  # characters the model sees at once (prompt + answer)
    positions: str = one_of("alibi", "alibi", "learned")  # ALiBi distance biases, or a table
    copy: bool = True  # pointer-style copy path: the model may copy a character from its prompt

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


@dataclass(frozen=True)
class TrainConfig:
    """How the model is trained on the knowledge folder."""

    steps: int = ranged(1000, 1, 10_000_000)  # the most steps of a full training (see early_stop)
    batch_size: int = ranged(32, 1, 4096)  # examples per step
    learning_rate: float = ranged(0.01, 1e-6, 1.0)  # peak Adam learning rate (then cosine decay)
    qa_share: float = ranged(0.75, 0.0, 1.0)  # with loss_on all: share in the prompt layout
    distractors: int = ranged(2, 0, 16)  # extra context lines besides the retrieved ones, at most
    swap_share: float = ranged(0.5, 0.0, 1.0)  # share of examples with names and numbers swapped
    synthetic_share: float = ranged(0.0, 0.0, 1.0)  # share about invented strings (copy practice)
    loss_on: str = one_of("answer", "answer", "all")  # learn the answers' characters, or all
    retrain_steps: int = ranged(400, 1, 10_000_000)  # the most steps of a /retrain (see early_stop)
    seed: int = ranged(0, *SEED)  # fixes examples, initial weights and order
    early_stop: bool = True  # stop once answers about sentences kept out stop improving


@dataclass(frozen=True)
class KnowledgeConfig:
    """Which files of the knowledge folder are read and how they are cut into chunks."""

    extensions: tuple[str, ...] = (".txt", ".md")  # file types that are read
    max_file_kb: int = ranged(1024, 1, 1_000_000)  # larger files are skipped with a warning
    chunk_chars: int = ranged(200, 20, 10_000)  # a chunk is a sentence, cut at about this length
    bad_utf8: str = one_of("skip", "skip", "replace")  # a file that is not UTF-8: skip, or replace
    # A folder past either budget is not indexed without a yes (a typo like `--knowledge /` would
    # read a whole disk). Files of every kind count, since each costs a look.
    max_files: int = ranged(20_000, *BUDGET)  # files in the folder and its subfolders
    max_total_mb: int = ranged(200, *BUDGET)  # megabytes of the notes that would be read


@dataclass(frozen=True)
class RetrievalConfig:
    """How chunks are ranked for a query."""

    retriever: str = one_of("tfidf", *RETRIEVERS)  # BM25 by subject then sentence, or the original
    top_k: int = ranged(8, *TOP_K_RANGE)  # sentences put in [CONTEXT]
    decline: bool = True  # answer generation.decline_text when the notes do not hold the answer
    # a pretrained sentence encoder whose cosine is added to the tfidf score: none, a model hub
    # name, or a folder holding model.onnx and tokenizer.json (`retrieval/encoder.py`)
    encoder: str = "none"


@dataclass(frozen=True)
class GenerationConfig:
    """How answers are sampled."""

    temperature: float = ranged(0.0, *TEMPERATURE_RANGE)  # 0 = greedy argmax (deterministic)
    max_answer_chars: int = ranged(160, 1, 4096)  # an answer stops here if no newline came first
    seed: int = ranged(0, *SEED)  # sampling seed, so a temperature > 0 session can be replayed
    decline_text: str = "The notes don't say."  # the answer when the notes do not hold one
    cite: bool = True  # the REPL shows the file and line under each answer; false: bare answers


@dataclass(frozen=True)
class PathsConfig:
    """Where knowledge is read from and where everything tinychat writes lives."""

    knowledge: Path = Path("knowledge")  # the folder of notes (only ever read)
    state: Path = Path(".tinychat")  # weights, index cache and history


@dataclass(frozen=True)
class Config:
    """All settings, validated. Built by `load_config`, then passed down unchanged."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    def check(self, where: str) -> None:
        """Every field against its range or choices, then the rules that tie fields together."""
        for section in dataclasses.fields(self):
            check_fields(getattr(self, section.name), section.name, where)
        _check_relations(self, where)


def check_fields(section: Any, prefix: str, where: str) -> None:
    """One line naming the first field of `section` outside its range or choices."""
    for setting in dataclasses.fields(section):
        value, key = getattr(section, setting.name), f"{prefix}.{setting.name}"
        if "range" in setting.metadata:
            _in_range(where, key, value, *setting.metadata["range"])
        if "choices" in setting.metadata:
            _one_of(where, key, value, setting.metadata["choices"])


def field_range(section: type, name: str) -> tuple[float, float]:
    """The range a setting is checked against: `/temp` and `/topk` check the same one."""
    return next(f.metadata["range"] for f in dataclasses.fields(section) if f.name == name)


def _check_model(model: ModelConfig, where: str) -> None:
    if model.d_model % model.n_heads:
        divisors = [n for n in range(1, model.d_model + 1) if model.d_model % n == 0]
        raise TinychatError(
            f"{where}: model.n_heads={model.n_heads} must divide"
            f" model.d_model={model.d_model}; try one of {divisors[:6]}"
        )


def _check_relations(config: Config, where: str) -> None:
    """The rules that tie a field to another, or that a range cannot say."""
    model, generation = config.model, config.generation
    _check_model(model, where)
    extensions = config.knowledge.extensions
    if not extensions or len(extensions) > MAX_EXTENSIONS:
        raise TinychatError(
            f"{where}: knowledge.extensions lists {len(extensions):,} file types; name 1 to"
            f" {MAX_EXTENSIONS}, e.g. [.txt, .md]"
        )
    for extension in extensions:
        if not extension.startswith(".") or len(extension) < 2:
            raise TinychatError(
                f"{where}: knowledge.extensions has {extension!r};"
                " write extensions with a dot, e.g. '.txt'"
            )
    text = generation.decline_text
    if not text.strip() or "\n" in text or len(text) > 200:
        raise TinychatError(
            f"{where}: generation.decline_text must be one line of 1 to 200 characters"
        )
    _check_encoder(config.retrieval, where)
    if generation.max_answer_chars >= model.window - 16:
        raise TinychatError(
            f"{where}: generation.max_answer_chars={generation.max_answer_chars}"
            f" leaves no room for the prompt in model.window={model.window};"
            " lower it or raise the window"
        )


def _check_encoder(retrieval: RetrievalConfig, where: str) -> None:
    """`retrieval.encoder` is none, a model name or a folder, and adds to the tfidf ranking."""
    encoder = retrieval.encoder
    if not encoder.strip() or "\n" in encoder or "\0" in encoder or len(encoder) > 1000:
        raise TinychatError(
            f"{where}: retrieval.encoder={_shown(encoder)} must be none, a model name such as"
            " sentence-transformers/all-MiniLM-L6-v2, or a folder"
        )
    if encoder != NO_ENCODER and retrieval.retriever != "tfidf":
        raise TinychatError(
            f"{where}: retrieval.encoder adds to the tfidf ranking, not to"
            f" retrieval.retriever={retrieval.retriever}; set one of them back"
            " (retriever: tfidf or encoder: none)"
        )


def place_encoder(retrieval: RetrievalConfig, base: Path) -> RetrievalConfig:
    """A folder given as `retrieval.encoder`, made absolute against the config file's folder as
    the paths are; a model name, or none, as written. An existing folder wins over a model name
    spelled the same ("models/minilm")."""
    encoder = retrieval.encoder
    if encoder == NO_ENCODER:
        return retrieval
    folder = Path(encoder).expanduser()
    folder = folder if folder.is_absolute() else base / folder
    if ENCODER_NAME.fullmatch(encoder) and not folder.is_dir():
        return retrieval
    return dataclasses.replace(retrieval, encoder=str(folder))


# ---------------------------------------------------------------------------- loading


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read `path` (or `./tinychat.yaml` if present, else defaults), apply `overrides`, validate.

    `overrides` maps dotted keys to values, e.g. {"retrieval.top_k": 5} from the command line.
    Relative paths in a config file are taken relative to that file's folder.
    """
    raw: dict[str, Any] = {}
    where = "defaults"
    base = Path.cwd()
    hint = "check the --config path"
    if path is None and os.path.lexists(DEFAULT_CONFIG_NAME):  # a folder of that name is said, too
        path = Path(DEFAULT_CONFIG_NAME)
        hint = "it is read as this folder's settings: rename or remove it"  # no --config given
    if path is not None:
        where = str(path)
        loaded = read_yaml(path, MAX_CONFIG_BYTES, "config file", hint)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise TinychatError(f"{path}: expected sections such as 'model:' at the top level")
        raw = loaded
        base = Path(path).resolve().parent

    config = _build(Config, raw, "", where, base)
    config.check(where)
    config = dataclasses.replace(config, retrieval=place_encoder(config.retrieval, base))
    if overrides:
        for key, value in overrides.items():
            config = _override(config, key, value, "command line")
        config.check("command line")
    check_paths(config.paths)
    return config


def read_yaml(path: Path, limit: int, what: str, hint: str = "") -> Any:
    """The YAML document in `path`, read through libyaml's loader when it is installed.

    Every problem is one TinychatError naming the file: not found, not a regular file (a
    folder, a FIFO), over `limit` bytes, not UTF-8, not YAML. `what` names the file ("config
    file"); `hint` ("check the --config path") follows when the path itself is wrong.
    """
    import yaml

    advice = f"; {hint}" if hint else ""
    try:
        text = read_regular(path, limit).decode("utf-8")
    except FileNotFoundError:
        raise TinychatError(f"{path}: {what} not found{advice}") from None
    except NotRegularFile as error:
        raise TinychatError(f"{path}: {error.strerror}{advice}") from None
    except FileTooLarge:
        raise TinychatError(
            f"{path}: larger than {limit >> 20} MB, too large for a {what}; check the file"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise TinychatError(f"{path}: cannot read the {what} ({error}); check the file") from None
    # The C loader, where PyYAML has one, is many times faster on a large file (README,
    # "Figures behind the code's constants").
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506  a safe loader, C or Python
    except Exception as error:  # noqa: BLE001  PyYAML's constructors also raise ValueError
        # ("2001-02-30"), AttributeError (!!timestamp 5) or RecursionError (deep nesting).
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = f"{path}: invalid YAML{at}; fix the syntax of the {what}"
        raise TinychatError(problem) from None


def expand_home(path: Path, what: str) -> Path:
    """`path` with a leading ~ or ~user expanded; one line when that user has no home."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # pathlib: "Could not determine home directory"
        user = str(path).split("/", 1)[0]
        raise TinychatError(
            f"{path}: no such user as {user} ({what}); write the folder's full path"
        ) from None


def check_paths(paths: PathsConfig) -> None:
    """The notes folder is only ever read: the state folder may not be it or lie inside it."""
    knowledge, state = os.path.realpath(paths.knowledge), os.path.realpath(paths.state)
    if state == knowledge or state.startswith(knowledge.rstrip(os.sep) + os.sep):
        where = "is" if state == knowledge else "is inside"
        raise TinychatError(
            f"{paths.state}: the state folder {where} the knowledge folder"
            f" {paths.knowledge}, which tinychat only reads;"
            " pass --state DIR outside it"
        )


def model_config_from(raw: Any, where: str) -> ModelConfig:
    """A ModelConfig from a mapping read elsewhere (a checkpoint's metadata), checked exactly as
    the config file's `model:` section is: unknown keys, wrong types (16.0 for 16) and ranges."""
    config = _build(ModelConfig, raw, "model.", where, Path.cwd())
    check_fields(config, "model", where)
    _check_model(config, where)
    return config


def _override(config: Config, dotted: str, value: Any, where: str) -> Config:
    section_name, key = dotted.split(".")
    section = getattr(config, section_name)
    checked = _convert(value, _field_types(type(section))[key], dotted, where, Path.cwd())
    return dataclasses.replace(
        config, **{section_name: dataclasses.replace(section, **{key: checked})}
    )


def _build(cls: type, raw: Any, prefix: str, where: str, base: Path) -> Any:
    """Make `cls` from a YAML mapping, rejecting unknown keys and wrong types."""
    if not isinstance(raw, dict):
        section = prefix.rstrip(".")
        raise TinychatError(f"{where}: {section} must be a mapping of keys, got {_shown(raw)}")
    types_by_name = _field_types(cls)
    unknown = sorted(set(map(str, raw)) - set(types_by_name))
    if unknown:
        name = prefix + unknown[0]
        allowed = ", ".join(types_by_name)
        raise TinychatError(f"{where}: unknown key {_shown(name)}; allowed here: {allowed}")
    values = {}
    for name, value in raw.items():
        kind = types_by_name[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(
                kind, value if value is not None else {}, f"{prefix}{name}.", where, base
            )
        else:
            values[name] = _convert(value, kind, prefix + name, where, base)
    return cls(**values)


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _convert(value: Any, kind: Any, key: str, where: str, base: Path) -> Any:
    """Check one value against its field type; ints are accepted where floats are expected."""
    if not _fits(value, kind):
        raise TinychatError(f"{where}: {key}={_shown(value)} must be {_type_name(kind)}")
    if kind is float:
        return float(value)
    if kind is Path:
        path = expand_home(Path(value), key)
        return path if path.is_absolute() else base / path
    if typing.get_origin(kind) is tuple:
        return (value,) if isinstance(value, str) else tuple(value)
    return value


def _fits(value: Any, kind: Any) -> bool:
    """Whether `value` is of field type `kind` (looking no deeper than the type needs)."""
    if kind is bool or kind is str:
        return isinstance(value, kind)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if kind is Path:  # a NUL byte cannot be in a path: every system call would refuse it
        return isinstance(value, (str, Path)) and bool(str(value)) and "\0" not in str(value)
    if typing.get_origin(kind) is tuple:
        return isinstance(value, str) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        )
    raise AssertionError(f"no converter for {kind}")  # our invariant: every type is handled


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 40, 40


def _shown(value: Any) -> str:
    """A value for an error message: a short repr, however large or deeply nested the value is
    (a YAML alias bomb expands to billions of items in a plain repr)."""
    text = _SHORT.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        return "a list of strings"
    return {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "a string",
        Path: "a path",
    }.get(kind, str(kind))


def _in_range(where: str, key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise TinychatError(f"{where}: {key}={value} is out of range; allowed {low} to {high}")


def _one_of(where: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise TinychatError(
            f"{where}: {key}={value!r} is not allowed; choose one of {', '.join(allowed)}"
        )
