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


def test_an_unknown_id_is_restored_to_the_character_it_copied():
    from tinychat.vocab import restore_unknown

    context = "[CONTEXT]\nA bun is £2.40; bake at 170°C.\n"
    assert restore_unknown(context, "A bun is ") == "£"
    assert restore_unknown(context, "bake at 170") == "°"  # the longest matching end decides
    assert restore_unknown(context, "") == "£"  # nothing written yet: the first one
    assert restore_unknown("All plain ASCII.", "All") == UNKNOWN_CHAR  # nothing to restore
    # a control character is never written to the terminal: an escape sequence stays inert
    for control in ("\x1b", "\x9b", "\u202e", "\x07"):
        assert restore_unknown(f"Code: {control}[2J", "Code: ") == UNKNOWN_CHAR


@given(st.text(max_size=40), st.text(max_size=10))
def test_a_restored_character_is_one_character_the_vocabulary_lacks(context, written):
    from tinychat.vocab import restore_unknown

    char = restore_unknown(context, written)
    assert len(char) == 1 and (char == UNKNOWN_CHAR or char in normalize(context))
    assert char.isprintable()
    assert encode(char)[0] == UNKNOWN_ID
