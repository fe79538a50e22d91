"""`tinychat info`: the model's shape, its size, the checkpoint and the knowledge, as text.

It fits a screen (about 15 lines); the table of every weight array comes with `-v`.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from pathlib import Path

from tinychat import checkpoint
from tinychat.config import Config, ModelConfig
from tinychat.errors import TinychatError
from tinychat.knowledge import open_knowledge
from tinychat.architecture import parameter_count, weight_shapes
from tinychat.terminal import printable_line
from tinychat.vocab import VOCAB_SIZE


PARAMETER_BUDGET = 10_000  # "about 10,000 parameters": the size tinychat is designed around


def weight_table(model: ModelConfig) -> list[str]:
    """Each weight array with its shape and size, layer by layer, and the total against the budget."""
    rows = [f"  {'weight':<34} {'shape':>9} {'parameters':>11}"]
    for name, shape in weight_shapes(model).items():
        size = math.prod(shape)
        rows.append(f"  {name:<34} {' x '.join(map(str, shape)) or 'scalar':>9} {size:>11,}")
    total = parameter_count(model)
    rows.append(
        f"  {'total':<34} {'':>9} {total:>11,}  ({total / PARAMETER_BUDGET:.0%} of the ~{PARAMETER_BUDGET:,} budget)"
    )
    return rows


def parameter_line(model: ModelConfig) -> str:
    """The parameter count against the budget, in one line (the table is behind -v)."""
    total, arrays = parameter_count(model), len(weight_shapes(model))
    share = f"{total / PARAMETER_BUDGET:.0%} of the ~{PARAMETER_BUDGET:,} budget"
    return f"parameters   {total:,} in {arrays} weight arrays ({share}; -v lists them)"


def describe(config: Config, verbose: bool = False, config_file: Path | None = None) -> str:
    """Where everything is (settings file, state folder), the model and its size (`verbose`: a
    table of its weights), the vocabulary, the checkpoint and the knowledge."""
    model = config.model
    positions = (
        "ALiBi distance biases (no parameters)" if model.positions == "alibi" else "a learned table"
    )
    from tinychat.locations import user_config_file

    settings = config_file or f"none: defaults (no tinychat.yaml here, nor {user_config_file()})"
    lines = [
        f"config       {settings}",
        f"state        {config.paths.state} (weights, index cache, history)",
        f"model        {model.n_layers} layers, {model.n_heads} heads, d_model {model.d_model}, d_ff {model.d_ff},"
        f" copy path {'on' if model.copy else 'off'}",
        *(weight_table(model) if verbose else [parameter_line(model)]),
        f"window       {model.window} characters; positions from {positions}",
        f"vocabulary   {VOCAB_SIZE} ids (newline, 95 printable ASCII characters, 1 unknown)",
    ]
    path = checkpoint.weights_path(config.paths.state)
    # Paths and errors may hold newlines or escapes (from a file name): each stays on its line.
    shown = [printable_line(str(p)) for p in (config.paths.knowledge, config.paths.state, path)]
    folder, state, shown_path = shown
    knowledge = open_knowledge(config)
    try:
        knowledge.refresh()
        lines.append(
            f"knowledge    {folder}: {len(knowledge.files)} files,"
            f" {len(knowledge.chunks)} chunks indexed by the {config.retrieval.retriever}"
            f" retriever (top-k {config.retrieval.top_k})"
        )
    except TinychatError as error:
        lines.append(f"knowledge    {printable_line(str(error))}")
    if not path.exists():
        lines.append(f"checkpoint   none yet in {state}; `tinychat` or `tinychat train` trains one")
        return "\n".join(lines)
    try:
        trained = checkpoint.load(path, expected=config.model)
    except TinychatError as error:
        lines.append(f"checkpoint   {printable_line(str(error))}")
        return "\n".join(lines)
    record = trained.record
    if trained.fingerprint == knowledge.fingerprint():
        current = "same as now"
    elif record.manifest is None:
        current = "the knowledge has changed since: tinychat train"
    else:
        count = knowledge.changed_since(record.manifest)
        current = f"{count} file{'s' * (count != 1)} changed since: tinychat train"
    lines += [
        f"checkpoint   {shown_path} ({path.stat().st_size / 1024:.0f} KB,"
        f" {sum(a.size for a in trained.arrays.values()):,} weights in {len(weight_shapes(model))}"
        f" arrays), trained {_age(record.trained_at)}",
        f"training     {_known(record.steps)} steps in {record.seconds or 0:.0f}s,"
        f" final loss {_known(record.final_loss, '.3f')}",
        f"trained on   {_known(record.files)} files, {_known(record.chunks)} chunks ({current})",
    ]
    return "\n".join(lines)


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
