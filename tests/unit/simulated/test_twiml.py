"""The voice page's reading of TwiML (threadline/simulated/twiml.py), on documents built the
way Threadline builds them (the twilio package's VoiceResponse)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from threadline.simulated.twiml import parse_twiml


def test_a_menu_question_then_its_redirect() -> None:
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf speech", action="/ivr?step=menu", num_digits=1, timeout=5, language="pt-PT"
    )
    gather.say("Bem-vindo.", language="pt-PT")
    gather.say("Para cartões, prima 1.", language="pt-PT")
    response.redirect("/ivr?step=menu&tries=2", method="POST")
    asked, again = parse_twiml(str(response))
    assert (asked.name, asked.url, asked.num_digits, asked.input) == (
        "Gather",
        "/ivr?step=menu",
        1,
        "dtmf speech",
    )
    assert asked.text == "Bem-vindo. Para cartões, prima 1." and asked.language == "pt-PT"
    assert (again.name, again.url) == ("Redirect", "/ivr?step=menu&tries=2")


def test_hold_and_the_agent() -> None:
    response = VoiceResponse()
    response.say("É o número 2 na fila.")
    response.play("http://127.0.0.1:8000/simulated/hold-music")
    response.pause(length=3)
    dial = response.dial(action="/dialed")
    dial.client("agent-42")
    response.hangup()
    verbs = parse_twiml(str(response))
    assert [v.name for v in verbs] == ["Say", "Play", "Pause", "Dial", "Hangup"]
    assert verbs[1].url.endswith("/hold-music") and verbs[2].seconds == 3
    assert (verbs[3].target, verbs[3].url) == ("agent-42", "/dialed")


def test_what_is_not_twiml_has_no_verbs() -> None:
    assert parse_twiml("") == [] and parse_twiml("<html></html>") == []
    assert parse_twiml("not xml <") == []
