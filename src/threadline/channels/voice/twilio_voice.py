"""Twilio-style voice: signed form webhooks (X-Twilio-Signature, checked with the `twilio`
package's RequestValidator over the public URL called) answered with TwiML built by the
`twilio` package. Imports nothing from Threadline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.etree import ElementTree

from twilio.jwt.access_token import AccessToken  # type: ignore[import-untyped]
from twilio.jwt.access_token.grants import VoiceGrant  # type: ignore[import-untyped]
from twilio.request_validator import (  # type: ignore[import-untyped]  # no stubs shipped
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.voice_response import (  # type: ignore[import-untyped]
    Dial,
    Gather,
    VoiceResponse,
)

Params = Mapping[str, Sequence[str]]
MEDIA_TYPE = "text/xml"
# Twilio's CallStatus values: those of a call under way, and those that end it
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CALL_STATUSES = ENDED | {"queued", "initiated", "ringing", "in-progress"}
# What Twilio puts in From when the caller withheld their number: words, or the keypad
# spellings of ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN and UNAVAILABLE.
WITHHELD = frozenset(
    {
        "",
        "anonymous",
        "restricted",
        "unknown",
        "unavailable",
        "private",
        "blocked",
        "+266696687",
        "+7378742833",
        "+2562533",
        "+8656696",
        "+86282452253",
    }
)
# <Dial> outcomes (DialCallStatus) in which the agent never spoke to the caller
DIAL_MISSED = frozenset({"no-answer", "busy", "failed"})
DIAL_STATUSES = DIAL_MISSED | {"completed", "answered", "canceled"}


class _Form(dict[str, list[str]]):
    """The shape RequestValidator reads repeated fields from (`getlist`)."""

    def getlist(self, name: str) -> list[str]:
        return list(self[name])


def one(params: Params, name: str) -> str:
    values = params.get(name) or ()
    return values[0] if values else ""


def withheld(caller: str) -> bool:
    """Whether an incoming call's From says the caller's number is withheld."""
    return caller.strip().casefold() in WITHHELD


def client_identity(agent_id: str) -> str:
    """The Voice SDK identity of an agent's softphone, as `<Dial><Client>` names it (Twilio
    recommends letters, digits and underscores)."""
    return "agent_" + agent_id.replace("-", "_")


def access_token(
    *,
    account_sid: str,
    api_key_sid: str,
    api_key_secret: str,
    twiml_app_sid: str,
    identity: str,
    ttl_s: int,
) -> str:
    """A Voice SDK access token (JWT signed with the API key): the softphone registers as
    `identity` and may receive calls; its own outgoing calls go to the TwiML app."""
    token = AccessToken(account_sid, api_key_sid, api_key_secret, identity=identity, ttl=ttl_s)
    token.add_grant(VoiceGrant(incoming_allow=True, outgoing_application_sid=twiml_app_sid))
    return str(token.to_jwt())


def verify(secret: str, url: str, params: Params, headers: Mapping[str, str]) -> bool:
    """Whether Twilio signed this post with the account's auth token; `url` is the public URL
    it called (query string included)."""
    signature = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
    if not secret or not signature:
        return False
    algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER.lower()))
    form = _Form({name: list(values) for name, values in params.items()})
    return bool(RequestValidator(secret).validate(url, form, signature, algorithm))


def gather(
    prompts: Sequence[tuple[str, str]],
    action: str,
    *,
    speech_language: str,
    hints: str = "",
    timeout_s: int = 5,
) -> str:
    """Say the prompts (text, language) inside a Gather of one digit or speech; when the
    caller says nothing the call is redirected to the same action (without input)."""
    response = VoiceResponse()
    step = Gather(
        input="dtmf speech",
        num_digits=1,
        action=action,
        method="POST",
        timeout=timeout_s,
        speech_timeout="auto",
        language=speech_language,
        **({"hints": hints} if hints else {}),
    )
    for text, language in prompts:
        if text:
            step.say(text, language=language)
    response.append(step)
    response.redirect(action, method="POST")
    return str(response.to_xml())


def gather_code(prompt: str, language: str, action: str, *, digits: int = 6) -> str:
    """Ask for a code of `digits` keys (or fewer, ended by #); when the caller enters
    nothing the call goes on to the same action without Digits."""
    response = VoiceResponse()
    step = Gather(
        input="dtmf",
        num_digits=digits,
        finish_on_key="#",
        action=action,
        method="POST",
        timeout=6,
    )
    step.say(prompt, language=language)
    response.append(step)
    response.redirect(action, method="POST")
    return str(response.to_xml())


def prepend_say(document: str, text: str, language: str) -> str:
    """The same TwiML with `text` said first, inside its Gather when it has one (so the
    caller may answer while it is said)."""
    root = ElementTree.fromstring(document)  # noqa: S314 - TwiML we just built
    say = ElementTree.Element("Say", {"language": language})
    say.text = text
    target = root.find("Gather")
    (target if target is not None else root).insert(0, say)
    return '<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(root, "unicode")


def hold(
    announcement: str | None,
    language: str,
    pause_s: int,
    music_url: str | None,
    next_url: str,
) -> str:
    """One turn of the hold loop: maybe an announcement, music or silence, then back to the
    hold URL (which checks whether an agent took the call)."""
    response = VoiceResponse()
    if announcement:
        response.say(announcement, language=language)
    if music_url:
        response.play(music_url)
    else:
        response.pause(length=pause_s)
    response.redirect(next_url, method="POST")
    return str(response.to_xml())


def dial_client(
    say: str,
    language: str,
    client_identity: str,
    *,
    action: str,
    timeout_s: int = 20,
    recording_callback: str | None = None,
) -> str:
    """Connect the caller to an agent's softphone (a Voice SDK client identity). Twilio posts
    the outcome (DialCallStatus) to `action` when the dial ends and follows the TwiML it
    gets back; with `recording_callback` the conversation is recorded (both legs) and the
    recording reported there."""
    response = VoiceResponse()
    if say:
        response.say(say, language=language)
    options: dict[str, str] = {}
    if recording_callback:
        options = {
            "record": "record-from-answer-dual",
            "recording_status_callback": recording_callback,
            "recording_status_callback_event": "completed absent",
        }
    dial = Dial(action=action, method="POST", timeout=timeout_s, **options)
    dial.client(client_identity)
    response.append(dial)
    return str(response.to_xml())


# what the conference posts to its statusCallback (Twilio's statusCallbackEvent values)
CONFERENCE_EVENTS = "start end join leave hold mute"


def dial_conference(
    say: str,
    language: str,
    name: str,
    *,
    action: str,
    status_callback: str,
    wait_url: str | None = None,
    recording_callback: str | None = None,
) -> str:
    """Put the caller in the conference `name` (the agent is dialled into it beside them):
    no beep; the conference starts when the agent enters (the caller hears `wait_url`
    meanwhile) and ends when the caller leaves; its events (join, leave, hold, mute, start,
    end) go to `status_callback`. When the caller's leg of the conference ends, Twilio posts
    the Dial's outcome to `action`."""
    response = VoiceResponse()
    if say:
        response.say(say, language=language)
    dial = Dial(action=action, method="POST")
    options: dict[str, str] = {"wait_url": wait_url, "wait_method": "GET"} if wait_url else {}
    if recording_callback:
        options |= {
            "record": "record-from-start",
            "recording_status_callback": recording_callback,
            "recording_status_callback_event": "completed absent",
        }
    dial.conference(
        name,
        beep="false",
        start_conference_on_enter="false",
        end_conference_on_exit="true",
        status_callback=status_callback,
        status_callback_method="POST",
        status_callback_event=CONFERENCE_EVENTS,
        **options,
    )
    response.append(dial)
    return str(response.to_xml())


def say_and_hang_up(text: str, language: str) -> str:
    response = VoiceResponse()
    if text:
        response.say(text, language=language)
    response.hangup()
    return str(response.to_xml())


def empty() -> str:
    return str(VoiceResponse().to_xml())
