"""The flow engine, turn by turn: the demo bank's journeys (shared/JOURNEYS.md, journey 5),
then each kind of step, talk-to-a-person everywhere, and inputs that come late or out of
turn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from threadline.selfservice.flows import actions as a
from threadline.selfservice.flows.demo_bank import demo_flow
from threadline.selfservice.flows.engine import FlowMismatch, advance, start
from threadline.selfservice.flows.schemas import Flow, load_flow

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DEMO = demo_flow()


class Chat:
    """One conversation, driven like a channel would: each input, then the actions."""

    def __init__(self, flow: Flow = DEMO, **context: Any) -> None:
        self.flow = flow
        self.now = NOW
        self.state, self.actions = start(flow, a.Context(**{"channel": "chat", **context}), NOW)

    def send(self, given: Any) -> list[Any]:
        self.now += timedelta(seconds=5)
        self.state, self.actions = advance(self.flow, self.state, given, self.now)
        return self.actions

    def say(self, text: str) -> list[Any]:
        return self.send(a.Message(text=text))

    def predict(self, *ranked: tuple[str, float]) -> list[Any]:
        scores = [a.IntentScore(intent=i, confidence=c) for i, c in ranked]
        return self.send(a.IntentPrediction(request=self.state.request, ranked=scores))

    def kinds(self) -> list[str]:
        return [x.kind for x in self.actions]

    def one(self, kind: type[Any]) -> Any:
        found = [x for x in self.actions if isinstance(x, kind)]
        assert len(found) == 1, self.actions
        return found[0]


# ---- the demo bank ---------------------------------------------------------------------------


def test_sofia_changes_her_pin_from_the_knowledge_base_and_is_deflected() -> None:
    chat = Chat(language="pt")
    assert chat.kinds() == ["say", "ask"]
    assert chat.one(a.Ask).text == "Em que posso ajudar?"
    chat.say("como mudo o meu PIN?")
    classify = chat.one(a.ClassifyIntent)
    assert (classify.text, classify.language) == ("como mudo o meu PIN?", "pt")
    chat.predict(("change_pin", 0.93), ("pin_blocked", 0.04))
    knowledge = chat.one(a.RequestKnowledge)
    assert knowledge.query == "como mudo o meu PIN?"
    chat.send(
        a.KnowledgeResult(
            request=knowledge.request,
            found=True,
            article_id="kb-7",
            title="PIN",
            text="Abra a app > Cartão > PIN.",
        )
    )
    assert chat.kinds() == ["say", "choices"]
    assert [c.label for c in chat.one(a.PresentChoices).choices] == ["Sim", "Não"]
    chat.send(a.Choice(choice="yes"))
    end = chat.one(a.EndConversation)
    assert (end.deflected, end.intent, end.article_id) == (True, "change_pin", "kb-7")
    assert chat.state.outcome == "end" and chat.state.deflected


def test_a_card_that_has_not_arrived_goes_to_cards_with_its_last_four_digits() -> None:
    chat = Chat(language="en", message="my card still hasn't arrived")
    assert chat.kinds() == ["say", "classify"]  # what she said first is not asked again
    chat.predict(("card_arrival", 0.88))
    assert chat.one(a.Ask).slot == "card_last4"
    chat.say("it ends in 12")
    assert chat.one(a.Ask).text.startswith("Please give the 4 digits")
    chat.say("4 2 1 3")
    assert chat.one(a.SetRouting).queue == "Cards"
    handoff = chat.one(a.HandOff)
    assert handoff.reason == "card_arrival"
    assert (handoff.queue, handoff.skills, handoff.priority) == ("Cards", ["cards"], None)
    assert (handoff.intent, handoff.confidence) == ("card_arrival", 0.88)
    assert handoff.slots == {"card_last4": "4213"}
    said = [(e.by, e.text) for e in handoff.transcript]
    assert ("customer", "my card still hasn't arrived") in said
    assert ("customer", "4 2 1 3") in said
    assert said[-1] == ("bot", "Thank you. A card specialist will take it from here.")


def test_an_unclear_question_is_clarified_with_buttons_then_handed_off() -> None:
    chat = Chat(language="en")
    chat.say("something weird happened with money")
    chat.predict(
        ("activate_my_card", 0.31),
        ("balance_not_updated_after_bank_transfer", 0.2),
        ("change_pin", 0.12),
        ("card_arrival", 0.1),
        ("lost_or_stolen_card", 0.05),
    )
    choices = chat.one(a.PresentChoices)
    assert choices.text.startswith("I am not sure I understood")
    assert [c.id for c in choices.choices] == [
        "activate_my_card",
        "change_pin",
        "card_arrival",
        "other",
    ]
    assert chat.state.waiting == "customer" and chat.state.phase == "clarify"
    chat.send(a.Choice(choice="other"))
    handoff = chat.one(a.HandOff)
    assert (handoff.queue, handoff.reason) == ("General", "self_service")
    assert (handoff.intent, handoff.confidence) == ("activate_my_card", 0.31)


def test_a_clarify_choice_goes_where_that_intent_goes() -> None:
    chat = Chat(language="es")
    chat.say("tarjeta")
    chat.predict(("card_arrival", 0.4), ("change_pin", 0.3))
    chat.say("1")  # SMS: the number of the choice
    assert chat.one(a.Ask).slot == "card_last4"
    assert chat.state.intent == "card_arrival"


def test_a_confident_intent_the_flow_does_not_handle_goes_to_otherwise() -> None:
    chat = Chat()
    chat.say("I want to close my account")
    chat.predict(("terminate_account", 0.97))
    handoff = chat.one(a.HandOff)
    assert (handoff.queue, handoff.intent) == ("General", "terminate_account")


def test_an_answer_that_did_not_help_hands_off_and_the_article_is_not_counted() -> None:
    chat = Chat(message="change pin")
    chat.predict(("change_pin", 0.9))
    chat.send(
        a.KnowledgeResult(
            request=chat.state.request, found=True, article_id="kb-7", text="Use the app."
        )
    )
    chat.send(a.Choice(choice="no"))
    assert chat.one(a.HandOff).reason == "self_service"
    assert chat.state.article_id is None and not chat.state.deflected


def test_a_new_question_instead_of_yes_or_no_is_not_lost() -> None:
    chat = Chat(message="change pin")
    chat.predict(("change_pin", 0.9))
    chat.send(a.KnowledgeResult(request=chat.state.request, found=True, text="Use the app."))
    chat.say("ναι")  # Greek "yes", whatever the flow's language
    assert chat.one(a.EndConversation).deflected


def test_nothing_found_in_the_knowledge_base_hands_off() -> None:
    chat = Chat(message="change pin")
    chat.predict(("change_pin", 0.9))
    chat.send(a.KnowledgeResult(request=chat.state.request, found=False))
    assert chat.one(a.HandOff).intent == "change_pin"


# ---- talk to a person --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I want to talk to a person",
        "agent",
        "Quero falar com uma pessoa",
        "atendente por favor",
        "quiero hablar con una persona",
        "Агент",
        "соедините с оператором",
        "хочу поговорить с человеком",
        "Θέλω να μιλήσω με άνθρωπο",
        "Θα ήθελα πολύ να μιλήσω με έναν άνθρωπο τώρα",
        "εκπρόσωπο",
    ],
)
def test_talk_to_a_person_in_every_language_hands_off_with_what_was_collected(text: str) -> None:
    chat = Chat(message="card not here")
    chat.predict(("card_arrival", 0.9))
    chat.say(text)
    handoff = chat.one(a.HandOff)
    assert handoff.reason == "customer_asked"
    assert handoff.intent == "card_arrival"


def test_dtmf_zero_and_the_button_ask_for_a_person() -> None:
    for given in (a.Digits(digits="0"), a.Choice(choice="agent")):
        chat = Chat(channel="voice")
        chat.send(given)
        assert chat.one(a.HandOff).reason == "customer_asked"


def test_a_person_asked_for_in_the_first_message_is_given_at_once() -> None:
    chat = Chat(message="operator please")
    assert chat.kinds() == ["say", "handoff"]


def test_a_long_sentence_that_mentions_a_person_is_not_a_request_for_one() -> None:
    chat = Chat()
    chat.say("a person at the shop told me my personal card was blocked yesterday")
    assert chat.kinds() == ["classify"]


# ---- steps ---------------------------------------------------------------------------------------


def flow(*steps: dict[str, Any], **fields: Any) -> Flow:
    return load_flow(
        {
            "id": "t",
            "version": 3,
            "languages": ["en"],
            "start": steps[0]["id"],
            "steps": list(steps),
            **fields,
        }
    )


EN = {"en": "?"}
BYE = {"id": "bye", "kind": "end", "deflected": True}
PERSON = {"id": "person", "kind": "handoff", "reason": "r"}


def test_an_ask_rechecks_until_its_attempts_run_out_then_fails() -> None:
    chat = Chat(
        flow(
            {
                "id": "amt",
                "kind": "ask",
                "slot": "amount",
                "type": "amount",
                "currencies": ["EUR", "USD"],
                "prompt": EN,
                "reprompt": {"en": "again"},
                "max_attempts": 2,
                "next": "bye",
                "on_fail": "person",
            },
            BYE,
            PERSON,
        )
    )
    chat.say("lots")
    assert chat.one(a.Ask).text == "again"
    chat.say("12 GBP")
    assert chat.one(a.HandOff).slots == {}


def test_an_ask_stores_a_good_answer_and_skips_a_filled_slot() -> None:
    steps = (
        {
            "id": "amt",
            "kind": "ask",
            "slot": "amount",
            "type": "amount",
            "prompt": EN,
            "reprompt": EN,
            "next": "again",
        },
        {
            "id": "again",
            "kind": "ask",
            "slot": "amount",
            "type": "amount",
            "prompt": EN,
            "reprompt": EN,
            "next": "bye",
        },
        BYE,
    )
    chat = Chat(flow(*steps))
    chat.say("€ 1.234,50")
    assert chat.state.slots == {"amount": "1234.50 EUR"}
    assert chat.kinds() == ["end"]


def test_a_choice_slot_takes_a_button_a_number_a_key_or_a_word() -> None:
    ask = {
        "id": "c",
        "kind": "ask",
        "slot": "product",
        "type": "choice",
        "prompt": EN,
        "reprompt": EN,
        "next": "bye",
        "options": [
            {"id": "card", "label": {"en": "Card"}, "synonyms": {"en": ["plastic"]}},
            {"id": "loan", "label": {"en": "Loan"}},
        ],
    }
    for given, expected in [
        (a.Choice(choice="loan"), "loan"),
        (a.Message(text="2"), "loan"),
        (a.Digits(digits="1"), "card"),
        (a.Speech(text="plastic"), "card"),
    ]:
        chat = Chat(flow(ask, BYE))
        assert [c.id for c in chat.one(a.PresentChoices).choices] == ["card", "loan"]
        chat.send(given)
        assert chat.state.slots == {"product": expected}


def test_silence_at_a_question_asks_again_then_fails() -> None:
    chat = Chat(
        flow(
            {
                "id": "q",
                "kind": "ask",
                "slot": "d",
                "type": "date",
                "prompt": EN,
                "reprompt": {"en": "when?"},
                "max_attempts": 2,
                "next": "bye",
            },
            BYE,
        )
    )
    assert chat.state.deadline == NOW + timedelta(seconds=600)
    chat.send(a.Timeout())
    assert chat.one(a.Ask).text == "when?"
    chat.send(a.Timeout())
    assert chat.one(a.HandOff).reason == "not_understood"


def test_the_backend_is_called_retried_and_fills_slots() -> None:
    chat = Chat(
        flow(
            {
                "id": "acct",
                "kind": "ask",
                "slot": "iban",
                "type": "account_number",
                "checksum": "iban",
                "prompt": EN,
                "reprompt": EN,
                "next": "look",
            },
            {
                "id": "look",
                "kind": "call",
                "url": "https://bank.example/a/{slots.iban}?l={language}",
                "payload": {"who": "{slots.iban}", "said": "{message}"},
                "retries": 1,
                "fills": {"owner.name": "name", "cards.0.status": "card_status"},
                "next": "check",
                "on_error": "person",
            },
            {
                "id": "check",
                "kind": "branch",
                "rules": [
                    {"slot": "card_status", "op": "eq", "value": "BLOCKED", "goto": "person"}
                ],
                "otherwise": "bye",
            },
            BYE,
            PERSON,
        )
    )
    chat.say("GB82 WEST 1234 5698 7654 32")
    call = chat.one(a.CallBackend)
    assert call.url == "https://bank.example/a/GB82WEST12345698765432?l=en"
    assert call.payload == {"who": "GB82WEST12345698765432", "said": "GB82 WEST 1234 5698 7654 32"}
    assert call.attempt == 1
    chat.send(a.Timeout())
    retry = chat.one(a.CallBackend)
    assert retry.attempt == 2 and retry.request != call.request
    chat.send(a.BackendResponse(request=call.request, ok=True, body={}))  # stale: ignored
    assert chat.actions == [] and chat.state.waiting == "backend"
    chat.send(
        a.BackendResponse(
            request=retry.request,
            ok=True,
            status=200,
            body={"owner": {"name": "Ann"}, "cards": [{"status": "blocked"}]},
        )
    )
    handoff = chat.one(a.HandOff)
    assert handoff.slots == {
        "iban": "GB82WEST12345698765432",
        "name": "Ann",
        "card_status": "blocked",
    }


def test_backend_errors_past_the_retries_go_to_on_error() -> None:
    chat = Chat(
        flow(
            {
                "id": "look",
                "kind": "call",
                "url": "https://bank.example/x",
                "retries": 0,
                "next": "bye",
                "on_error": "person",
            },
            BYE,
            PERSON,
        )
    )
    chat.send(a.BackendResponse(request=chat.state.request, ok=False, status=503))
    assert chat.one(a.HandOff).reason == "r"


def test_verification_is_asked_only_when_the_level_is_not_met() -> None:
    steps = (
        {"id": "v", "kind": "verify", "level": "verified", "next": "bye", "on_fail": "person"},
        BYE,
        PERSON,
    )
    assert Chat(flow(*steps), assurance="strong").kinds() == ["end"]
    chat = Chat(flow(*steps), assurance="identified")
    assert chat.one(a.RequireVerification).level == "verified"
    chat.send(a.VerificationResult(request=chat.state.request, level="verified"))
    assert chat.kinds() == ["end"] and chat.state.assurance == "verified"
    chat = Chat(flow(*steps))
    chat.send(a.VerificationResult(request=chat.state.request, level="identified"))
    assert chat.one(a.HandOff).assurance == "identified"


def test_routing_set_along_the_way_reaches_the_handoff_and_the_handoff_step_wins() -> None:
    chat = Chat(
        flow(
            {
                "id": "r1",
                "kind": "route",
                "queue": "Loans",
                "skills": ["loans"],
                "priority": 2,
                "next": "r2",
            },
            {"id": "r2", "kind": "route", "skills": ["pt"], "next": "go"},
            {"id": "go", "kind": "handoff", "reason": "x", "queue": "Cards", "priority": 9},
        )
    )
    assert [x.kind for x in chat.actions] == ["routing", "routing", "say", "handoff"]
    handoff = chat.one(a.HandOff)
    assert (handoff.queue, handoff.skills, handoff.priority) == ("Cards", ["loans", "pt"], 9)


def test_slot_rules_compare_amounts_dates_and_lists() -> None:
    steps = (
        {
            "id": "amt",
            "kind": "ask",
            "slot": "amount",
            "type": "amount",
            "prompt": EN,
            "reprompt": EN,
            "next": "b",
        },
        {
            "id": "b",
            "kind": "branch",
            "rules": [
                {"slot": "amount", "op": "gte", "value": 1000, "goto": "person"},
                {"slot": "amount", "op": "matches", "value": "EUR$", "goto": "bye"},
            ],
            "otherwise": "person",
        },
        BYE,
        PERSON,
    )
    chat = Chat(flow(*steps))
    chat.say("1000")
    assert chat.kinds() == ["say", "handoff"]
    chat = Chat(flow(*steps))
    chat.say("999.99")
    assert chat.kinds() == ["end"]


def test_context_slots_are_kept_and_others_dropped() -> None:
    f = flow(
        {
            "id": "b",
            "kind": "branch",
            "rules": [{"slot": "vip", "op": "eq", "value": True, "goto": "person"}],
            "otherwise": "bye",
        },
        BYE,
        PERSON,
        context_slots=["vip"],
    )
    chat = Chat(f, slots={"vip": True, "other": 1})
    assert chat.one(a.HandOff).slots == {"vip": True}


# ---- out of turn -----------------------------------------------------------------------------


def test_a_late_or_unexpected_answer_changes_nothing() -> None:
    chat = Chat()
    before = chat.state
    chat.send(a.IntentPrediction(ranked=[a.IntentScore(intent="change_pin", confidence=1)]))
    chat.send(a.KnowledgeResult(found=True, text="x"))
    chat.send(a.BackendResponse(ok=True))
    assert chat.actions == []
    assert chat.state.step == before.step and chat.state.waiting == "customer"


def test_a_message_while_the_classifier_works_is_recorded_only() -> None:
    chat = Chat(message="pin")
    chat.say("hello?")
    assert chat.actions == [] and chat.state.waiting == "intent"
    assert chat.state.transcript[-1].text == "hello?"


def test_a_finished_conversation_takes_no_more_turns() -> None:
    chat = Chat(message="agent")
    done = chat.state
    chat.say("hello again")
    assert chat.actions == [] and chat.state == done


def test_a_state_is_advanced_only_with_its_own_flow_and_version() -> None:
    chat = Chat()
    other = DEMO.model_copy(update={"version": 2})
    with pytest.raises(FlowMismatch):
        advance(other, chat.state, a.Message(text="hi"), NOW)


def test_advance_leaves_the_given_state_untouched() -> None:
    chat = Chat()
    before = chat.state.model_dump()
    advance(DEMO, chat.state, a.Message(text="pin"), NOW)
    assert chat.state.model_dump() == before


def test_the_state_round_trips_through_json() -> None:
    chat = Chat(message="card not here", language="ru")
    chat.predict(("card_arrival", 0.9))
    stored = chat.state.model_dump_json()
    assert a.State.model_validate_json(stored) == chat.state


def test_a_regional_language_speaks_its_language_and_an_unknown_one_the_first() -> None:
    assert Chat(language="pt-BR").state.language == "pt"
    assert Chat(language="fr").state.language == "en"
