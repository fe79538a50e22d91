"""Retrieval alone, on every question set, without and with the encoder stage (`retrieval.encoder`).

    python bench/encoder_retrieval.py --encoder DIR            # a folder from export_encoder.py
    python bench/encoder_retrieval.py --encoder DIR --sets natural,blind5

No weights: a `ChatSession(config, None)` answers with the top sentence, which is what the trained
model copies, so line hit@1 here is what the chat's answers follow. Each set is answered twice by
`tinychat.evaluate.evaluate` (bits off), once with `retrieval.encoder: none` and once with DIR;
a row gives line hit@1, the answering sentence in [CONTEXT], answerable questions declined, and
unanswerable ones declined (the fact missing | the subject missing). Needs the `encoder` extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinychat.chat import ChatSession  # noqa: E402
from tinychat.config import PathsConfig, load_config  # noqa: E402
from tinychat.evaluate import evaluate, load_items  # noqa: E402

# the sets a change is measured on (never bench/sets/reference-sealed: held out until the end)
SET_NAMES = (
    "natural", "holdout", "blind", "blind2", "blind3", "blind4", "blind5", "invented", "reference"
)


def set_folder(name: str) -> Path:
    """A set's folder: bench/sets/NAME, or bench/NAME where it has not moved there."""
    moved = ROOT / "bench" / "sets" / name
    return moved if moved.is_dir() else ROOT / "bench" / name


def measure(name: str, encoder: str) -> dict:
    """evaluate()'s report for one set's questions, the encoder stage as `encoder` says."""
    folder = set_folder(name)
    config = load_config(ROOT / "tinychat.yaml")
    with tempfile.TemporaryDirectory() as state:
        config = dataclasses.replace(
            config,
            paths=PathsConfig(knowledge=folder / "knowledge", state=Path(state)),
            retrieval=dataclasses.replace(config.retrieval, encoder=encoder),
        )
        with ChatSession(config, None) as session:
            return evaluate(session, load_items(folder / "questions.yaml"), bits=False)


def cells(report: dict) -> str:
    def figure(key: str) -> str:
        value = report.get(key)
        return "-" if value is None else f"{value:.3f}"

    declined = f"{figure('abstained_fact')} / {figure('abstained_subject')}"
    return (
        f"{figure('line_hit1')} | {figure('in_context')} | {figure('abstained')} | {declined}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True, help="retrieval.encoder: a folder or a name")
    parser.add_argument("--sets", default=",".join(SET_NAMES), help="comma-separated set names")
    args = parser.parse_args()
    encoder = str(Path(args.encoder).expanduser().resolve())
    encoder = encoder if Path(encoder).is_dir() else args.encoder
    print(
        "| set | questions | line hit@1 | in [CONTEXT] | answerable declined"
        " | unanswerable declined (fact / subject) | seconds |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    gains = []
    for name in args.sets.split(","):
        rows = {}
        for label, source in (("lexical", "none"), ("+ encoder", encoder)):
            started = time.perf_counter()
            rows[label] = measure(name, source), time.perf_counter() - started
        for label, (report, seconds) in rows.items():
            print(
                f"| {name} {label} | {report['questions']} | {cells(report)} | {seconds:.0f} |",
                flush=True,
            )
        before, after = (rows[label][0]["line_hit1"] for label in rows)
        gains.append(after - before)
        print(f"| {name} gain | | {after - before:+.3f} | | | | |", flush=True)
    print(f"line hit@1 gain: smallest {min(gains):+.3f}, mean {sum(gains) / len(gains):+.3f}")


if __name__ == "__main__":
    main()
