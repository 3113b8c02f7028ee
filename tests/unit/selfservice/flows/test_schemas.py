"""Flow validation: a flow that could misbehave at run time is refused before it runs, with
one message per problem naming the step."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from threadline.selfservice.flows.demo_bank import DEMO_BANK_FLOW, demo_flow
from threadline.selfservice.flows.schemas import Flow, FlowInvalid, load_flow

EN = {"en": "hi"}


def flow(*steps: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": "f",
        "version": 1,
        "languages": ["en"],
        "start": steps[0]["id"],
        "steps": list(steps),
        **fields,
    }


def say(step_id: str, next_id: str) -> dict[str, Any]:
    return {"id": step_id, "kind": "say", "text": EN, "next": next_id}


def end(step_id: str = "bye") -> dict[str, Any]:
    return {"id": step_id, "kind": "end", "deflected": True}


def ask(step_id: str, slot: str, kind: str, next_id: str, **more: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "kind": "ask",
        "slot": slot,
        "type": kind,
        "prompt": EN,
        "reprompt": EN,
        "next": next_id,
        **more,
    }


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(FlowInvalid) as caught:
        load_flow(data)
    return caught.value.problems


def test_the_demo_flow_is_valid_and_round_trips_through_json() -> None:
    loaded = demo_flow()
    assert loaded.languages == ["en", "pt", "es", "ru", "el"]
    again = load_flow(loaded.model_dump_json())
    assert again == loaded
    assert load_flow(json.dumps(DEMO_BANK_FLOW)) == loaded


def test_a_reference_to_a_missing_step_names_the_step_and_the_field() -> None:
    assert problems(flow(say("hello", "nowhere"), end())) == [
        "step 'hello': next 'nowhere' is not a step"
    ]


def test_a_missing_start_is_refused() -> None:
    data = flow(end())
    data["start"] = "begin"
    assert problems(data) == ["start: 'begin' is not a step"]


def test_duplicate_step_ids_are_refused() -> None:
    assert problems(flow(say("a", "a2"), say("a", "bye"), end())) == [
        "step 'a': more than one step has this id"
    ]


def test_an_unreachable_step_is_refused() -> None:
    assert problems(flow(say("a", "bye"), end(), say("orphan", "bye"))) == [
        "step 'orphan': unreachable from the start 'a'"
    ]


def test_a_path_that_never_ends_is_refused() -> None:
    # a -> b -> c -> b: nothing reaches an end
    data = flow(
        say("a", "b"),
        ask("b", "x", "free_text", "c", on_fail="c", always=True),
        ask("c", "y", "free_text", "b", on_fail="b", always=True),
    )
    found = problems(data)
    assert "step 'a': no way from here ends (hand-off or end)" in found
    assert "step 'b': no way from here ends (hand-off or end)" in found


def test_a_loop_that_never_waits_is_refused() -> None:
    data = flow(
        say("a", "b"),
        {
            "id": "b",
            "kind": "branch",
            "rules": [{"slot": "x", "op": "present", "goto": "bye"}],
            "otherwise": "a",
        },
        ask("c", "x", "free_text", "a"),
        end(),
    )
    data["start"] = "c"
    assert problems(data) == ["step 'a': the loop a -> b -> a never waits for the customer"]


def test_a_loop_through_a_question_is_allowed() -> None:
    data = flow(
        ask("a", "x", "free_text", "b", always=True),
        {
            "id": "b",
            "kind": "branch",
            "rules": [{"slot": "x", "op": "eq", "value": "ok", "goto": "bye"}],
            "otherwise": "a",
        },
        end(),
    )
    assert isinstance(load_flow(data), Flow)


def test_a_text_missing_in_a_declared_language_is_refused() -> None:
    data = flow(say("a", "bye"), end(), languages=["en", "pt"])
    assert problems(data) == ["step 'a': text has no text in pt"]


def test_a_text_in_an_undeclared_language_is_refused() -> None:
    data = flow(
        {"id": "a", "kind": "say", "text": {"en": "hi", "fr": "salut"}, "next": "bye"}, end()
    )
    assert problems(data) == ["step 'a': text is in undeclared languages ['fr']"]


def test_a_language_without_built_in_texts_must_give_them() -> None:
    data = flow(
        {"id": "a", "kind": "say", "text": {"de": "hallo"}, "next": "bye"}, end(), languages=["de"]
    )
    found = problems(data)
    assert len(found) == 1 and found[0].startswith("messages.de: no built-in texts in 'de'")


def test_choice_labels_and_intent_labels_are_checked_per_language() -> None:
    data = flow(
        ask(
            "a",
            "c",
            "choice",
            "b",
            options=[
                {"id": "one", "label": {"en": "One", "pt": "Um"}},
                {"id": "two", "label": {"en": "Two"}},
            ],
        ),
        {
            "id": "b",
            "kind": "branch",
            "prompt": {"en": "?", "pt": "?"},
            "intents": [{"intent": "x", "goto": "bye", "label": {"en": "X"}}],
            "otherwise": "bye",
        },
        {"id": "bye", "kind": "end", "deflected": True},
        languages=["en", "pt"],
    )
    data["steps"][0]["prompt"] = data["steps"][0]["reprompt"] = {"en": "?", "pt": "?"}
    assert problems(data) == [
        "step 'a': options.two.label has no text in pt",
        "step 'b': intents.x.label has no text in pt",
    ]


def test_a_slot_asked_as_two_kinds_is_refused() -> None:
    data = flow(ask("a", "when", "date", "b"), ask("b", "when", "amount", "bye"), end())
    assert problems(data) == ["step 'b': slot 'when' is a amount here but a date at step 'a'"]


def test_a_slot_read_but_never_filled_is_refused() -> None:
    data = flow(
        {
            "id": "a",
            "kind": "branch",
            "rules": [{"slot": "ghost", "op": "present", "goto": "bye"}],
            "otherwise": "bye",
        },
        end(),
    )
    assert problems(data) == ["step 'a': slot 'ghost' is never filled"]


def test_a_slot_the_caller_gives_may_be_read() -> None:
    data = flow(
        {
            "id": "a",
            "kind": "branch",
            "rules": [{"slot": "vip", "op": "eq", "value": True, "goto": "bye"}],
            "otherwise": "bye",
        },
        end(),
        context_slots=["vip"],
    )
    assert load_flow(data).context_slots == ["vip"]


def test_templates_name_known_placeholders_and_filled_slots() -> None:
    data = flow(
        {
            "id": "a",
            "kind": "call",
            "url": "https://bank.example/cards/{slots.card}",
            "payload": {"q": "{mood}"},
            "next": "bye",
            "on_error": "bye",
        },
        end(),
    )
    assert problems(data) == [
        "step 'a': slot 'card' is never filled",
        "step 'a': unknown placeholder {mood}",
    ]


def test_a_backend_url_must_be_http() -> None:
    data = flow(
        {
            "id": "a",
            "kind": "call",
            "url": "ftp://bank.example/x",
            "next": "bye",
            "on_error": "bye",
        },
        end(),
    )
    assert problems(data) == ["step 'a': url must be an http(s) URL"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"op": "eq"}, "rules[0] (eq) needs a value"),
        ({"op": "present", "value": 1}, "rules[0] (present) takes no value"),
        ({"op": "in", "value": "a"}, "rules[0] (in) needs a list"),
        ({"op": "gt", "value": "a"}, "rules[0] (gt) needs a number"),
        ({"op": "matches", "value": "("}, "rules[0] is not a regular expression"),
    ],
)
def test_branch_rules_are_checked(rule: dict[str, Any], message: str) -> None:
    data = flow(
        ask("a", "x", "free_text", "b"),
        {
            "id": "b",
            "kind": "branch",
            "rules": [{"slot": "x", "goto": "bye", **rule}],
            "otherwise": "bye",
        },
        end(),
    )
    found = problems(data)
    assert len(found) == 1 and found[0].startswith(f"step 'b': {message}")


def test_a_branch_on_intent_needs_a_prompt_and_distinct_intents() -> None:
    route = {"intent": "x", "goto": "bye", "label": EN}
    data = flow({"id": "b", "kind": "branch", "intents": [route, route], "otherwise": "bye"}, end())
    assert problems(data) == [
        "step 'b': each intent once",
        "step 'b': a branch on intent needs a prompt",
    ]


def test_a_choice_needs_two_distinct_options_none_reserved() -> None:
    data = flow(ask("a", "c", "choice", "bye", options=[{"id": "agent", "label": EN}]), end())
    assert problems(data) == [
        "step 'a': a choice needs at least two options",
        "step 'a': option ids 'agent' and 'other' are reserved",
    ]


def test_checks_that_belong_to_one_slot_kind_are_refused_on_another() -> None:
    data = flow(ask("a", "d", "date", "bye", pattern="[0-9]+", min_days=3, max_days=1), end())
    assert problems(data) == [
        "step 'a': pattern and checksum are only for an account number",
        "step 'a': min_days is after max_days",
    ]


def test_malformed_fields_name_their_step() -> None:
    data = flow(say("a", "b"), {"id": "b", "kind": "ask", "slot": "Bad Slot"}, end())
    found = problems(data)
    assert any(p.startswith("step 'b': slot:") for p in found)
    assert any(p.startswith("step 'b': prompt:") for p in found)


def test_every_problem_is_reported_at_once() -> None:
    data = copy.deepcopy(DEMO_BANK_FLOW)
    data["steps"][0]["text"].pop("el")
    data["steps"][2]["helped"] = "nowhere"
    found = problems(data)
    assert "step 'greet': text has no text in el" in found
    assert "step 'answer': helped 'nowhere' is not a step" in found


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("[1]", "flow: Input should be an object"),
        ("{", "flow: Invalid JSON"),
        ({"id": "x"}, "version: Field required"),
    ],
)
def test_what_is_not_a_flow_at_all_says_so(given: Any, problem: str) -> None:
    with pytest.raises(FlowInvalid) as caught:
        load_flow(given)
    assert caught.value.problems[0].startswith(problem)


def test_the_flow_schema_is_published_for_editors() -> None:
    schema = Flow.model_json_schema()
    assert set(schema["$defs"]) >= {
        "Say",
        "Ask",
        "Branch",
        "Answer",
        "Call",
        "Route",
        "Verify",
        "Handoff",
        "End",
    }
