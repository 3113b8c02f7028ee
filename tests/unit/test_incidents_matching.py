"""Which incident a customer's words are about (pure): phrases in the five languages with
their plurals and cases, accents ignored, no false friends for short words; only incidents
in force; the message in the customer's language with fallbacks; and the CSV of affected
customers as exports really come (semicolons, a BOM, extra columns)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.errors import Invalid
from threadline.selfservice.incidents.http import parse_affected_csv
from threadline.selfservice.incidents.matching import (
    IncidentView,
    fold,
    matching,
    message_for,
    phrase_in,
    words,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def incident(**changes: object) -> IncidentView:
    values: dict[str, object] = {
        "id": "i1",
        "title": "Cards down",
        "keywords": ("card payment", "cartão", "карта", "κάρτα"),
        "products": ("cards",),
        "intents": ("card_payment_not_recognised",),
        "messages": {"en": "Cards are down.", "pt": "Cartões em baixo."},
        "starts_at": NOW - timedelta(minutes=5),
    }
    values.update(changes)
    return IncidentView(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "My card payments keep failing",
        "O meu CARTÃO não funciona",
        "os cartões estão bloqueados",
        "Моя карта не работает",
        "не могу оплатить картой",
        "Η κάρτα μου δεν λειτουργεί",
        "οι κάρτες δεν περνάνε",
        "cards???",
    ],
)
def test_messages_about_it_match(text: str) -> None:
    assert [i.id for i in matching([incident()], NOW, text=text)] == ["i1"]


@pytest.mark.parametrize(
    "text", ["I need a new car", "cardiology appointment", "my payment is late", "hello", ""]
)
def test_other_messages_do_not(text: str) -> None:
    assert matching([incident()], NOW, text=text) == []


def test_intent_matches_without_words() -> None:
    found = matching([incident()], NOW, intent="card_payment_not_recognised", text="hm")
    assert [i.id for i in found] == ["i1"]


def test_only_incidents_in_force_newest_first() -> None:
    later = incident(id="i2", starts_at=NOW - timedelta(minutes=1))
    future = incident(id="i3", starts_at=NOW + timedelta(minutes=1))
    resolved = incident(id="i4", status="resolved")
    found = matching([incident(), later, future, resolved], NOW, text="card payment")
    assert [i.id for i in found] == ["i2", "i1"]


def test_message_in_the_customers_language_else_english_else_any() -> None:
    messages = {"en": "Down.", "pt": "Em baixo."}
    assert message_for(messages, "pt") == "Em baixo."
    assert message_for(messages, "el") == "Down."
    assert message_for({"ru": "Не работает."}, "el") == "Не работает."
    assert message_for({}, "en") == ""


def test_fold_and_words() -> None:
    assert fold("Cartão ΚΆΡΤΑ") == "cartao καρτα"
    assert words("It's: card-payment!") == ["it", "s", "card", "payment"]


@given(st.text(max_size=60), st.text(max_size=60))
def test_phrase_matching_never_fails_and_a_phrase_is_in_itself(phrase: str, text: str) -> None:
    assert isinstance(phrase_in(phrase, words(text)), bool)
    if words(phrase):
        assert phrase_in(phrase, words(f"{text} {phrase} {text}"))


def test_affected_csv_as_exports_come() -> None:
    raw = "\ufeffName;Phone;E-mail;Email\nAna;+351912000111;;ana@example.com\nRui;;x;\n"
    parsed = parse_affected_csv(raw.encode(), tell_now=True)
    assert parsed.phones == ["+351912000111"]
    assert parsed.emails == ["ana@example.com"]
    assert parsed.tell_now is True


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"name\nAna\n", "customer_id, phone or email column"),
        (b"phone\n", "give customer_ids, phones or emails"),
        ("phone\n+1\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_bad_csv_is_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        parse_affected_csv(raw, tell_now=False)


def test_an_unreadable_csv_is_refused_not_a_crash() -> None:
    huge = b'phone\n"' + b"9" * 200_000 + b'"\n'  # a field over the csv module's limit
    with pytest.raises(Invalid, match="cannot be read"):
        parse_affected_csv(huge, tell_now=False)
