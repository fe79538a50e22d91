"""Look inside the last answer: how sure the model was (/probs) and what it attended to (/why).

Each view returns lines of prompt-toolkit fragments, `[(style, text), ...]`. With colour the
style carries the information (a background shade per character); without colour
(NO_COLOR, a dumb terminal or a pipe) every coloured row is followed by a row of shade
characters, so nothing is lost in plain text.
"""

from __future__ import annotations

import numpy as np

from tinychat.chat import Answer
from tinychat.terminal import printable
from tinychat.vocab import id_to_char

Fragments = list[tuple[str, str]]
SHADES = " .:-=+*#%@"  # plain-text intensity, low to high
SURE_TO_UNSURE = ["#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027"]  # green .. red
# Ignored to attended: backgrounds from a light neutral to a strong orange, all under black text,
# so every cell reads the same on a dark or a light terminal (black on each: contrast 7 or more).
IGNORED_TO_ATTENDED = ["#e4e4e4", "#fee08b", "#fdae61", "#f46d43"]


def _probability_colour(probability: float) -> str:
    bucket = min(len(SURE_TO_UNSURE) - 1, int((1.0 - probability) * len(SURE_TO_UNSURE)))
    return SURE_TO_UNSURE[bucket]


def _shade(intensity: float) -> str:
    return SHADES[min(len(SHADES) - 1, int(intensity * len(SHADES)))]


def _heat(intensity: float) -> str:
    """The background for an attention intensity in [0, 1], along IGNORED_TO_ATTENDED."""
    position = min(max(float(intensity), 0.0), 1.0) * (len(IGNORED_TO_ATTENDED) - 1)
    low = min(int(position), len(IGNORED_TO_ATTENDED) - 2)
    fraction = position - low
    start, end = IGNORED_TO_ATTENDED[low], IGNORED_TO_ATTENDED[low + 1]
    channels = []
    for offset in (1, 3, 5):  # red, green, blue of "#rrggbb"
        first, last = int(start[offset : offset + 2], 16), int(end[offset : offset + 2], 16)
        channels.append(round(first + (last - first) * fraction))
    return "#" + "".join(f"{value:02x}" for value in channels)


def _wrap(text: str, width: int) -> list[tuple[int, str]]:
    """(start offset, piece) rows of at most `width` characters; newlines shown as '|'."""
    flat = text.replace("\n", "|")
    return [(start, flat[start : start + width]) for start in range(0, len(flat), width)] or [
        (0, "")
    ]


def _heat_rows(text: str, intensity: np.ndarray, width: int, color: bool) -> list[Fragments]:
    """`text` wrapped, each character shaded by its intensity in [0, 1]."""
    lines: list[Fragments] = []
    for start, piece in _wrap(text, width):
        values = intensity[start : start + len(piece)]
        if color:
            cells = zip(piece, values)
            lines.append([(f"bg:{_heat(v)} fg:#000000", printable(c)) for c, v in cells])
        else:
            lines.append([("", printable(piece))])
            lines.append([("", "".join(_shade(v) for v in values))])
    return lines


# ---------------------------------------------------------------------------- /probs


def probability_view(
    answer: Answer, width: int = 80, color: bool = True, alternatives: int = 3
) -> list[Fragments]:
    """The answer, each character coloured by the probability the model gave it, with a legend
    and the top alternatives at the least certain positions."""
    if not answer.text:
        return [[("", "no answer yet: ask a question first")]]
    return _probability_rows(answer, width, color) + _least_certain(answer, alternatives)


def _probability_rows(answer: Answer, width: int, color: bool) -> list[Fragments]:
    """A legend, then the answer wrapped: each character on its probability's colour, or
    without colour each row followed by its probabilities in tenths."""
    probabilities = answer.probabilities
    if color:
        legend: Fragments = (
            [("", "sure ")] + [(f"bg:{c}", "  ") for c in SURE_TO_UNSURE] + [("", " unsure")]
        )
        lines = [legend]
        for start, piece in _wrap(answer.text, width):
            cells = zip(piece, probabilities[start : start + len(piece)])
            lines.append(
                [(f"bg:{_probability_colour(p)} fg:#000000", printable(c)) for c, p in cells]
            )
        return lines
    lines = [[("", "each character, then its probability in tenths (9 = sure, 0 = unsure):")]]
    for start, piece in _wrap(answer.text, width):
        values = probabilities[start : start + len(piece)]
        lines.append([("", printable(piece))])
        lines.append([("", "".join(str(min(9, int(p * 10))) for p in values))])
    return lines


def _least_certain(answer: Answer, alternatives: int) -> list[Fragments]:
    """The `alternatives` least certain characters, each with the model's top three choices."""
    probabilities = answer.probabilities
    lines: list[Fragments] = [[("", "least certain:")]]
    for position in np.argsort(probabilities, kind="stable")[:alternatives]:
        distribution = answer.distributions[position]
        best = np.argsort(-distribution, kind="stable")[:3]
        options = ", ".join(f"{id_to_char(int(i))!r} {distribution[i]:.2f}" for i in best)
        character = f"char {position + 1} {answer.text[position]!r}"
        said = f"{character} had {probabilities[position]:.2f}; the model's top choices: {options}"
        lines.append([("", f"  {said}")])
    return lines


# ---------------------------------------------------------------------------- /why


def attention_maps(answer: Answer) -> dict[str, np.ndarray]:
    """Mean attention from the answer's characters to each prompt position, per head (and the
    copy path).

    Each map has one value per prompt character, scaled so its largest value is 1.
    """
    assert answer.trace is not None
    prompt_length = len(answer.prompt)
    steps = answer.trace.attention[: len(answer.text)]  # step k produced answer character k
    maps: dict[str, np.ndarray] = {}
    for layer in range(len(steps[0]) if steps else 0):
        for head in range(steps[0][layer].shape[0]):
            total = sum(step[layer][head][:prompt_length] for step in steps)
            maps[f"layer {layer + 1} head {head + 1}"] = _scaled(total)
    copies = answer.trace.copy[: len(answer.text)]
    gates = answer.trace.gate[: len(answer.text)]
    if any(len(c) for c in copies):
        total = np.zeros(prompt_length, np.float64)
        for weights, gate in zip(copies, gates):
            # weight on position s proposes the character at s + 1: that is the one copied
            span = weights[: prompt_length - 1]
            total[1 : 1 + len(span)] += gate * span
        maps["copy path"] = _scaled(total)
    return maps


def _scaled(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64)
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else values


def attention_view(answer: Answer, width: int = 80, color: bool = True) -> list[Fragments]:
    """Per head, the prompt shaded by how much the answer attended to each character."""
    if answer.trace is None or not answer.text:
        return [[("", "no answer yet: ask a question first")]]
    gates = answer.trace.gate[: len(answer.text)]
    copied = sum(g > 0.5 for g in gates)
    lines: list[Fragments] = [
        [
            (
                "",
                f"{len(answer.text)} answer characters; {copied} mostly copied"
                f" (copy gate > 0.5, mean gate {np.mean(gates):.2f})",
            )
        ]
    ]
    if color:
        legend = [(f"bg:{_heat(v)} fg:#000000", "  ") for v in np.linspace(0, 1, 6)]
        lines.append([("", "ignored ")] + legend + [("", " attended")])
    for name, intensity in attention_maps(answer).items():
        lines.append([("bold", f"{name}:")])
        lines.extend(_heat_rows(answer.prompt, intensity, width, color))
    return lines
