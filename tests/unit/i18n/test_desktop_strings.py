"""The agent desktop's strings (web/locales/desktop/): every key its template and script use
is in each of the five catalogues, with the same {placeholders}, and translated (not an
English copy) except what is the same in every language. And what a person sees on the
desktop and supervisor pages comes from a catalogue: no English text left in the markup, in
the visible attributes, in the Alpine expressions or in the messages the scripts build."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web
from threadline.channel_kinds import CHANNELS

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
# a format with no words, a product word, "{n} s"
SAME_EVERYWHERE = {"agent_option", "nav_webhooks", "seconds_short"}
# values the script turns into keys: statusText(`status_${s}`) and the like
DYNAMIC = {
    "status": (
        *("bot", "queued", "offered", "assigned", "waiting_customer"),
        *("callback_scheduled", "resolved", "abandoned"),
    ),
    "delivery": ("queued", "sending", "sent", "delivered", "read", "failed", "unknown"),
    "author": ("customer", "agent", "bot", "system"),
    "presence": ("available", "busy", "away", "offline"),
    "sys_call": ("inbound", "outbound"),
    "channel": CHANNELS,  # every channel Threadline knows
    "level": ("identified", "verified", "strong"),  # verification/assurance.py LEVELS
}
# every page a person sees on the desktop and the supervisor dashboard
TEMPLATES = (
    "desktop.html",
    "desktop_inbox.html",
    "desktop_manage.html",
    "desktop_thread_tools.html",
    "supervision_desk.html",
    "supervision_panel.html",
    "supervisor.html",
    "supervisor_incidents.html",
    "staff_header.html",
)
SCRIPTS = ("desktop.js", "inbox.js", "canned.js", "supervision.js", "supervisor.js", "common.js")
NOT_WORDS = {"Threadline"}  # the product's name, the same in every language


def _catalogue(language: str) -> dict[str, str]:
    path = WEB / "locales" / "desktop" / f"{language}.json"
    return dict(json.loads(path.read_text("utf-8")))


def _keys_used() -> set[str]:
    template = (WEB / "templates" / "desktop.html").read_text("utf-8")
    template += (WEB / "templates" / "staff_header.html").read_text(
        "utf-8"
    )  # the header it includes
    script = (WEB / "static" / "desktop" / "desktop.js").read_text("utf-8")
    jinja = "".join(re.findall(r"\{\{.*?\}\}", template, flags=re.S))
    used = set(re.findall(r"\bt\.(\w+)", jinja))
    used |= set(re.findall(r"\btr\(['\"](\w+)['\"]", template + script))
    for pair in re.findall(r"\btr\([^()]*? \? \"(\w+)\" : \"(\w+)\"\)", script):
        used |= set(pair)  # tr(d.to_queue ? "a_queue" : "an_agent")
    used.add("sys_call")  # a call with no direction: key = ... ? `sys_call_${...}` : "sys_call"
    used |= {f"{prefix}_{value}" for prefix, values in DYNAMIC.items() for value in values}
    return used


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_page_uses_its_catalogue() -> None:
    used = _keys_used()
    assert {"nav_supervisor", "full_profile", "sys_assigned", "ph_reply", "net_error"} <= used
    assert not set(_catalogue("en")) - used, set(_catalogue("en")) - used


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


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in NOT_WORDS]


def _markup(name: str) -> str:
    """A template without its Jinja expressions and statements, comments and scripts."""
    text = (WEB / "templates" / name).read_text("utf-8")
    # keyboard keys (<kbd>Enter</kbd>) are written as on the keyboard
    text = re.sub(r"<script\b.*?</script>|<!--.*?-->|<kbd>\w+</kbd>", "", text, flags=re.S)
    return re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", text, flags=re.S)


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_english_text_in_the_markup(name: str) -> None:
    markup = _markup(name)
    texts = [t.strip() for t in re.findall(r">([^<>]*)<", markup)]
    left = [t for t in texts if _words(t)]
    static = re.findall(r'\s(?:aria-label|title|placeholder|label|alt)="([^"]*)"', markup)
    left += [a for a in static if _words(a)]
    assert not left, left


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_english_literal_in_what_alpine_shows(name: str) -> None:
    """`x-text`, `:aria-label`, `:title`, `:placeholder` and `:label` build their text from
    the catalogue: a quoted literal there is a key (`tr('kb_back')`, `'presence_' + p`),
    never a sentence or a capitalised word."""
    markup = _markup(name)
    shown = re.findall(r'\s(?:x-text|:aria-label|:title|:placeholder|:label)="([^"]*)"', markup)
    literals = [lit for expr in shown for lit in re.findall(r"'([^']*)'", expr)]
    left = [lit for lit in literals if _words(lit) and re.search(r"[A-Z ]", lit)]
    assert not left, left


@pytest.mark.parametrize("name", SCRIPTS)
def test_no_english_message_built_in_the_scripts(name: str) -> None:
    """A string or template literal that reads as an English phrase ("Could not accept: …")
    is text for a person: it belongs in a catalogue. What stays is a fallback beside its key
    (`say("net_error", "Cannot reach …")`), comments, and key names."""
    code = (WEB / "static" / "desktop" / name).read_text("utf-8")
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    code = re.sub(r"^\s*//.*$|\s//\s.*$", "", code, flags=re.M)
    code = re.sub(r"say\(\"\w+\", \"[^\"]*\"", "", code)
    phrases = re.findall(r"[\"`]([A-Z][a-z]+(?: [a-z]+)+)", code)
    assert not phrases, phrases
