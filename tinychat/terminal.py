"""Text that is safe to write to a terminal.

File names, knowledge text, questions and error messages could hold control characters or
escape sequences that move the cursor, clear the screen or retitle the window; they are
shown escaped instead ('\\x1b'). Everything tinychat prints about them passes through here:
`printable` for text of several lines, `printable_line` for one line (a notice, an error,
a file name), `json_line` for a `--json` record.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 controls (newline is handled apart), DEL, C1 controls, the Unicode line and paragraph
# separators, the bidirectional embedding/override/isolate marks (they reorder what is shown),
# and lone surrogates: the bytes of a file name that is not UTF-8 (os.fsdecode's surrogateescape).
_UNSAFE = "\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
CONTROL = re.compile(f"[{_UNSAFE}]")
CONTROL_OR_NEWLINE = re.compile(f"[\n{_UNSAFE}]")


def _escape(match: re.Match) -> str:
    """'\\x1b', '\\n', '\\u202e'; a surrogate-escaped byte of a file name as the byte, '\\xe9'."""
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return repr(match.group())[1:-1]


def printable(text: str) -> str:
    """`text` with every control character except newline shown as an escape, e.g. '\\x1b'."""
    return CONTROL.sub(_escape, text)


def printable_line(text: str) -> str:
    """`text` as one line: newlines escaped too, so a file name cannot forge a line of output."""
    return CONTROL_OR_NEWLINE.sub(_escape, text)


def json_line(record: Any) -> str:
    """`record` as one line of JSON that any terminal or UTF-8 reader can take.

    Non-ASCII text stays readable; what `printable` escapes becomes a JSON escape ('\\u001b'),
    so the line never holds a raw control character and never fails to encode. A byte of a
    file name that is not UTF-8 is written as `printable` shows it, 'caf\\xe9.txt': a lone
    surrogate ('\\udce9') is not Unicode, and readers other than Python's replace it or fail.
    """
    text = json.dumps(record, ensure_ascii=False)  # json escapes C0 itself; the rest is done here
    return CONTROL.sub(_json_escape, text)


def _json_escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's byte: shown as the byte, backslash escaped
        return f"\\\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"
