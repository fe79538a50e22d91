"""Invented notes at any scale, for benchmarks and for development runs.

`write_folder(path, files, sentences_per_file, seed)` writes a knowledge folder of made-up
subjects (names, places, numbers), one sentence per line, and returns questions about it
in the `tinychat eval` format. Nothing here resembles the bundled knowledge or the
invented-subjects evaluation set, so tuning on it does not leak into either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiouy"]
KINDS = [
    "village",
    "island",
    "guild",
    "river",
    "engine",
    "festival",
    "orchard",
    "library",
    "ferry",
    "mine",
]
TEMPLATES = [
    (
        "The {kind} of {name} was founded in {year} by {person}.",
        "when was {name} founded?",
        ["{year}"],
    ),
    (
        "{name} has {count} members and one {thing}.",
        "how many members does {name} have?",
        ["{count}"],
    ),
    ("The main export of {name} is {goods}.", "what does {name} export?", ["{goods}"]),
    (
        "{person} keeps the records of {name} in a {color} box.",
        "who keeps the records of {name}?",
        ["{person}"],
    ),
    (
        "Every spring {name} holds a race along the {place} road.",
        "where is the race of {name} held?",
        ["{place}"],
    ),
    (
        "The oldest {thing} in {name} is {count} years old.",
        "how old is the oldest {thing} in {name}?",
        ["{count}"],
    ),
    (
        "{name} trades {goods} with the town of {place}.",
        "which town trades with {name}?",
        ["{place}"],
    ),
    (
        "The emblem of {name} is a {color} {animal}.",
        "what is the emblem of {name}?",
        ["{color}", "{animal}"],
    ),
    (
        "In {year} a storm destroyed the {thing} of {name}.",
        "what did the storm of {year} destroy?",
        ["{thing}"],
    ),
    (
        "{person} walked from {name} to {place} in {count} days.",
        "who walked from {name} to {place}?",
        ["{person}"],
    ),
]
GOODS = ["salt", "copper", "wool", "glass", "honey", "timber", "amber", "paper", "cheese", "rope"]
COLORS = ["green", "violet", "amber", "grey", "crimson", "white", "teal", "golden"]
ANIMALS = ["heron", "otter", "goat", "owl", "lynx", "crab", "moth", "boar"]
THINGS = ["bridge", "clock", "well", "tower", "boat", "oak", "bell", "mill"]


def invented_name(rng: np.random.Generator) -> str:
    return "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4)))).capitalize()


def facts(rng: np.random.Generator, name: str, count: int) -> list[tuple[str, str, list[str]]]:
    """`count` (sentence, question, keywords) triples about the subject `name`."""
    out = []
    for index in rng.permutation(len(TEMPLATES))[:count]:
        sentence, question, keywords = TEMPLATES[index]
        values = {
            "name": name,
            "kind": str(rng.choice(KINDS)),
            "year": str(int(rng.integers(1200, 1990))),
            "person": f"{invented_name(rng)} {invented_name(rng)}",
            "count": str(int(rng.integers(3, 900))),
            "thing": str(rng.choice(THINGS)),
            "goods": str(rng.choice(GOODS)),
            "color": str(rng.choice(COLORS)),
            "place": invented_name(rng),
            "animal": str(rng.choice(ANIMALS)),
        }
        out.append(
            (
                sentence.format(**values),
                question.format(**values),
                [k.format(**values).lower() for k in keywords],
            )
        )
    return out


def write_folder(folder: Path, files: int, sentences_per_file: int, seed: int = 0) -> list[dict]:
    """Write `files` notes of invented facts into `folder`; return eval questions about them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    questions = []
    for number in range(files):
        name = invented_name(rng)
        triples = facts(rng, name, sentences_per_file)
        path = f"{name.lower()}_{number}.txt"
        (folder / path).write_text("".join(sentence + "\n" for sentence, _, _ in triples))
        for line, (sentence, question, keywords) in enumerate(triples, start=1):
            questions.append(
                {
                    "q": question,
                    "source": path,
                    "line": line,
                    "answer": sentence,
                    "keywords": keywords,
                }
            )
    return questions


if __name__ == "__main__":
    import sys

    import yaml

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "synthetic")
    items = write_folder(
        target / "knowledge",
        files=int(sys.argv[2]) if len(sys.argv) > 2 else 12,
        sentences_per_file=6,
    )
    (target / "questions.yaml").write_text(yaml.safe_dump(items, sort_keys=False))
    print(f"wrote {target}/knowledge and {len(items)} questions to {target}/questions.yaml")
