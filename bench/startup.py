"""Cold start: a piped question with trained weights against a bare `import tensorflow`.

    python bench/startup.py [--runs 5]

Trains a default-shaped model for a few steps in a temporary state folder (the answer's
quality does not matter here, only what starting costs), then times fresh processes:
`echo question | python -m tinychat` and `python -c "import tensorflow"`, and reads each
one's peak memory (RSS) from the kernel. Prints medians and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(
    command: list[str], stdin: bytes, env: dict[str, str], expect_output: bool
) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    process.stdin.write(stdin)
    process.stdin.close()
    output = process.stdout.read()
    process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{' '.join(command)} failed with status {status}")
    if expect_output and output.count(b"\n") != 1:
        sys.exit(f"{' '.join(command)} did not print one answer line")
    return seconds, usage.ru_maxrss / 1024  # Linux reports kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--knowledge", type=Path, default=ROOT / "knowledge")
    args = parser.parse_args()

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory() as state:
        base = [
            sys.executable,
            "-m",
            "tinychat",
            "--config",
            str(ROOT / "tinychat.yaml"),
            "--knowledge",
            str(args.knowledge),
            "--state",
            state,
        ]
        subprocess.run([*base, "train", "--steps", "3"], check=True, env=env, capture_output=True)
        chat = [
            measure(base, b"what is keras?\n", env, expect_output=True) for _ in range(args.runs)
        ]
        tensorflow = [
            measure([sys.executable, "-c", "import tensorflow"], b"", env, expect_output=False)
            for _ in range(args.runs)
        ]

    chat_s, chat_mb = statistics.median(t for t, _ in chat), max(m for _, m in chat)
    tf_s, tf_mb = statistics.median(t for t, _ in tensorflow), max(m for _, m in tensorflow)
    print(f"median of {args.runs} cold runs each")
    print(f"echo question | tinychat   {chat_s:6.2f} s   peak RSS {chat_mb:6.0f} MB")
    print(f"python -c 'import tensorflow' {tf_s:6.2f} s   peak RSS {tf_mb:6.0f} MB")
    print(f"tinychat / tensorflow import: time x{chat_s / tf_s:.2f}, memory x{chat_mb / tf_mb:.2f}")


if __name__ == "__main__":
    main()
