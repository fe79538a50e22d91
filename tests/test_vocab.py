"""Vocabulary: round trip, folding to ASCII, the unknown-character policy."""

from hypothesis import given
from hypothesis import strategies as st

from tinychat.vocab import CHARS, UNKNOWN_CHAR, UNKNOWN_ID, VOCAB_SIZE, decode, encode, normalize


def test_size_and_round_trip():
    assert VOCAB_SIZE == 97 and len(CHARS) == 96
    text = "".join(CHARS)
    assert decode(encode(text)) == text


def test_folding_keeps_meaning():
    assert normalize("café naïve") == "cafe naive"
    assert normalize("\u201cquoted\u201d \u2014 it\u2019s\tfine\r") == '"quoted" - it\'s fine'
    assert decode(encode("Stra\u00dfe")) == "Strasse"


def test_unknown_characters():
    ids = encode("a\u20acb\u4e2d")
    assert list(ids) == [CHARS.index("a"), UNKNOWN_ID, CHARS.index("b"), UNKNOWN_ID]
    assert decode(ids) == f"a{UNKNOWN_CHAR}b{UNKNOWN_CHAR}"


@given(st.text())
def test_every_text_encodes_to_valid_ids(text):
    ids = encode(text)
    assert ((ids >= 0) & (ids < VOCAB_SIZE)).all()
    assert len(decode(ids)) == len(ids)


def shown(context: str, model_wrote: str) -> str:
    """The answer as shown, character by character, for what the model wrote."""
    from tinychat.vocab import Spelling

    spelling = Spelling.of(context)
    return "".join(spelling.shown(model_wrote[: i + 1]) for i in range(len(model_wrote)))


def test_an_unknown_id_is_shown_as_the_character_it_copied():
    context = "[CONTEXT]\nA bun is £2.40; bake at 170°C.\n"
    assert shown(context, "A bun is \ufffd2.40") == "A bun is £2.40"
    assert shown(context, "bake at 170\ufffd") == "bake at 170°"  # the longest matching end
    assert shown(context, "\ufffd") == "£"  # nothing written before it: the first one
    assert shown("All plain ASCII.", "All \ufffd") == "All " + UNKNOWN_CHAR  # none to copy
    # a control character is never written to the terminal: an escape sequence stays inert
    for control in ("\x1b", "\x9b", "\u202e", "\x07"):
        assert shown(f"Code: {control}[2J", "Code: \ufffd") == "Code: " + UNKNOWN_CHAR


def test_a_copied_name_keeps_the_notes_accents():
    """Found over notes with Portuguese names: the model reads "Inês" as "Ines" and wrote
    "the host is Ines". What it copies is shown as the note spells it."""
    context = "[CONTEXT]\nÉlodie said the host is Inês, at the café in São Bento.\n[QUERY]\nq\n"
    wrote = "Elodie said the host is Ines, at the cafe in Sao Bento."
    assert shown(context, wrote) == "Élodie said the host is Inês, at the café in São Bento."
    # a character the model wrote that stands nowhere in the context, or too short a match to
    # say where, is shown as written: a lone "e" is not taken for the "é" of "café"
    assert shown(context, "the Ines family") == "the Inês family"
    assert shown(context, "e") == "e" and shown(context, "xyz") == "xyz"
    # "æ" is read as "ae", two characters: shown as written, one for each the model wrote
    assert shown("[CONTEXT]\nThe æther…\n", "The aether...") == "The aether..."


@given(st.text(max_size=40), st.text(alphabet=CHARS[1:] + UNKNOWN_CHAR, max_size=10))
def test_what_is_shown_is_one_printable_character_for_each_the_model_wrote(context, wrote):
    text = shown(context, wrote)
    assert len(text) == len(wrote) and (text.isprintable() or not text)
    # it folds back to what the model wrote (an unknown character stays unknown)
    for char, written in zip(text, wrote):
        assert char == written or (
            encode(char)[0] == UNKNOWN_ID if written == UNKNOWN_CHAR else normalize(char) == written
        )
