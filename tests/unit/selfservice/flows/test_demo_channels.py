"""The demo bank's flow on the channels, as the wiring will drive it: the engine's actions
rendered for SMS, WhatsApp and the phone, and what the customer sends back read with
reply_input / voice_input (journey 5: Sofia)."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree

from threadline.selfservice.flows import actions as a
from threadline.selfservice.flows.demo_bank import demo_flow
from threadline.selfservice.flows.engine import advance, start
from threadline.selfservice.flows.render import (
    render_messages,
    render_voice,
    reply_input,
    voice_input,
)

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
FLOW = demo_flow()


def test_sms_unclear_question_is_clarified_by_number_then_asks_for_the_card() -> None:
    state, out = start(FLOW, a.Context(channel="sms", language="pt", message="o cartão?"), NOW)
    assert [m.payload["body"] for m in render_messages(out, "sms")] == [
        FLOW.step("greet").text["pt"]  # type: ignore[union-attr]
    ]
    state, out = advance(
        FLOW,
        state,
        a.IntentPrediction(
            request=state.request,
            ranked=[
                a.IntentScore(intent="card_delivery_estimate", confidence=0.35),
                a.IntentScore(intent="card_arrival", confidence=0.33),
                a.IntentScore(intent="lost_or_stolen_card", confidence=0.2),
            ],
        ),
        NOW,
    )
    [sms] = render_messages(out, "sms")
    assert sms.payload["body"].splitlines() == [
        "Não tenho a certeza de ter percebido. Quis dizer:",
        "1. Quando chega o meu cartão?",
        "2. O meu cartão não chegou",
        "3. Cartão perdido ou roubado",
        "4. Outro assunto",
        "0. Falar com uma pessoa",
        "Responda com o número da sua escolha.",
    ]
    state, out = advance(FLOW, state, reply_input("sms", state.choices, "2"), NOW)
    assert render_messages(out, "sms")[0].text == FLOW.step("card_last4").prompt["pt"]  # type: ignore[union-attr]
    state, out = advance(FLOW, state, reply_input("sms", state.choices, "9876"), NOW)
    handoff = next(x for x in out if isinstance(x, a.HandOff))
    assert (handoff.queue, handoff.intent, handoff.slots) == (
        "Cards",
        "card_arrival",
        {"card_last4": "9876"},
    )


def test_whatsapp_answer_from_the_knowledge_base_confirmed_with_a_reply_button() -> None:
    state, out = start(
        FLOW, a.Context(channel="whatsapp", language="es", message="¿cómo cambio mi PIN?"), NOW
    )
    state, out = advance(
        FLOW,
        state,
        a.IntentPrediction(
            request=state.request, ranked=[a.IntentScore(intent="change_pin", confidence=0.91)]
        ),
        NOW,
    )
    state, out = advance(
        FLOW,
        state,
        a.KnowledgeResult(
            request=state.request,
            found=True,
            article_id="kb-pin",
            text="Abra la app.",
            url="https://help.example/es/pin",
        ),
        NOW,
    )
    answer, confirm = render_messages(out, "whatsapp")
    assert answer.payload["text"]["body"] == "Abra la app.\nhttps://help.example/es/pin"
    buttons = confirm.payload["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Sí", "No", "Hablar con alguien"]
    # WhatsApp reports the tapped button by its title
    state, out = advance(FLOW, state, reply_input("whatsapp", state.choices, "Sí"), NOW)
    end = next(x for x in out if isinstance(x, a.EndConversation))
    assert (end.deflected, end.article_id) == (True, "kb-pin")


def test_the_ivr_takes_speech_then_keys_and_zero_reaches_a_person() -> None:
    state, out = start(FLOW, a.Context(channel="voice", language="el"), NOW)
    root = ElementTree.fromstring(render_voice(out, "/flow"))  # noqa: S314 - our TwiML
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["language"] == "el-GR"
    assert [s.text for s in gather.findall("Say")][-1] == "Πώς μπορώ να σας βοηθήσω;"
    state, out = advance(FLOW, state, voice_input("", "η κάρτα μου δεν ήρθε"), NOW)
    assert [x.kind for x in out] == ["classify"]
    state, out = advance(
        FLOW,
        state,
        a.IntentPrediction(
            request=state.request,
            ranked=[
                a.IntentScore(intent="card_arrival", confidence=0.5),
                a.IntentScore(intent="card_delivery_estimate", confidence=0.3),
            ],
        ),
        NOW,
    )
    document = render_voice(out, "/flow")
    assert "πατήστε 1" in document and "πατήστε 0" in document
    state, out = advance(FLOW, state, voice_input("0", ""), NOW)
    handoff = next(x for x in out if isinstance(x, a.HandOff))
    assert handoff.reason == "customer_asked"
    assert (handoff.intent, handoff.confidence) == ("card_arrival", 0.5)
    assert ElementTree.fromstring(render_voice(out, "/flow")).find("Say") is not None  # noqa: S314
