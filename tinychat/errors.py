"""The one exception type for problems a user can fix.

Raised where the problem is known, with the file, key or value and the next step in
its message; caught once in `cli` (one line on stderr, exit code 1) and in the REPL
(the line is printed and the prompt returns).
"""


class TinychatError(Exception):
    """A problem the user can fix; its message is shown as one line, never a traceback."""
