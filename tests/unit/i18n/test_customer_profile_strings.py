"""The customer profile page's strings (web/locales/customer_profile/): every key its
template and script use is in each of the five catalogues, with the same {placeholders}, and
translated (not an English copy)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")


def _catalogue(language: str) -> dict[str, str]:
    path = WEB / "locales" / "customer_profile" / f"{language}.json"
    return dict(json.loads(path.read_text("utf-8")))


def _keys_used() -> set[str]:
    template = (WEB / "templates" / "customer_profile.html").read_text()
    template += (WEB / "templates" / "staff_header.html").read_text(
        "utf-8"
    )  # the header it includes
    forbidden = (WEB / "templates" / "forbidden.html").read_text()
    script = (WEB / "static" / "customer_profile" / "customer_profile.js").read_text()
    used = set(re.findall(r"\bt\.(\w+)", template + forbidden + script))
    # keys built from a prefix: this.t[`invalid_${field}`], this.t[`status_${s}`]
    fields = re.search(r"const FIELDS = \[([^\]]*)\]", script)
    statuses = re.search(r"const STATUSES = \[([^\]]*)\]", script)
    assert fields and statuses
    used |= {f"invalid_{name}" for name in re.findall(r'"(\w+)"', fields.group(1))}
    used |= {f"status_{name}" for name in re.findall(r'"(\w+)"', statuses.group(1))}
    # this.t[`invalid_identity_${kind}`] for the identities edited on the page
    editable = re.search(r"const EDITABLE = \[([^\]]*)\]", script)
    assert editable
    used |= {f"invalid_identity_{kind}" for kind in re.findall(r'"(\w+)"', editable.group(1))}
    return used


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_page_uses_is_translated(language: str) -> None:
    english, strings = _catalogue("en"), _catalogue(language)
    missing = _keys_used() - set(strings)
    assert not missing, missing
    assert set(strings) == set(english)
    unused = set(english) - _keys_used()
    assert not unused, unused
    for key, text in strings.items():
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en":
            assert text != english[key], f"{language}.{key} is the English text"
