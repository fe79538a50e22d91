"""Training examples, tested directly: name and number swaps agree across the prompt, the loss
mask covers the answer only, and row making reports its progress."""

from __future__ import annotations

import numpy as np

from tests.conftest import tiny_config
from tinychat.examples import make_rows, swap_names_and_numbers
from tinychat.knowledge import split_chunks
from tinychat.retrieval.lexical import LexicalIndex
from tinychat.retrieval import Retriever
from tinychat.vocab import decode

NOTES = (
    "The Brasko lighthouse stands 41 metres tall.\nKeeper Tomasz Vell lived there for 27 years.\n"
)


def test_a_swap_changes_a_name_or_number_the_same_way_everywhere():
    rng = np.random.default_rng(0)
    context = ["Keeper Tomasz Vell lived there for 27 years.", "Tomasz Vell had a dog."]
    (first, second, query), answer = swap_names_and_numbers(
        [*context, "how long did tomasz vell live there?"], context[0], rng
    )
    assert answer == first  # the answer is still the context sentence, character for character
    changed = [word for word in ("Tomasz", "Vell", "27") if word not in answer]
    assert changed  # something was swapped ...
    for word in changed:  # ... and swapped away from the other sentence and the question too
        assert word not in second and word.lower() not in query


def test_rows_learn_only_the_answer_and_report_progress(tmp_path):
    config = tiny_config(tmp_path)
    chunks = split_chunks("brasko.txt", NOTES, 200)
    reported: list[int] = []
    rows = make_rows(
        chunks,
        [NOTES],
        Retriever("tfidf", LexicalIndex(chunks)),
        config,
        600,
        seed=0,
        on_rows=reported.append,
    )
    assert reported == [0, 256, 512]
    answered = [
        (inputs, weights) for inputs, weights in zip(rows.inputs, rows.weights) if weights.any()
    ]
    assert len(answered) >= 500  # nearly every row is a question with its answer
    for inputs, weights in answered[:50]:
        first = int(
            np.argmax(weights > 0)
        )  # the prompt's last character: it predicts the answer's first
        assert decode(inputs[: first + 1]).endswith("[ANSWER]\n")
        assert weights[:first].sum() == 0 and "[QUERY]" not in decode(
            inputs[first:][weights[first:] > 0]
        )
