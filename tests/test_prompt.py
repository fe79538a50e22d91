"""The prompt: the seed's layout byte for byte, always inside the window."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tinychat.prompt import MIN_ANSWER_ROOM, build_prompt, one_line
from tinychat.vocab import encode

KERAS = "Keras provides a high-level API for building neural networks in TensorFlow."
TENSORFLOW = "TensorFlow is a machine learning framework for building and training models."


def test_layout_byte_for_byte():
    prompt = build_prompt([KERAS, TENSORFLOW], "what is keras?", window=320, max_answer_chars=160)
    assert prompt.text == f"[CONTEXT]\n{KERAS}\n{TENSORFLOW}\n[QUERY]\nwhat is keras?\n[ANSWER]\n"
    assert prompt.context_used == 2


def test_no_context_and_overflow():
    assert build_prompt([], "q", 320, 160).text == "[CONTEXT]\n[QUERY]\nq\n[ANSWER]\n"
    prompt = build_prompt(
        [KERAS, TENSORFLOW, KERAS], "what is keras?", window=200, max_answer_chars=160
    )
    assert prompt.context_used == 1 and len(prompt.text) + len(KERAS) <= 200


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=300), max_size=6),
    st.text(max_size=400),
    st.integers(64, 512),
    st.integers(1, 300),
)
def test_always_fits_and_keeps_the_markers(context, query, window, max_answer):
    prompt = build_prompt(context, query, window, max_answer)
    assert prompt.text.endswith("\n[ANSWER]\n")
    assert len(prompt.text) + MIN_ANSWER_ROOM <= window or prompt.context_used == 0
    lines = prompt.text.split("\n")
    assert lines[0] == "[CONTEXT]"
    assert (
        lines[-2] == "[ANSWER]" and lines[-4] == "[QUERY]"
    )  # the query is one line between its markers
    assert (
        lines[-3] == one_line(query)[: window // 4]
    )  # folded as the model reads it ("…" -> "...")
    assert len(encode(prompt.text)) == len(
        prompt.text
    )  # so the window is counted in model characters
    assert 0 <= prompt.context_used <= len(context)


def test_the_window_is_measured_in_the_characters_the_model_reads():
    """An ellipsis becomes three characters when encoded: the prompt must still leave room to
    answer."""
    context = [
        "A temperature of 0 means greedy decoding: the most probable character is always chosen."
    ]
    prompt = build_prompt(context, "what does temperature 0 mean" + "\u2026" * 50, 320, 160)
    assert len(encode(prompt.text)) == len(prompt.text) and len(prompt.text) <= 320 - 24
