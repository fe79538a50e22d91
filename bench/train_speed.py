"""Training speed and memory: this code's default training against an earlier commit's, same
folder, same run.

    python bench/train_speed.py                              # against 8273bd9, bench/invented
    python bench/train_speed.py --baseline 8273bd9 --knowledge knowledge --rounds 2

Each version runs `tinychat train --fresh --seed 0` with its own tinychat.yaml in a fresh state
folder, as a child process of this one; the earlier commit is checked out in a temporary git
worktree and run with the same Python. Rounds alternate the order (baseline first, then this
code first), so both share the machine's conditions. Printed per run: wall seconds, steps and
the child's peak resident memory (os.wait4's ru_maxrss, that child alone); then the ratios of
the totals. A last child only imports TensorFlow and Keras: the floor under any training's
peak memory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT_ONLY = "import tinychat.model"


def run_child(command: list[str], cwd: Path, tree: Path) -> tuple[float, int, str]:
    """Run `command` with `tree` on the path: (wall seconds, peak RSS in MB of that child alone,
    its stderr). Fails when the child fails."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=errors, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        errors.seek(0)
        text = errors.read().decode("utf-8", errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{text[-2000:]}")
    return wall, usage.ru_maxrss // 1024, text  # ru_maxrss is in kilobytes on Linux


def train(tree: Path, knowledge: Path) -> tuple[float, int, int]:
    """Train version `tree` from scratch with its defaults: (wall s, peak RSS MB, steps)."""
    with tempfile.TemporaryDirectory() as state:
        command = [
            sys.executable,
            "-m",
            "tinychat",
            "--config",
            str(tree / "tinychat.yaml"),
            "--knowledge",
            str(knowledge),
            "--state",
            state,
            "--seed",
            "0",
            "train",
            "--fresh",
        ]
        wall, peak, log = run_child(command, tree, tree)
    return wall, peak, steps_of(log)


def steps_of(log: str) -> int:
    """The step count of the summary line ('training: 250 steps in 2:10, ...'), 0 if absent."""
    for line in reversed(log.splitlines()):
        words = line.replace("\r", " ").split()
        if "steps" in words and words.index("steps") > 0:
            count = words[words.index("steps") - 1]
            if count.isdigit():
                return int(count)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="8273bd9", help="the commit to measure against")
    parser.add_argument("--knowledge", type=Path, default=ROOT / "bench/invented/knowledge")
    parser.add_argument("--rounds", type=int, default=1, help="pairs of trainings (alternating)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    knowledge = args.knowledge.resolve()
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
            check=True,
            capture_output=True,
        )
        try:
            trees = {args.baseline: baseline, "this code": ROOT}
            totals = {label: [0.0, 0] for label in trees}
            files = sum(1 for path in knowledge.rglob("*") if path.is_file())
            print(f"default training on {knowledge} ({files} files)")
            for round_number in range(args.rounds):
                order = list(trees) if round_number % 2 == 0 else list(reversed(trees))
                for label in order:
                    wall, peak, steps = train(trees[label], knowledge)
                    totals[label][0] += wall
                    totals[label][1] = max(totals[label][1], peak)
                    print(f"{label:>10}: {wall:6.1f} s  {steps:4d} steps  peak {peak:5d} MB")
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                capture_output=True,
            )
    _, floor, _ = run_child([sys.executable, "-c", IMPORT_ONLY], ROOT, ROOT)
    (before_wall, before_peak), (after_wall, after_peak) = totals.values()
    print(
        f"wall time: this code {after_wall:.1f} s, {args.baseline} {before_wall:.1f} s"
        f" (x{after_wall / before_wall:.2f})"
    )
    print(
        f"peak memory: this code {after_peak} MB, {args.baseline} {before_peak} MB"
        f" (x{after_peak / before_peak:.2f}); importing TensorFlow and Keras alone: {floor} MB"
    )


if __name__ == "__main__":
    main()
