"""The strings of the reports page and the contact-reasons admin page (web/locales/reports/,
web/locales/admin_reasons/): every key their template and script use is in each of the
five catalogues, with the same {placeholders}, and translated (not an English copy) except
what is the same in every language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
REPORT_FIGURES = [
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "asa_s",
    "aht_s",
    "transfer_rate",
    "fcr",
    "callbacks_kept",
    "callbacks_answered",
    "callbacks_failed",
    "deflection",
    "csat",
    "ces",
    "handled",
    "csat_answers",
    "ces_answers",
    "occupancy",
]
CHANNELS = ["chat", "sms", "email", "voice", "whatsapp", "telegram", "messenger", "app", "video"]
PAGES = {
    # page: (template, script, keys the script builds from a name, keys alike everywhere)
    "reports": (
        "reports.html",
        "reports/reports.js",
        {f"col_{f}" for f in REPORT_FIGURES}
        | {f"group_{g}" for g in ("queue", "channel", "agent", "reason", "interval")}
        | {f"channel_{c}" for c in CHANNELS}
        | {
            f"title_{f}"
            for f in (
                [
                    "service_level",
                    "asa_s",
                    "aht_s",
                    "fcr",
                    "deflection",
                    "csat",
                    "ces",
                    "occupancy",
                    "callbacks_kept",
                ]
            )
        },
        {"no_figure", "col_csat", "col_ces", "channel_sms", "channel_whatsapp"}
        | {"channel_telegram", "channel_messenger", "interval_15m", "interval_30m"}
        | {"total", "channel_chat", "channel_email"},  # the same word in some languages
    ),
    "admin_reasons": (
        "admin_reasons.html",
        "admin_reasons/admin_reasons.js",
        {f"field_{k}" for k in ("intents", "ivr", "wrapup")}
        | {f"short_{k}" for k in ("intents", "ivr", "wrapup")},
        {"short_ivr"},
    ),
}


def _catalogue(page: str, language: str) -> dict[str, str]:
    path = WEB / "locales" / page / f"{language}.json"
    return dict(json.loads(path.read_text("utf-8")))


def _keys_used(page: str) -> set[str]:
    template, script, built, _ = PAGES[page]
    text = (WEB / "templates" / template).read_text("utf-8")
    text += (WEB / "templates" / "staff_header.html").read_text("utf-8")  # the header it includes
    text += (WEB / "static" / script).read_text("utf-8")
    return set(re.findall(r"\bt\.(\w+)", text)) | built


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


@pytest.mark.parametrize("page", PAGES)
def test_the_page_uses_its_catalogue(page: str) -> None:
    assert not set(_catalogue(page, "en")) - _keys_used(page), "keys nobody uses"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", PAGES)
def test_every_key_the_page_uses_is_translated(page: str, language: str) -> None:
    english, strings = _catalogue(page, "en"), _catalogue(page, language)
    missing = _keys_used(page) - set(strings)
    assert not missing, missing
    assert set(strings) == set(english)
    same_everywhere = PAGES[page][3]
    for key, text in strings.items():
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en" and key not in same_everywhere:
            assert text != english[key], f"{language}.{key} is the English text"
