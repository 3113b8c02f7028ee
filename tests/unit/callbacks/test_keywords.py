"""The callback word a customer may text: CANCEL or 1 (and their words in our languages)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.callbacks.keywords import CANCEL_WORDS, KEEP_WORDS, callback_word


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("CANCEL", "cancel"),
        ("  Cancelar! ", "cancelar"),
        ("ОТМЕНА.", "отмена"),
        ("Ακύρωση", "ακύρωση"),
        ("1", "1"),
        ("Call   me", "call me"),
        ("κλήση", "κλήση"),
    ],
)
def test_a_keyword_is_read_whatever_its_case_spacing_or_final_stop(body: str, word: str) -> None:
    assert callback_word(body) == word


@pytest.mark.parametrize("body", ["", "2", "please cancel my order", "call me later", "11"])
def test_a_sentence_that_only_contains_a_keyword_is_not_one(body: str) -> None:
    assert callback_word(body) is None


@given(st.text(max_size=30))
def test_whatever_is_texted_the_answer_is_a_known_word_or_none(body: str) -> None:
    word = callback_word(body)
    assert word is None or word in CANCEL_WORDS | KEEP_WORDS
