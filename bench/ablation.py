"""Train configuration variants and compare them with `tinychat eval`.

    python bench/ablation.py --knowledge bench/invented/knowledge \\
        --questions bench/invented/questions.yaml \\
        --variant default= --variant learned=model.positions=learned,model.window=320

Each variant is `name=key=value,key=value` (dotted tinychat.yaml keys; empty for the
defaults). Every variant trains from scratch in its own temporary state folder through
the real command line, then is evaluated; one table row per variant is printed at the
end (and as JSON lines with --json), with the training time.
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
COLUMNS = [
    ("hit1", "hit@1"),
    ("hit3", "hit@3"),
    ("keyword_recall", "kw recall"),
    ("all_keywords", "all kw"),
    ("token_f1", "F1"),
    ("bpc_context", "bpc ctx"),
    ("bpc_no_context", "bpc none"),
    ("bpc_wrong_document", "bpc wrong"),
    ("looped", "cut"),
]


def variant_config(assignments: str) -> dict:
    """'model.window=256,train.steps=900' -> a nested tinychat.yaml mapping."""
    config: dict = {}
    for assignment in filter(None, assignments.split(",")):
        key, _, value = assignment.partition("=")
        section, name = key.split(".")
        config.setdefault(section, {})[name] = yaml.safe_load(value)
    return config


def run_variant(name: str, assignments: str, knowledge: Path, questions: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "tinychat.yaml"
        config_path.write_text(yaml.safe_dump(variant_config(assignments)))
        base = [
            sys.executable,
            "-m",
            "tinychat",
            "--config",
            str(config_path),
            "--knowledge",
            str(knowledge),
            "--state",
            str(Path(folder) / "state"),
        ]
        start = time.perf_counter()
        subprocess.run(
            [*base, "train", "--fresh"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - start
        output = subprocess.run(
            [*base, "eval", str(questions), "--json"],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
    return {
        "variant": name,
        "settings": assignments or "(defaults)",
        "train_s": round(seconds),
        **json.loads(output.stdout),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, default=ROOT / "bench" / "invented" / "knowledge")
    parser.add_argument(
        "--questions", type=Path, default=ROOT / "bench" / "invented" / "questions.yaml"
    )
    parser.add_argument(
        "--variant", action="append", required=True, help="name=key=value,key=value"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rows = []
    for spec in args.variant:
        name, _, assignments = spec.partition("=")
        rows.append(run_variant(name, assignments, args.knowledge, args.questions))
        print(
            json.dumps(rows[-1]) if args.json else f"done: {name}",
            file=sys.stdout if args.json else sys.stderr,
            flush=True,
        )
    if not args.json:
        print(f"| variant | {' | '.join(label for _, label in COLUMNS)} | train s |")
        print(f"| --- |{' --- |' * (len(COLUMNS) + 1)}")
        for row in rows:
            figures = " | ".join(f"{row[key]:.2f}" for key, _ in COLUMNS)
            print(f"| {row['variant']} | {figures} | {row['train_s']} |")


if __name__ == "__main__":
    main()
