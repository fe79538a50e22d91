"""Questions a person asks of household notes: follow-ups, numbers, codes, pasted messages.

Each note below is written as people write notes (a heading, "It ..." sentences, lists with a
lead-in, labelled items); each test asks what a user asked of such a note and checks what
retrieval answers (no weights: the answer is the sentence the model would copy).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tiny_config, write_notes
from tinychat.chat import ChatSession

GYM = """# Gym

The gym is Pulse Fitness on Brook Street. It opens at 6am on weekdays and 8am at weekends.
It closes at 10pm Monday to Friday and 6pm on Saturday and Sunday.

Classes:
- Spin on Tuesdays at 7pm.
- Yoga on Thursdays at 6:30pm.

The pool is shut for refurbishment until the end of January.
My membership number is PF-20931 and it costs £34.99 a month.
"""
BANANA_BREAD = """# Mum's banana bread

This is Mum's recipe and it never fails; it keeps for about four days in a tin.

Ingredients:
- 3 very ripe bananas
- 100g soft butter
- 150g light brown sugar
- 2 eggs
- 225g self-raising flour

## Method

Heat the oven to 180C (160C fan). Grease and line a 2lb loaf tin.
Mash the bananas, then beat in the butter, sugar and eggs.
Bake for 55 to 60 minutes, until a skewer comes out clean.
"""
HOUSE = """# House

We rent 14 Larch Road from Whitfield Lettings.
The landlord is Graham Whitfield and he prefers texts to calls: 07823 441190.
The stopcock is under the kitchen sink, behind the bleach.

## Codes and passwords

- Wifi network: Larkspur_5G
- Wifi password: marmalade-otter-77
- Alarm code: 4618 (the panel is behind the coat hooks)
"""
CONTACTS = """# Useful numbers

- Plumber: Dave Kerrigan, 07700 900 482.
- Dentist: Brightsmile Dental, 020 7946 0321.
- Babysitter: Freya, 07911 123 456. She charges £12 an hour and can't do Sundays.
- Biscuit's pet insurance number is PTN-55120.
"""
LISBON = """# Lisbon trip, October

We fly out on Friday 17 October from Gatwick at 06:45, landing at 09:35 local time.
The flight number is TP1337 and the booking reference is QX7K2M.
We fly home on Tuesday 21 October at 19:10.
Budget is about €1,200 for the two of us, not counting flights.
"""
ALLOTMENT = """Our allotment is plot 23 at the Fernbank allotments.
The gate code is 1979 and the water troughs are turned off from November to March.
On Friday Priya asked for the shed key back.
"""
NOTES = {
    "gym.md": GYM,
    "banana-bread.md": BANANA_BREAD,
    "house.md": HOUSE,
    "contacts.md": CONTACTS,
    "lisbon-trip.md": LISBON,
    "allotment.txt": ALLOTMENT,
}


@pytest.fixture
def chat(tmp_path: Path) -> ChatSession:
    """A session over the household notes, with no weights: each answer is the best sentence."""
    write_notes(tmp_path / "notes", NOTES)
    return ChatSession(tiny_config(tmp_path), None)


def conversation(chat: ChatSession, *questions: str):
    """The answers to `questions` asked one after another, as the REPL follows them."""
    chat.follow_up = True
    return [chat.ask(question) for question in questions]


def test_a_follow_up_carries_the_notes_subject_not_a_sentence_after_a_list(chat):
    _, close = conversation(chat, "what time does the gym open?", "and when does it close?")
    assert "pool" not in close.searched and "membership" not in close.searched
    assert close.text == "It closes at 10pm Monday to Friday and 6pm on Saturday and Sunday."


def test_a_follow_up_after_a_list_item_does_not_carry_the_lists_lead_in(chat):
    flour, oven, bake = conversation(
        chat,
        "how much flour goes in the banana bread?",
        "what temperature do I bake it at?",
        "how long does it bake for?",
    )
    assert flour.text.startswith("225g self-raising flour")
    assert "ingredients" not in oven.searched.lower()
    assert oven.text == "Heat the oven to 180C (160C fan)."
    assert bake.text == "Bake for 55 to 60 minutes, until a skewer comes out clean."


def test_a_heading_of_numbers_does_not_pull_every_number_question_to_it(chat):
    landlord = chat.ask("what's the landlord's number?")
    assert landlord.text.startswith("The landlord is Graham Whitfield")
    # "number" names no note: after the trip, the flight number is the trip's
    _, flight = conversation(chat, "when do we fly home from lisbon?", "what's the flight number?")
    assert flight.text.startswith("The flight number is TP1337")


def test_a_heading_of_codes_does_not_hide_which_line_holds_the_password(chat):
    assert chat.ask("what's the wifi password?").text == "Wifi password: marmalade-otter-77"


def test_a_question_whose_word_is_in_the_best_sentence_is_answered(chat):
    budget = chat.ask("how much is the budget?")
    assert not budget.abstained and budget.text.startswith("Budget is about €1,200")


def test_words_the_notes_lack_in_a_pasted_message_do_not_decline_it(chat):
    pasted = chat.ask(
        "my friend asked me this in an email: what is the gate code for the allotment? thanks"
    )
    assert not pasted.abstained and "1979" in pasted.text


def test_a_pronoun_sentence_of_a_list_item_belongs_to_the_items_label(chat):
    answer = chat.ask("how much does the babysitter charge?")
    assert answer.text == "She charges £12 an hour and can't do Sundays."


def test_a_fact_the_notes_lack_is_answered_with_the_closest_sentence_marked_weak(chat):
    phone = chat.ask("what's the gym's phone number?")  # the notes give no phone for the gym
    assert not phone.abstained and phone.weak == "the closest sentence holds no phone number"
    assert not chat.ask("what is the alarm code?").weak  # a good match carries no marker


def test_a_question_about_nothing_in_the_notes_is_declined(chat):
    answer = chat.ask("who wrote pride and prejudice?")
    assert answer.abstained and answer.why_declined.startswith('no note mentions "wrote"')
