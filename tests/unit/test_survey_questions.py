"""The pure survey rules: what counts as an answer, who is asked, how each channel draws
the choices."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.surveys import questions as q
from threadline.web.i18n import page_catalogue

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
POLICY = q.Policy(enabled=True, channels=frozenset(q.CHANNELS), every_days=7)


@pytest.mark.parametrize(
    ("step", "body", "reply_id", "expected"),
    [
        ("csat", "5", None, q.Reply("csat", 5, True)),
        ("csat", " 4. ", None, q.Reply("csat", 4, True)),
        ("csat", "1!", None, q.Reply("csat", 1, True)),
        ("csat", "0", None, q.Reply("csat", 0, False)),
        ("csat", "6", None, q.Reply("csat", 6, False)),
        ("ces", "7", None, q.Reply("ces", 7, True)),
        ("ces", "8", None, q.Reply("ces", 8, False)),
        ("csat", "5 stars, thanks", None, None),
        ("csat", "my card is blocked", None, None),
        ("csat", "", None, None),
        ("csat", None, None, None),
        ("csat", "123", None, None),
        ("csat", "5", "survey:csat:3", q.Reply("csat", 3, True)),  # the button, not its title
        ("ces", "1", "survey:csat:1", q.Reply("csat", 1, False)),  # a stale button
        ("ces", "2", "card_arrival", q.Reply("ces", 2, True)),  # a bot's button: the text
        ("done", "5", None, None),
    ],
)
def test_a_reply_is_a_bare_number_or_our_button(
    step: str, body: str | None, reply_id: str | None, expected: q.Reply | None
) -> None:
    assert q.read_reply(step, body, reply_id) == expected


@given(st.text(max_size=30))
def test_a_reply_read_as_valid_is_on_its_scale(body: str) -> None:
    for step in q.KINDS:
        reply = q.read_reply(step, body)
        if reply is not None and reply.valid:
            assert 1 <= reply.score <= q.SCALES[step] and reply.kind == step


def test_answers_are_checked_against_the_survey() -> None:
    assert q.checked_answers(["csat", "ces"], {"ces": 2, "csat": 5}) == {"csat": 5, "ces": 2}
    assert q.checked_answers(["csat"], {"csat": None, "ces": None}) == {}
    with pytest.raises(ValueError, match="does not ask ces"):
        q.checked_answers(["csat"], {"ces": 3})
    with pytest.raises(ValueError, match="from 1 to 5"):
        q.checked_answers(["csat"], {"csat": 6})


def test_opting_out() -> None:
    assert q.opted_out({"opt_out": "all"}, "sms")
    assert q.opted_out({"opt_out": ["surveys"]}, "chat")
    assert q.opted_out({"opt_out": ["sms"]}, "sms")
    assert not q.opted_out({"opt_out": ["email"]}, "sms")
    assert not q.opted_out({}, "sms") and not q.opted_out(None, "sms")


def test_who_is_asked() -> None:
    def why(**kw: object) -> str | None:
        args: dict[str, object] = {
            "handled_by_agent": True,
            "opted_out": False,
            "last_sent_at": None,
            "now": NOW,
        }
        policy = kw.pop("policy", POLICY)
        channel = kw.pop("channel", "sms")
        return q.why_not(policy, str(channel), **{**args, **kw})  # type: ignore[arg-type]

    assert why() is None
    assert why(policy=q.Policy(False, frozenset(q.CHANNELS), 7)) == "surveys are off"
    assert why(handled_by_agent=False) == "no agent handled the contact"
    assert why(channel="voice") is None  # the keypad survey, while the caller is on the line
    assert why(channel="app") == "no survey is sent on app"  # the app page has no timeline
    assert why(policy=q.Policy(True, frozenset({"chat"}), 7)) == "surveys are off on sms"
    assert why(opted_out=True) == "the customer opted out"
    assert "within 7 days" in (why(last_sent_at=NOW - timedelta(days=6, hours=23)) or "")
    assert why(last_sent_at=NOW - timedelta(days=7)) is None
    assert why(policy=q.Policy(True, frozenset(q.CHANNELS), 0), last_sent_at=NOW) is None


def test_the_next_step() -> None:
    assert q.next_step(["csat", "ces"], {}) == "csat"
    assert q.next_step(["csat", "ces"], {"csat": 4}) == "ces"
    assert q.next_step(["csat", "ces"], {"csat": 4, "ces": 1}) == "done"
    assert q.next_step(["ces"], {"csat": None, "ces": 3}) == "done"


@pytest.mark.parametrize("language", ["en", "pt", "es", "ru", "el"])
def test_every_channel_draws_the_choices(language: str) -> None:
    texts = page_catalogue("surveys", language)
    listed = q.buttons("ces", texts, "whatsapp")["interactive"]
    rows = listed["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [f"survey:ces:{n}" for n in range(1, 8)]
    assert all(len(r["title"]) <= 24 for r in rows) and len(listed["action"]["button"]) <= 20
    assert len(listed["body"]["text"]) <= 1024
    keyboard = q.buttons("csat", texts, "telegram")["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for b in keyboard[0]] == [f"survey:csat:{n}" for n in range(1, 6)]
    quick = q.buttons("csat", texts, "messenger")["quick_replies"]
    assert [r["payload"] for r in quick][-1] == "survey:csat:5" and len(quick) <= 13
    assert q.buttons("csat", texts, "sms") == {}
    assert "5" in q.scale_line(texts, "csat") and "7" in q.scale_line(texts, "ces")


def test_every_language_has_every_text() -> None:
    folder = Path(q.__file__).parents[1] / "web" / "locales" / "surveys"
    english = set(json.loads((folder / "en.json").read_text("utf-8")))
    for language in ("pt", "es", "ru", "el"):
        assert set(json.loads((folder / f"{language}.json").read_text("utf-8"))) == english
    for language in ("en", "pt", "es", "ru", "el"):
        assert set(json.loads((folder.parent / f"{language}.json").read_text("utf-8"))) >= {
            "survey_comment",
            "survey_send",
            "survey_skip",
            "survey_thanks",
            "survey_failed",
        }
