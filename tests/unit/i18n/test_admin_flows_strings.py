"""The flows page's strings (web/locales/admin_flows/): every key its template and script
use is in each of the five catalogues, with the same {placeholders}, and translated (not an
English copy) except what is the same word in the language (channel names, symbols, "URL")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
# product names, symbols, "URL"; and words Portuguese and Spanish take as they are
SAME_EVERYWHERE = {"channel_sms", "channel_whatsapp", "field_url", "op_gt", "op_gte", "op_lt"}
SAME_EVERYWHERE |= {"op_lte", "nav_supervisor", "channel_chat"}


def _catalogue(language: str) -> dict[str, str]:
    path = WEB / "locales" / "admin_flows" / f"{language}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _keys_used() -> set[str]:
    template = (WEB / "templates" / "admin_flows.html").read_text()
    forbidden = (WEB / "templates" / "forbidden.html").read_text()
    script = (WEB / "static" / "admin_flows" / "admin_flows.js").read_text()
    # `t.key` in the templates, `this.t.key` in the script (not `current.id`, `draft.version`)
    used = set(re.findall(r"(?<![\w.])t\.(\w+)", template + forbidden))
    used |= set(re.findall(r"\bthis\.t\.(\w+)", script))
    # keys built from a prefix: t['slot_' + k], t['op_' + op], t['level_' + l], ...
    used |= {f"kind_{k}" for k in ("say", "ask", "branch", "answer", "call", "route")}
    used |= {f"kind_{k}" for k in ("verify", "handoff", "end")}
    used |= {f"slot_{k}" for k in ("account_number", "date", "amount", "choice", "free_text")}
    used |= {f"op_{k}" for k in ("eq", "ne", "in", "present", "absent", "gt", "gte", "lt")}
    used |= {"op_lte", "op_matches"}
    used |= {f"level_{k}" for k in ("none", "identified", "verified", "strong")}
    used |= {f"channel_{k}" for k in ("chat", "sms", "whatsapp", "voice")}
    return used


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


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
