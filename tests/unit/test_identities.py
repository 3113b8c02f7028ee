"""Identity normalisation: every spelling of one phone number or email address gives the
same key, and anything that is not one is refused (`Invalid`, a 422), never stored."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.customers.identities import (
    IDENTITY_KINDS,
    normalise,
    normalise_email,
    normalise_phone,
)
from threadline.errors import Invalid


@pytest.mark.parametrize(
    "raw",
    [
        "+351912345678",
        "+351 912 345 678",
        "+351-912-345-678",
        "+351 (912) 345.678",
        " +351 912 345 678 ",
        "tel:+351-912-345-678",
    ],
)
def test_spellings_of_one_phone_number_agree(raw: str) -> None:
    assert normalise_phone(raw) == "+351912345678"
    assert normalise("phone", raw) == "+351912345678"
    assert normalise("whatsapp", raw) == "+351912345678"


def test_national_and_idd_forms_need_a_region() -> None:
    # Without a region, '00…' and national numbers are ambiguous: refused, not guessed.
    for raw in ("00351912345678", "912345678"):
        with pytest.raises(Invalid):
            normalise_phone(raw)
        assert normalise_phone(raw, "PT") == "+351912345678"
    assert normalise_phone("(650) 253-0000", "US") == "+16502530000"


@pytest.mark.parametrize(
    "raw", ["", "+", "abc", "+351 1", "+3519123456789012345", "call me", "٣٥١٩١٢٣٤٥٦٧٨x"]
)
def test_what_is_not_a_phone_number_is_refused(raw: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalise("phone", raw)
    assert caught.value.status == 422 and caught.value.code == "invalid"


@pytest.mark.parametrize(
    "raw",
    [
        "rui@example.com",
        "Rui@Example.COM",
        "RUI@EXAMPLE.COM",
        "rui@EXAMPLE.com",
        " rui@example.com ",
    ],
)
def test_spellings_of_one_email_agree(raw: str) -> None:
    assert normalise_email(raw) == "rui@example.com"
    assert normalise("email", raw) == "rui@example.com"


def test_internationalised_domains_have_one_form() -> None:
    assert normalise_email("rui@xn--exmple-cua.com") == normalise_email("RUI@EXÄMPLE.COM")


@pytest.mark.parametrize(
    "raw", ["", "not-an-email", "a@b", "x@localhost", "two@@example.com", "a b@example.com"]
)
def test_what_is_not_an_email_is_refused(raw: str) -> None:
    with pytest.raises(Invalid):
        normalise("email", raw)


def test_opaque_identities_are_trimmed_and_bounded() -> None:
    assert normalise("visitor", "  0f7c-visitor  ") == "0f7c-visitor"
    assert normalise("telegram", "12345") == "12345"
    assert normalise("app", "x" * 320) == "x" * 320
    for bad in ("", "   ", "x" * 321):
        with pytest.raises(Invalid):
            normalise("visitor", bad)


def test_unknown_kinds_are_refused() -> None:
    assert "phone" in IDENTITY_KINDS and "email" in IDENTITY_KINDS
    for kind in ("fax", "", "PHONE", "Email"):
        with pytest.raises(Invalid):
            normalise(kind, "+351912345678")


_NUMBERS = st.sampled_from(["PT", "GR", "RU", "ES", "GB", "US", "DE", "BR"]).map(
    lambda region: phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
)


@given(_NUMBERS, st.sampled_from(["E164", "INTERNATIONAL", "RFC3966"]))
def test_any_format_of_a_real_number_gives_its_e164(
    number: phonenumbers.PhoneNumber, style: str
) -> None:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    spelled = phonenumbers.format_number(number, getattr(phonenumbers.PhoneNumberFormat, style))
    assert normalise_phone(spelled) == e164
    assert normalise_phone(normalise_phone(spelled)) == e164  # idempotent


@given(
    st.from_regex(r"[a-z][a-z0-9._]{0,20}[a-z0-9]", fullmatch=True).filter(lambda s: ".." not in s),
    st.from_regex(r"[a-z][a-z0-9]{1,15}\.(com|pt|gr|org)", fullmatch=True),
)
def test_email_normalisation_is_idempotent_and_case_blind(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    normal = normalise_email(address)
    assert normal == address
    assert normalise_email(normal) == normal
    assert normalise_email(address.upper()) == normal
