"""What the encoder stage costs on a large folder, each figure beside the lexical ranking alone.

    python bench/encoder_cost.py --encoder DIR      # a folder from bench/export_encoder.py
    python bench/encoder_cost.py --encoder DIR --files 1000 --sentences 10 --questions 50

Writes invented notes (bench/synthetic.py; 1,000 files of 10 sentences by default), then:
- encoding: a `ChatSession(..., background=True)` opens, as the REPL's does, and the sentences
  are encoded in the background until the ranking is ready; against the folder's cold lexical
  index;
- time per question: `ChatSession.prepare` (retrieval and prompt; the random weights' forward
  pass is the same with either ranking and is left out), with and without the encoder;
- memory: a fresh process imports the chat path (tinychat.cli), opens the folder with its caches
  already written and answers the questions with random weights; its resident and peak memory,
  with retrieval.encoder none and with DIR, and with none on the code in --baseline-code
  (another checkout, e.g. main) if given.
Wall-clock seconds and the process's CPU seconds are both printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import write_folder  # noqa: E402
from tinychat.chat import ChatSession  # noqa: E402
from tinychat.config import Config, PathsConfig, RetrievalConfig  # noqa: E402

# run in a fresh interpreter: argv = code folder, config as JSON, questions as JSON
MEMORY_PROBE = """
import dataclasses, json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import tinychat.cli  # the chat path's modules, as `tinychat` loads them
from pathlib import Path
from tinychat.architecture import weight_shapes
from tinychat.chat import ChatSession
from tinychat.checkpoint import Checkpoint
from tinychat.config import Config, PathsConfig, RetrievalConfig
paths, encoder = json.loads(sys.argv[2])
config = Config(paths=PathsConfig(Path(paths[0]), Path(paths[1])))
if encoder != "none":
    config = dataclasses.replace(config, retrieval=RetrievalConfig(encoder=encoder))
rng = np.random.default_rng(0)
arrays = {n: rng.normal(size=s).astype(np.float32) for n, s in weight_shapes(config.model).items()}
with ChatSession(config, Checkpoint(config.model, arrays, {})) as session:
    for question in json.loads(sys.argv[3]):
        session.ask(question)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(int(status["VmRSS"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024)
"""


def configured(knowledge: Path, state: Path, encoder: str) -> Config:
    return Config(
        retrieval=RetrievalConfig(encoder=encoder),
        paths=PathsConfig(knowledge=knowledge, state=state),
    )


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds since `start`."""
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def encode_in_background(config: Config) -> tuple[ChatSession, tuple[float, float]]:
    """A ChatSession that encodes the notes in the background, once its ranking is ready."""
    start = clock()
    session = ChatSession(config, None, background=True)
    opened = since(start)[0]
    while session.progress != "encoded: the next question uses it":
        assert session.stage is not None and not session.stage.failed, session.stage.failed
        time.sleep(0.05)
    print(f"  prompt after {opened:.2f} s while encoding went on", flush=True)
    return session, since(start)


def per_question(session: ChatSession, questions: list[str]) -> float:
    """Milliseconds `prepare` takes per question (retrieval and the prompt)."""
    session.prepare(questions[0])  # swaps a ready ranking in; not timed
    start = time.perf_counter()
    for question in questions:
        session.prepare(question)
    return 1000 * (time.perf_counter() - start) / len(questions)


def memory(code: Path, config: Config, encoder: str, questions: list[str]) -> tuple[int, int]:
    """(resident, peak) MB of a fresh chat process that answers `questions`."""
    paths = [str(config.paths.knowledge), str(config.paths.state)]
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_PROBE,
            str(code),
            json.dumps([paths, encoder]),
            json.dumps(questions),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(code)},
    )
    resident, peak = result.stdout.split()
    return int(resident), int(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True, help="retrieval.encoder: a model folder")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--sentences", type=int, default=10)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--baseline-code", type=Path, help="another checkout to measure memory of")
    args = parser.parse_args()
    encoder = str(Path(args.encoder).expanduser().resolve())
    with tempfile.TemporaryDirectory() as temporary:
        knowledge, state = Path(temporary) / "notes", Path(temporary) / "state"
        asked = write_folder(knowledge, args.files, args.sentences)
        questions = [item["q"] for item in asked[:: max(1, len(asked) // args.questions)]]
        lexical_config = configured(knowledge, state, "none")
        encoder_config = configured(knowledge, state, encoder)

        start = clock()
        lexical = ChatSession(lexical_config, None)
        cold_wall, cold_cpu = since(start)
        sentences = len(lexical.retriever.chunks)
        print(f"{sentences:,} sentences in {args.files:,} files; os.cpu_count() {os.cpu_count()}")
        session, (wall, cpu) = encode_in_background(encoder_config)
        print(
            f"encoding   {wall:.1f} s wall, {cpu:.1f} s CPU ({sentences / wall:.0f} sentences/s)"
            f"  lexical index cold {cold_wall:.1f} s wall, {cold_cpu:.1f} s CPU"
            f"  x{wall / cold_wall:.1f}",
            flush=True,
        )
        fast = per_question(lexical, questions)
        slow = per_question(session, questions)
        print(
            f"question   {slow:.1f} ms with the encoder  {fast:.1f} ms lexical alone"
            f"  +{slow - fast:.1f} ms  x{slow / fast:.1f}",
            flush=True,
        )
        lexical.close()
        session.close()
        plain = memory(ROOT, lexical_config, "none", questions)
        stage = memory(ROOT, encoder_config, encoder, questions)
        line = (
            f"memory     {stage[0]} MB resident, {stage[1]} MB peak with the encoder"
            f"  {plain[0]} MB resident, {plain[1]} MB peak lexical alone"
            f"  +{stage[0] - plain[0]} MB"
        )
        if args.baseline_code:
            before = memory(args.baseline_code, lexical_config, "none", questions)
            line += f"  | {before[0]} MB resident, {before[1]} MB peak on {args.baseline_code}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
