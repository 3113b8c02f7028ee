"""The queues page's strings (web/locales/admin_queues/): every key its template and script
use is in each of the five catalogues, with the same {placeholders}, and translated (not an
English copy) except what is the same word in the language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web
from threadline.routing.hours import DAYS

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
# "24/7", and words Portuguese, Spanish or Greek take as they are
SAME_EVERYWHERE = {"always_open", "nav_supervisor", "nav_webhooks"}
POLICY_FIELDS = ("offer_after_s", "max_attempts", "retry_after_s", "ring_timeout_s")
POLICY_FIELDS += ("window_minutes", "book_days", "min_notice_minutes")


def _catalogue(language: str) -> dict[str, str]:
    path = WEB / "locales" / "admin_queues" / f"{language}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _keys_used() -> set[str]:
    template = (WEB / "templates" / "admin_queues.html").read_text()
    forbidden = (WEB / "templates" / "forbidden.html").read_text()
    script = (WEB / "static" / "admin_queues" / "admin_queues.js").read_text()
    used = set(re.findall(r"(?<![\w.])t\.(\w+)", template + forbidden))
    used |= set(re.findall(r"\bthis\.t\.(\w+)", script))
    # keys built from a prefix: t['cb_' + name], t['cb_help_' + name], this.t["day_" + day]
    used |= {f"cb_{name}" for name in POLICY_FIELDS} | {f"cb_help_{n}" for n in POLICY_FIELDS}
    used |= {f"day_{d}" for d in DAYS} | {f"day_short_{d}" for d in DAYS}
    return used


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_script_asks_for_the_policy_fields_the_test_knows() -> None:
    script = (WEB / "static" / "admin_queues" / "admin_queues.js").read_text()
    for name in POLICY_FIELDS:
        assert f'"{name}"' in script, name


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_page_uses_is_translated(language: str) -> None:
    english, strings = _catalogue("en"), _catalogue(language)
    missing = _keys_used() - set(strings)
    assert not missing, missing
    assert set(strings) == set(english)
    for key, text in strings.items():
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en" and key not in SAME_EVERYWHERE:
            assert text != english[key], f"{language}.{key} is the English text"
