"""Key bindings of the chat prompt, kept apart from the REPL's loop (as pgcli and ptpython do).

Ctrl-C clears the line, and on an empty line tells the loop to say how to leave; Alt-Enter
(Esc then Enter) puts a newline into the question instead of sending it; an escape sequence
typed raw that looks like a mouse report is typed as text. A bracketed paste
keeps its newlines in the line too (prompt-toolkit's own binding), so a pasted paragraph is
one question: the REPL folds the newlines to spaces before answering.
"""

from __future__ import annotations

from typing import Any

from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.bindings.mouse import load_mouse_bindings
from prompt_toolkit.keys import Keys


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

    [mouse] = load_mouse_bindings().get_bindings_for_keys((Keys.Vt100MouseEvent,))

    @bindings.add(Keys.Vt100MouseEvent)
    def _mouse_or_typed(event: KeyPressEvent) -> Any:
        """A mouse report, or an escape sequence typed or pasted raw (ESC [ 3 1 m) that only
        looks like one to the input parser: prompt-toolkit's handler crashes on those."""
        try:
            return mouse.handler(event)
        except (ValueError, KeyError, IndexError):
            event.current_buffer.insert_text(event.data[1:])  # as text, like an unknown sequence
        return None

    return bindings
