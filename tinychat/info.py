"""`tinychat info`: the model's shape, its size, the checkpoint and the knowledge, as text."""

from __future__ import annotations

from datetime import datetime, timezone

from tinychat import checkpoint
from tinychat.config import Config
from tinychat.errors import TinychatError
from tinychat.knowledge import open_knowledge
from tinychat.runtime import parameter_count, weight_shapes
from tinychat.vocab import VOCAB_SIZE


def describe(config: Config) -> str:
    """A few lines about the model, its weights and the knowledge folder."""
    model = config.model
    lines = [
        f"model        {model.n_layers} layers, {model.n_heads} heads, d_model {model.d_model}, d_ff {model.d_ff},"
        f" window {model.window}, positions {model.positions}, copy path {'on' if model.copy else 'off'}",
        f"parameters   {parameter_count(model):,}",
        f"vocabulary   {VOCAB_SIZE} ids (newline, 95 printable ASCII characters, 1 unknown)",
    ]
    path = checkpoint.weights_path(config.paths.state)
    knowledge = open_knowledge(config)
    try:
        knowledge.refresh()
        lines.append(f"knowledge    {config.paths.knowledge}: {len(knowledge.files)} files, {len(knowledge.chunks)} chunks indexed"
                     f" by the {config.retrieval.retriever} retriever (top-k {config.retrieval.top_k})")  # fmt: skip
    except TinychatError as error:
        lines.append(f"knowledge    {error}")
    if not path.exists():
        lines.append(f"checkpoint   none yet in {config.paths.state}; `tinychat` or `tinychat train` trains one")
        return "\n".join(lines)
    try:
        trained = checkpoint.load(path, expected=config.model)
    except TinychatError as error:
        lines.append(f"checkpoint   {error}")
        return "\n".join(lines)
    meta = trained.meta
    age = _age(meta.get("trained_at", ""))
    metrics = meta.get("metrics", {})
    trained_on = meta.get("knowledge", {})
    current = "same as now" if trained.fingerprint == knowledge.fingerprint() else "the knowledge has changed since: /retrain"
    lines += [
        f"checkpoint   {path} ({path.stat().st_size / 1024:.0f} KB, {sum(a.size for a in trained.arrays.values()):,} weights"
        f" in {len(weight_shapes(model))} arrays), trained {age}",
        f"training     {metrics.get('steps', '?')} steps in {metrics.get('seconds', 0):.0f}s,"
        f" final loss {metrics.get('final_loss', float('nan')):.3f}",
        f"trained on   {trained_on.get('files', '?')} files, {trained_on.get('chunks', '?')} chunks ({current})",
    ]
    return "\n".join(lines)


def _age(stamp: str) -> str:
    try:
        seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return "at an unknown time"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' * (count != 1)} ago"
    return "just now"
