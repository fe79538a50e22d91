"""Key bindings of the chat prompt, kept apart from the REPL's loop (as pgcli and ptpython do).

Ctrl-C clears the line, and on an empty line tells the loop to say how to leave; Alt-Enter
(Esc then Enter) puts a newline into the question instead of sending it. A bracketed paste
keeps its newlines in the line too (prompt-toolkit's own binding), so a pasted paragraph is
one question: the REPL folds the newlines to spaces before answering.
"""

from __future__ import annotations

from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent


class InterruptAtEmptyPrompt(KeyboardInterrupt):
    """Ctrl-C with nothing typed: the REPL says how to leave, once, and goes on."""


def chat_key_bindings() -> KeyBindings:
    """The bindings added to prompt-toolkit's defaults (added last, so they win)."""
    bindings = KeyBindings()

    @bindings.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        """Clear the line; on an empty one, ask the loop to say how to leave."""
        empty = not event.current_buffer.text
        event.app.exit(exception=InterruptAtEmptyPrompt() if empty else KeyboardInterrupt())

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        """Alt-Enter: a newline inside the question (Enter alone sends it)."""
        event.current_buffer.insert_text("\n")

    return bindings
