"""Text that is safe to write to a terminal.

File names, knowledge text and model output could hold control characters or escape
sequences that move the cursor or retitle the window; they are shown escaped instead.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with every control character except newline and tab shown as an escape, e.g. '\\x1b'."""
    return CONTROL.sub(lambda match: repr(match.group())[1:-1], text)
