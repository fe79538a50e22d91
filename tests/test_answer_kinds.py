"""The kind of answer a question asks for, and whether a sentence holds it (answer_kinds.py)."""

from __future__ import annotations

import pytest

from tinychat.retrieval.answer_kinds import holds, kinds_asked


@pytest.mark.parametrize(
    "question, sentence, held",
    [
        # a measure: the unit must fit what is asked
        ("how high is the lighthouse?", "It is 31 metres tall.", 1.0),
        ("how high is the lighthouse?", "The light flashes every 15 seconds.", 0.0),
        ("how far is the walk?", "The walk is 11 km and climbs a hill.", 1.0),
        ("how far is the walk?", "Allow about 4 hours for it.", 0.0),
        ("how heavy is the anvil?", "It weighs 40 kg.", 1.0),
        ("how heavy is the anvil?", "It is 2 m long.", 1.0),  # any size (a weight paid nowhere)
        ("how long does the bread bake for?", "Bake it for 40 minutes.", 1.0),
        ("how long does the walk take?", "The walk is 11 km.", 0.5),  # a length, not a time
        ("how long is the crossing?", "It arrives 35 minutes later.", 1.0),  # either
        ("how long is the crossing?", "The crossing is 4 miles.", 1.0),
        # other kinds
        ("what time does the vet open?", "They open at 8:30 on weekdays.", 1.0),
        ("who winds the clock?", "A volunteer called Dennis Orme winds it.", 1.0),
        ("how much is a ticket?", "A ticket costs £3.", 1.0),
        ("what colour is the door?", "The door is painted dark green.", 1.0),
        ("how much money is left in the kitty?", "The kitty holds £42.", 1.0),  # a price
        ("which days is the gym open?", "It is open on Mondays and Fridays.", 1.0),
        ("how long does the stew need in the oven?", "Cook it for 2 hours.", 1.0),
        ("how long does the stew need in the oven?", "Use a 24 cm pot.", 0.5),
        ("how hot should the oven be?", "Bake at 220°C for 30 minutes.", 1.0),  # a temperature
        ("how hot should the oven be?", "Use 500 g of flour.", 0.0),
        ("what make is my bike?", "My bike is a green Corvid Rambler.", 1.0),  # a name
        ("what's the number for the dentist?", "Phone: 01422 355 500", 1.0),
        ("what's the number for the dentist?", "Crown fitted in 2022", 0.0),  # a year is no phone
        # a day or a month is written with a capital but names nobody
        ("who checks the plots?", "Inspections are in May and September.", 0.0),
        ("who checks the plots?", "Bonfires only before 10am on Sundays.", 0.0),
        ("who checks the plots?", "Secretary: Margaret Pell", 1.0),
        # a day written short, as in a plan: "Thu 15"; "sat" alone is no day
        ("when do we fly home?", "Thu 15: fly home on AZ 4405.", 1.0),
        ("which day is the walking tour?", "Sun 11: walking tour from the station.", 1.0),
        ("when did the cat come?", "The cat sat on the mat.", 0.0),
        ("who runs the stall?", "Open Tue and Thu.", 0.0),
    ],
)
def test_a_sentence_holds_the_kind_of_answer_asked_for(question, sentence, held):
    assert holds(sentence, kinds_asked(question)) == held


def test_a_question_that_asks_no_kind_holds_nothing():
    assert kinds_asked("tell me about the mill") == []
    assert holds("The mill grinds flour.", kinds_asked("tell me about the mill")) == 0.0


def test_a_question_that_only_names_a_kind_does_not_ask_for_it():
    from tinychat.retrieval.answer_kinds import KINDS_BY_NAME, demands

    temperature, phone, price = (KINDS_BY_NAME[name] for name in ("temperature", "phone", "price"))
    assert not demands(temperature, "what does temperature 0 mean?")  # it asks what it means
    assert demands(temperature, "what temperature do I bake it at?")
    assert demands(phone, "what's the gym's phone number?")
    assert demands(price, "what is the price of a ticket?")
