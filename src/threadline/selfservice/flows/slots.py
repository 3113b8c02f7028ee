"""Reading a customer's answer into a slot: an account number (its pattern and checksum),
a date (written several ways, or today / yesterday / tomorrow in the five languages), an
amount with its currency, one of a list of choices (by its number, its label or another
word for it), or free text. Pure: `today` is passed in; None means the answer does not
check out and is asked again."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from threadline.selfservice.flows.messages import fold, words
from threadline.selfservice.flows.schemas import Ask, Scalar


@dataclass(frozen=True, slots=True)
class ChoiceText:
    """A choice as the customer may name it: its id, and its labels and other words."""

    id: str
    names: tuple[str, ...]


def match_choice(choices: Sequence[ChoiceText], text: str) -> str | None:
    """The id of the choice a reply names: its number in the list ("2", "2."), its label or
    another word for it, in any language (accents and case aside); None when it names none
    or several."""
    stripped = text.strip().rstrip(".)")
    if stripped.isdigit():
        index = int(stripped)
        return choices[index - 1].id if 1 <= index <= len(choices) else None
    folded = " ".join(words(text))
    if not folded:
        return None
    exact = [c.id for c in choices if any(" ".join(words(n)) == folded for n in c.names)]
    if len(set(exact)) == 1:
        return exact[0]
    padded = f" {folded} "
    within = {
        c.id
        for c in choices
        for n in c.names
        if (name := " ".join(words(n))) and f" {name} " in padded
    }
    return within.pop() if len(within) == 1 else None


def option_texts(step: Ask) -> list[ChoiceText]:
    return [
        ChoiceText(o.id, (*o.label.values(), *(w for ws in o.synonyms.values() for w in ws)))
        for o in step.options
    ]


# Longer than this, an answer is no account number, date, amount or choice (and is not fed
# to regular expressions and integer conversions sized for short answers).
MAX_ANSWER = 100


def read(step: Ask, text: str, today: date) -> Scalar:
    """The slot's value from the customer's answer, or None when it does not check out."""
    if step.type != "free_text" and len(text) > MAX_ANSWER:
        return None
    if step.type == "account_number":
        return account_number(text, step.pattern, step.checksum)
    if step.type == "date":
        return read_date(text, today, step.min_days, step.max_days)
    if step.type == "amount":
        return amount(text, step.currencies)
    if step.type == "choice":
        return match_choice(option_texts(step), text)
    cleaned = " ".join(text.split())
    return cleaned if 0 < len(cleaned) <= step.max_length else None


# ---- account numbers ------------------------------------------------------------------------

DEFAULT_PATTERNS = {"iban": r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", "other": r"[0-9]{4,34}"}


# a number as people write it inside a sentence: digits with spaces, dashes or dots between
# them ("1234 5678"), or an IBAN's letters and digits
_NUMBER_IN_TEXT = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9 ]*[A-Z0-9]|[0-9](?:[0-9 \-./]*[0-9])?")


def account_number(text: str, pattern: str | None, checksum: str) -> str | None:
    """The number the answer gives: the whole answer ("1234 5678"), else the one number in
    it that fits ("it ends in 4321"); None when none fits, or several do."""
    whole = _account(text, pattern, checksum)
    if whole is not None:
        return whole
    found = set()
    for candidate in _NUMBER_IN_TEXT.findall(text.upper()):
        parts = candidate.split()
        # the longest run of its groups that fits ("PT50 0002 ... 4 THANKS": not THANKS)
        for end in range(len(parts), 0, -1):
            value = _account(" ".join(parts[:end]), pattern, checksum)
            if value is not None:
                found.add(value)
                break
    return found.pop() if len(found) == 1 else None


def _account(text: str, pattern: str | None, checksum: str) -> str | None:
    value = re.sub(r"[\s\-./#*]", "", text).upper()
    default = DEFAULT_PATTERNS["iban" if checksum == "iban" else "other"]
    if not re.fullmatch(pattern or default, value):
        return None
    if checksum == "luhn" and not luhn(value):
        return None
    if checksum == "iban" and not iban(value):
        return None
    return value


def luhn(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def iban(value: str) -> bool:
    """ISO 13616: the country and check digits moved to the end, letters as numbers
    (A=10 ... Z=35), the whole number mod 97 is 1."""
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", value):
        return False
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# ---- dates ------------------------------------------------------------------------------------

_RELATIVE = {
    0: ("today", "hoje", "hoy", "сегодня", "σημερα"),
    -1: ("yesterday", "ontem", "ayer", "вчера", "χθες", "χτες"),
    1: ("tomorrow", "amanha", "manana", "завтра", "αυριο"),
}
_DAY_MONTH = re.compile(r"(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](\d{2}|\d{4}))?")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def read_date(text: str, today: date, min_days: int | None, max_days: int | None) -> str | None:
    """An ISO date (YYYY-MM-DD) from 2026-12-06, 6/12/2026, 6.12.26, 6-12 (this year) or a
    word for yesterday, today or tomorrow; within [today+min_days, today+max_days]."""
    found = _date(text.strip(), today)
    if found is None:
        return None
    offset = (found - today).days
    if (min_days is not None and offset < min_days) or (max_days is not None and offset > max_days):
        return None
    return found.isoformat()


def _date(text: str, today: date) -> date | None:
    folded = set(words(text))
    for offset, names in _RELATIVE.items():
        if folded & {fold(n) for n in names}:
            return today + timedelta(days=offset)
    try:
        if m := _ISO.fullmatch(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DAY_MONTH.fullmatch(text):
            year = int(m[3]) if m[3] else today.year
            return date(year + 2000 if year < 100 else year, int(m[2]), int(m[1]))
    except ValueError:  # 31/02 and the like
        return None
    return None


# ---- amounts ----------------------------------------------------------------------------------

SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "₽": "RUB", "R$": "BRL", "US$": "USD"}
_AMOUNT = re.compile(
    r"(?P<pre>R\$|US\$|[€$£₽]|[A-Za-z]{3})?\s*(?P<num>\d[\d\s.,'\u00a0\u202f]*)"
    r"\s*(?P<post>R\$|[€$£₽]|[A-Za-z]{3})?"
)


def amount(text: str, currencies: Iterable[str]) -> str | None:
    """'12.50 EUR' from '12,50 €', '€12.50', 'EUR 1.234,56' or '12' (in the first currency);
    None when it is not a positive amount in one of the currencies."""
    accepted = list(currencies)
    m = _AMOUNT.fullmatch(text.strip())
    if not m or (m["pre"] and m["post"]):
        return None
    mark = m["pre"] or m["post"]
    currency = (SYMBOLS.get(mark) or mark.upper()) if mark else accepted[0]
    value = _number(m["num"])
    if currency not in accepted or value is None or value <= 0:
        return None
    return f"{value:.2f} {currency}"


def _number(raw: str) -> Decimal | None:
    """A number written with thousands separators (space, dot, comma, apostrophe) and a
    decimal comma or point: the last separator followed by one or two digits is decimal."""
    digits = re.sub(r"[\s'\u00a0\u202f]", "", raw).rstrip(".,")
    m = re.fullmatch(r"(.*?)(?:[.,](\d{1,2}))?", digits)
    if m is None:
        return None
    whole = m[1].replace(".", "").replace(",", "")
    if not whole.isdigit():
        return None
    try:
        return Decimal(whole + "." + (m[2] or "0")).quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than a Decimal keeps
        return None


def number_of(value: Scalar) -> float | None:
    """A slot's value as a number, for comparisons (an amount's leading number)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    head = value.split(" ", 1)[0]
    try:
        return float(head)
    except ValueError:
        return None


def dig(body: Mapping[str, object], path: str) -> Scalar:
    """A response field by dotted path (`account.status`, `cards.0.last4`); None when absent
    or not a JSON scalar."""
    current: object = body
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current if isinstance(current, str | int | float | bool) else None
