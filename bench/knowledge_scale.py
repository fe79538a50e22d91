"""A large live knowledge folder: cold index, restart, one changed file, memory and idle watching.

    python bench/knowledge_scale.py [--files 10000] [--sentences 10]

Writes invented notes (bench/synthetic.py), then times, with the default retriever:
- a cold start (every file read, every chunk's features computed, caches written);
- a restart with nothing changed (manifest and feature cache read back), against the cold start;
- re-indexing after one file changed, against the cold start;
- the index's memory, and the process's CPU time while the watcher idles for 10 seconds.
Random weights stand in for a trained model: retrieval does not depend on training.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synthetic import write_folder  # noqa: E402
from tinychat.chat import ChatSession  # noqa: E402
from tinychat.checkpoint import Checkpoint  # noqa: E402
from tinychat.config import load_config  # noqa: E402
from tinychat.architecture import weight_shapes  # noqa: E402
from tinychat.watcher import Watcher  # noqa: E402


def index_bytes(index) -> int:
    """Bytes held by the numpy arrays of an index and of its parts (hybrid and layered indexes
    have two)."""
    parts = [getattr(index, name, None) for name in ("lexical", "embedding", "main", "newer")]
    return sum(
        value.nbytes
        for part in [index, *parts]
        if part is not None
        for value in vars(part).values()
        if isinstance(value, np.ndarray)
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--sentences", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    return parser.parse_args()


def random_checkpoint(config) -> Checkpoint:
    """Random weights of the configured shapes: retrieval does not depend on training."""
    rng = np.random.default_rng(0)
    arrays = {
        name: rng.normal(size=shape).astype(np.float32)
        for name, shape in weight_shapes(config.model).items()
    }
    return Checkpoint(config.model, arrays, {})


def timed(function) -> tuple[float, object]:
    """Seconds `function()` took, and what it returned."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def one_file_changed(session: ChatSession, knowledge: Path) -> float:
    """Seconds to re-index after one note gains a sentence; the new fact must then be found."""
    changed = sorted(knowledge.iterdir())[len(session.knowledge.files) // 2]
    changed.write_text(changed.read_text() + "The harbour of Quellmark opened in 1911.\n")
    seconds, _ = timed(session.sync)
    assert session.retrieve("when did the harbour of Quellmark open?")[0].chunk.path == changed.name
    return seconds


def idle_cpu_share(session: ChatSession, idle_seconds: float) -> float:
    """The process's CPU time per wall second while the watcher idles."""
    watcher = Watcher(session).start()
    time.sleep(1.0)  # let it settle
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    time.sleep(idle_seconds)
    idle_cpu = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    watcher.stop()
    return idle_cpu


def measure(args: argparse.Namespace) -> dict:
    """Write the invented folder in a temporary directory and take every figure over it."""
    with tempfile.TemporaryDirectory() as folder:
        knowledge, state = Path(folder) / "notes", Path(folder) / "state"
        write_folder(knowledge, args.files, args.sentences, seed=1)
        config = load_config(None, {"paths.knowledge": knowledge, "paths.state": state})
        model = random_checkpoint(config)
        cold, session = timed(lambda: ChatSession(config, model))
        chunks = len(session.knowledge.chunks)
        restart, session = timed(lambda: ChatSession(config, model))
        figures = {
            "cold": cold,
            "chunks": chunks,
            "restart": restart,
            "recomputed": session.cache.computed,
            "memory": index_bytes(session.retriever.lexical),  # the full index, before any layering
            "one_file": one_file_changed(session, knowledge),
            "idle_cpu": idle_cpu_share(session, args.idle_seconds),
        }
    figures["files"] = len(session.knowledge.files)
    figures["retriever"] = config.retrieval.retriever
    return figures


def print_figures(figures: dict) -> None:
    """One line a figure; the restart and the changed file also as a ratio to the cold start."""
    cold, restart, one_file = figures["cold"], figures["restart"], figures["one_file"]
    print(f"{figures['files']} files, {figures['chunks']} chunks, retriever {figures['retriever']}")
    print(f"cold start (read, chunk, index, write caches)  {cold:7.2f} s")
    print(
        f"restart, nothing changed                       {restart:7.2f} s"
        f"   cold is x{cold / restart:.0f}   chunks re-embedded: {figures['recomputed']}"
    )
    print(
        f"one file changed, re-indexed                   {one_file * 1000:7.0f} ms"
        f"  cold is x{cold / one_file:.0f}"
    )
    print(f"index memory (numpy arrays of the full index)  {figures['memory'] / 2**20:7.1f} MB")
    print(f"CPU while the watcher idles                    {figures['idle_cpu']:7.1%} of one core")


def main() -> None:
    print_figures(measure(parse_args()))


if __name__ == "__main__":
    main()
