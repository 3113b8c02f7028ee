"""Reading answers into slots: account numbers with checksums, dates, amounts, choices."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.selfservice.flows.schemas import Ask
from threadline.selfservice.flows.slots import (
    ChoiceText,
    account_number,
    amount,
    iban,
    luhn,
    match_choice,
    read,
    read_date,
)

TODAY = date(2026, 12, 6)


@pytest.mark.parametrize(
    ("text", "pattern", "checksum", "expected"),
    [
        ("4539 1488 0343 6467", None, "luhn", "4539148803436467"),
        ("4539 1488 0343 6468", None, "luhn", None),
        ("gb82 west 1234 5698 7654 32", None, "iban", "GB82WEST12345698765432"),
        ("GB82 WEST 1234 5698 7654 33", None, "iban", None),
        ("PT50 0002 0123 1234 5678 9015 4", None, "iban", "PT50000201231234567890154"),
        ("12-34", r"[0-9]{4}", "none", "1234"),
        ("123", r"[0-9]{4}", "none", None),
        ("abcd", None, "none", None),
        # inside a sentence: the one number that fits
        ("it ends in 4321", r"[0-9]{4}", "none", "4321"),
        ("termina em 43-21, obrigado", r"[0-9]{4}", "none", "4321"),
        (
            "my iban is PT50 0002 0123 1234 5678 9015 4 thanks",
            None,
            "iban",
            "PT50000201231234567890154",
        ),
        ("card 4539 1488 0343 6467 please", None, "luhn", "4539148803436467"),
        ("4321 or maybe 8765", r"[0-9]{4}", "none", None),  # two fit: ask again
        ("it ends in 432", r"[0-9]{4}", "none", None),
    ],
)
def test_account_numbers(
    text: str, pattern: str | None, checksum: str, expected: str | None
) -> None:
    assert account_number(text, pattern, checksum) == expected


@given(st.text(alphabet="0123456789", min_size=2, max_size=30))
def test_one_changed_digit_breaks_luhn(digits: str) -> None:
    check = next(d for d in "0123456789" if luhn(digits + d))
    assert luhn(digits + check)
    wrong = str((int(check) + 1) % 10)
    assert not luhn(digits + wrong)


def test_iban_needs_its_shape() -> None:
    assert not iban("1234")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-24", "2026-12-24"),
        ("24/12/2026", "2026-12-24"),
        ("24.12.26", "2026-12-24"),
        ("24-12", "2026-12-24"),
        ("ontem", "2026-12-05"),
        ("Mañana", "2026-12-07"),
        ("сегодня", "2026-12-06"),
        ("Χθες", "2026-12-05"),
        ("31/02/2026", None),
        ("soon", None),
    ],
)
def test_dates(text: str, expected: str | None) -> None:
    assert read_date(text, TODAY, None, None) == expected


def test_dates_outside_the_window_are_refused() -> None:
    assert read_date("tomorrow", TODAY, None, 0) is None
    assert read_date("2026-11-01", TODAY, -30, 0) is None
    assert read_date("2026-11-10", TODAY, -30, 0) == "2026-11-10"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", "12.00 EUR"),
        ("12,5 €", "12.50 EUR"),
        ("€1.234,56", "1234.56 EUR"),
        ("USD 1,234.56", "1234.56 USD"),
        ("1 234,56 eur", "1234.56 EUR"),
        ("$20", "20.00 USD"),
        ("20 GBP", None),
        ("0", None),
        ("€ 5 $", None),
        ("twelve", None),
    ],
)
def test_amounts(text: str, expected: str | None) -> None:
    assert amount(text, ["EUR", "USD"]) == expected


def test_choices_by_number_label_word_or_none() -> None:
    choices = [ChoiceText("card", ("Card", "Cartão")), ChoiceText("loan", ("Loan", "Empréstimo"))]
    assert match_choice(choices, "2.") == "loan"
    assert match_choice(choices, "3") is None
    assert match_choice(choices, "cartao") == "card"
    assert match_choice(choices, "about my loan please") == "loan"
    assert match_choice(choices, "card or loan") is None
    assert match_choice(choices, "") is None


def test_answers_too_long_to_be_a_value_are_refused_quickly() -> None:
    assert amount("1" * 60, ["EUR"]) is None  # more digits than a Decimal keeps
    step = Ask(id="a", slot="x", type="amount", prompt={}, reprompt={}, next="b")
    assert read(step, "1 " * 3000 + "x", TODAY) is None


def test_keys_around_an_account_number_are_dropped() -> None:
    assert account_number("1234#", r"[0-9]{4}", "none") == "1234"
