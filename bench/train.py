"""Training: wall time and answer quality of the default training, against an earlier version,
in one run.

    python bench/train.py                         # this code, on the three question sets
    python bench/train.py --baseline 8273bd9      # and the code of that commit, set by set

For each set (knowledge folder + questions file) and each version of the code: `tinychat train
--fresh` with the default configuration in a fresh state folder (wall time, steps), then
`tinychat eval` on the set's answerable questions. An earlier version's questions file format
may be older, so both versions are given the answerable questions in the common format (q,
source, line, answer, keywords). Versions run one after the other on each set, so they share
the machine's conditions; the ratio of wall times is the figure to read.
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

import yaml

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "bundled": ("knowledge", "tests/data/knowledge_questions.yaml"),
    "invented": ("bench/invented/knowledge", "bench/invented/questions.yaml"),
    "natural": ("bench/natural/knowledge", "bench/natural/questions.yaml"),
}
COMMON_KEYS = ("q", "source", "line", "answer", "keywords")
FIGURES = (
    "line_hit1",
    "keyword_recall",
    "all_keywords",
    "token_f1",
    "exact_numbers",
    "baseline_keyword_recall",
)


def answerable_questions(questions: Path, into: Path) -> Path:
    """The answerable questions of `questions`, in the format every version reads."""
    items = yaml.safe_load(questions.read_text(encoding="utf-8"))
    kept = [
        {key: item[key] for key in COMMON_KEYS if key in item}
        for item in items
        if isinstance(item, dict) and item.get("answerable", True) and "turns" not in item
    ]
    into.write_text(yaml.safe_dump(kept, allow_unicode=True), encoding="utf-8")
    return into


def tinychat(tree: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the tinychat of source tree `tree` (its own tinychat.yaml: the defaults of that
    version)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "tinychat", "--config", str(tree / "tinychat.yaml"), *args]
    return subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True)


def measure(tree: Path, knowledge: Path, questions: Path) -> dict:
    """Train from scratch with the defaults, then evaluate: wall time, steps and eval figures."""
    with tempfile.TemporaryDirectory() as state:
        start = time.perf_counter()
        tinychat(
            tree, "--knowledge", str(knowledge), "--state", state, "--seed", "0", "train", "--fresh"
        )
        wall = time.perf_counter() - start
        report = json.loads(
            tinychat(
                tree,
                "--knowledge",
                str(knowledge),
                "--state",
                state,
                "eval",
                str(questions),
                "--json",
            ).stdout
        )
        metrics = saved_metrics(Path(state))
    steps = metrics["steps"]
    fit = {"s_per_step": metrics["seconds"] / steps, "kchars_s": metrics["chars_per_second"] / 1e3}
    return {"wall_s": wall, "steps": steps, **fit, **report}


def saved_metrics(state: Path) -> dict:
    """The training metrics the checkpoint records (steps, fit seconds, chars/s); every version
    writes them in the header attribute of its one weights file (the name changed)."""
    import h5py

    (path,) = [p for p in state.glob("*.h5") if "progress" not in p.name]
    with h5py.File(path, "r") as file:
        return json.loads(file.attrs["tinychat"])["metrics"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline",
        help="a git commit to measure beside this code (checked out in a temporary worktree)",
    )
    parser.add_argument("--sets", default=",".join(SETS))
    return parser.parse_args()


def add_worktree(commit: str, path: Path) -> None:
    """Check out `commit` at `path` (detached), to run that version's code."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
        check=True,
        capture_output=True,
    )


def remove_worktree(path: Path) -> None:
    """Remove the worktree at `path`, best effort: it runs in a `finally`, after any error."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
        capture_output=True,
    )


def print_header() -> None:
    print("| set | code | steps | wall s | s/step | k chars/s | " + " | ".join(FIGURES) + " |")
    print("| --- " * (6 + len(FIGURES)) + "|")


def table_row(name: str, label: str, result: dict) -> str:
    """One version's row on one set: steps, wall seconds and every eval figure."""
    figures = " | ".join(
        "n/a" if result.get(key) is None else f"{result[key]:.3f}" for key in FIGURES
    )
    row = (
        f"| {name} | {label} | {result['steps']} | {result['wall_s']:.0f} |"
        f" {result['s_per_step']:.3f} | {result['kchars_s']:.1f} |"
    )
    return f"{row} {figures} |"


def compare_on_set(name: str, trees: dict[str, Path], scratch: Path) -> None:
    """Train and evaluate every version on one set, one after the other: a row each, then the
    ratio of wall times when there are two versions."""
    folder, questions = (ROOT / part for part in SETS[name])
    common = answerable_questions(questions, scratch / f"{name}.yaml")
    walls = {}
    for label, tree in trees.items():
        result = measure(tree, folder, common)
        walls[label] = result["wall_s"]
        print(table_row(name, label, result), flush=True)
    if len(walls) == 2:
        before, after = walls.values()
        print(
            f"| {name} | wall time ratio | | x{after / before:.2f} | | |" + " |" * len(FIGURES),
            flush=True,
        )


def main() -> None:
    args = parse_args()
    trees = {"this code": ROOT}
    with tempfile.TemporaryDirectory() as scratch:
        if args.baseline:
            baseline = Path(scratch) / "baseline"
            add_worktree(args.baseline, baseline)
            trees = {args.baseline: baseline, **trees}
        try:
            print_header()
            for name in args.sets.split(","):
                compare_on_set(name, trees, Path(scratch))
        finally:
            if args.baseline:
                remove_worktree(baseline)


if __name__ == "__main__":
    main()
