"""`tinychat info`: the model's shape, its size, the checkpoint and the knowledge, as text.

It fits a screen (about 15 lines); the table of every weight array comes with `-v`. Paths and
errors may hold newlines or escapes (from a file name): each is shown on its own line.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from pathlib import Path

from tinychat import checkpoint
from tinychat.config import Config, ModelConfig
from tinychat.errors import TinychatError
from tinychat.knowledge import Knowledge, open_knowledge
from tinychat.architecture import parameter_count, weight_shapes
from tinychat.terminal import printable_line
from tinychat.vocab import VOCAB_SIZE


PARAMETER_BUDGET = 10_000  # "about 10,000 parameters": the size tinychat is designed around
LABEL_WIDTH = 13  # "checkpoint   ": the column where each line's value starts
RETRIEVERS = {  # retrieval.retriever, for -v: how the sentences of an answer's context are found
    "tfidf": "a note by its subject words, then its sentences, by the words and three-letter"
    " pieces they share with the question, the rarer the more (BM25, a TF-IDF weighting)",
    "embedding": "sentences by the cosine of their mean character embedding (the model's own)"
    " with the question's",
    "hybrid": "both the word ranking (tfidf) and the embedding one, their ranks fused",
}


def weight_table(model: ModelConfig) -> list[str]:
    """Each weight array with its shape and size, layer by layer, and the total against the
    budget."""
    rows = [f"  {'weight':<34} {'shape':>9} {'parameters':>11}"]
    for name, shape in weight_shapes(model).items():
        size = math.prod(shape)
        rows.append(f"  {name:<34} {' x '.join(map(str, shape)) or 'scalar':>9} {size:>11,}")
    total = parameter_count(model)
    share = f"{total / PARAMETER_BUDGET:.0%} of the ~{PARAMETER_BUDGET:,} tinychat is built around"
    rows.append(f"  {'total':<34} {'':>9} {total:>11,}  ({share})")
    return rows


def parameter_line(model: ModelConfig) -> str:
    """The parameter count in one line (the table of weights is behind -v)."""
    total, arrays = parameter_count(model), len(weight_shapes(model))
    return f"parameters   {total:,} learned numbers in {arrays} weight arrays (-v lists them)"


def describe(
    config: Config,
    verbose: bool = False,
    config_file: Path | None = None,
    retrain: str = "tinychat train",
    under_way: str = "",
) -> str:
    """Where everything is (settings file, state folder), the model and its size (`verbose`: a
    table of its weights, and how sentences are found), the vocabulary, the knowledge and the
    checkpoint. `retrain` is what updates the weights where this is read (`/retrain` in the
    REPL); `under_way` the progress of a training running now, if any."""
    knowledge = open_knowledge(config)
    lines = [
        *_model_lines(config, verbose, config_file),
        _knowledge_line(config, knowledge),
        *([_retrieval_line(config.retrieval.retriever)] if verbose else []),
        *_checkpoint_lines(config, knowledge, retrain, bool(under_way)),
        *([f"under way    {under_way} (in the background)"] if under_way else []),
    ]
    return "\n".join(lines)


def _model_lines(config: Config, verbose: bool, config_file: Path | None) -> list[str]:
    """The settings file, the state folder, the model, its size and its vocabulary."""
    from tinychat.locations import user_config_file

    model = config.model
    positions = (
        "ALiBi distance biases (no parameters)" if model.positions == "alibi" else "a learned table"
    )
    settings = config_file or f"none: defaults (no tinychat.yaml here, nor {user_config_file()})"
    return [
        f"config       {settings}",
        f"state        {config.paths.state} (weights, index cache, history, log)",
        (
            f"model        {model.n_layers} layers, {model.n_heads} heads, d_model {model.d_model},"
            f" d_ff {model.d_ff}, copy path {'on' if model.copy else 'off'}"
        ),
        *(weight_table(model) if verbose else [parameter_line(model)]),
        f"window       {model.window} characters; positions from {positions}",
        f"vocabulary   {VOCAB_SIZE} ids (newline, 95 printable ASCII characters, 1 unknown)",
    ]


def _knowledge_line(config: Config, knowledge: Knowledge) -> str:
    """How many files and chunks the knowledge folder holds now, or why it cannot be read."""
    try:
        knowledge.refresh()
    except TinychatError as error:
        return f"knowledge    {printable_line(str(error))}"
    return (
        f"knowledge    {printable_line(str(config.paths.knowledge))}: {len(knowledge.files)} files,"
        f" {len(knowledge.chunks)} chunks (sentences), the best {config.retrieval.top_k} of them"
        " in each answer's context (top-k)"
    )


def _retrieval_line(kind: str) -> str:
    """How the sentences of an answer's context are found, for the curious (-v)."""
    return f"retrieval    {kind} (retrieval.retriever) finds {RETRIEVERS[kind]}"


def _checkpoint_lines(
    config: Config, knowledge: Knowledge, retrain: str, training: bool
) -> list[str]:
    """The checkpoint: its size and age, its training, and the knowledge it was trained on."""
    path = checkpoint.weights_path(config.paths.state)
    if not path.exists():
        state = printable_line(str(config.paths.state))
        how = "training now" if training else f"{retrain} trains one"
        if retrain == "tinychat train" and not training:
            how = "`tinychat` or `tinychat train` trains one"
        return [f"checkpoint   none yet in {state}; {how}"]
    try:
        trained = checkpoint.load(path, expected=config.model)
    except TinychatError as error:
        return [f"checkpoint   {printable_line(str(error))}"]
    record = trained.record
    weights = sum(array.size for array in trained.arrays.values())
    arrays = len(weight_shapes(config.model))
    size = f"{path.stat().st_size / 1024:.0f} KB, {weights:,} weights in {arrays} arrays"
    steps = f"{_known(record.steps)} steps in {record.seconds or 0:.0f}s"
    data = f"{_known(record.files)} files, {_known(record.chunks)} chunks"
    return [
        f"checkpoint   {printable_line(str(path))} ({size}), trained {_age(record.trained_at)}",
        f"training     {steps}, final loss {_known(record.final_loss, '.3f')}",
        f"trained on   {data} ({_since(trained, knowledge, retrain)})",
    ]


def _since(trained: checkpoint.Checkpoint, knowledge: Knowledge, retrain: str) -> str:
    """The knowledge the weights were trained on, against the folder now."""
    if trained.fingerprint == knowledge.fingerprint():
        return "same as now"
    if trained.record.manifest is None:
        return f"the knowledge has changed since: {retrain}"
    count = knowledge.changed_since(trained.record.manifest)
    return f"{count} file{'s' * (count != 1)} changed since: {retrain}"


def _known(value: float | None, style: str = "") -> str:
    """A recorded figure, or '?' when the checkpoint does not say."""
    return "?" if value is None else format(value, style)


def _age(moment: datetime | None) -> str:
    if moment is None:
        return "at an unknown time"
    seconds = (datetime.now(timezone.utc) - moment).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' * (count != 1)} ago"
    return "just now"


# ---------------------------------------------------------------------------- embedding map


def character_class(char: str) -> str:
    if char in "aeiouAEIOU":
        return "vowel"
    if char.isalpha():
        return "consonant"
    if char.isdigit():
        return "digit"
    return "space" if char in " \n" else "punctuation"


CLASS_STYLE = {
    "vowel": "#ff6b6b",
    "consonant": "#4dabf7",
    "digit": "#ffd43b",
    "punctuation": "#69db7c",
    "space": "#adb5bd",
}


def embedding_map(
    table: np.ndarray, width: int = 72, height: int = 20
) -> list[list[tuple[str, str]]]:
    """The characters placed by the first two principal components of their embeddings.

    Characters the model treats alike land close together: with training, vowels, digits
    and punctuation form groups. Returns prompt-toolkit fragment lines (colour by class).
    """
    from tinychat.vocab import CHARS

    vectors = table[: len(CHARS)] - table[: len(CHARS)].mean(axis=0)
    _, _, components = np.linalg.svd(vectors, full_matrices=False)
    points = vectors @ components[:2].T  # (96, 2)
    low, high = points.min(axis=0), points.max(axis=0)
    cells = (
        ((points - low) / np.maximum(high - low, 1e-9) * [width - 1, height - 1])
        .round()
        .astype(int)
    )
    grid: list[list[tuple[str, str]]] = [[("", " ") for _ in range(width)] for _ in range(height)]
    for char, (column, row) in zip(CHARS, cells):
        shown = {"\n": "\u21b5", " ": "\u2423"}.get(char, char)  # visible newline and space
        for dx in range(width):  # the nearest free cell to the right, wrapping
            x = (column + dx) % width
            if grid[row][x][1] == " ":
                grid[row][x] = (f"fg:{CLASS_STYLE[character_class(char)]} bold", shown)
                break
    legend = [("", "legend: ")] + [
        item
        for name, colour in CLASS_STYLE.items()
        for item in ((f"fg:{colour} bold", name), ("", "  "))
    ]
    return [legend, *grid]
