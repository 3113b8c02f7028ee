"""Intents from the admin UI, on SQLite and PostgreSQL: only admins may upload examples,
see the model or try a sentence, each for their own organisation; a bad CSV is refused
with the CLI's reason and line; a small CSV in five languages trains end to end in a child
process (queued/training/evaluating, then done with a held-out evaluation), the bot's own
classifier answers with the new model at once, and the old model answers while a new one
is being trained."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tests.conftest import PASSWORD, Running, World, eventually, login, make_world
from threadline.auth.roles import Principal
from threadline.config import Settings
from threadline.errors import Conflict
from threadline.orgs.models import Organization
from threadline.selfservice.bot.classifier import ModelClassifier
from threadline.selfservice.bot.services import BotRuntime
from threadline.selfservice.intents.services import IntentTrainer, Training, parse_examples

# Three intents, four ways of saying each in each of the five languages.
PHRASES = {
    "card_arrival": {
        "en": [
            "my card has not arrived yet",
            "when will my new card arrive",
            "still waiting for the card you sent",
            "the card never came in the post",
        ],
        "pt": [
            "o meu cartão ainda não chegou",
            "quando chega o meu cartão novo",
            "continuo à espera do cartão",
            "o cartão nunca chegou pelo correio",
        ],
        "es": [
            "mi tarjeta todavía no ha llegado",
            "cuándo llega mi tarjeta nueva",
            "sigo esperando la tarjeta",
            "la tarjeta nunca llegó por correo",
        ],
        "ru": [
            "моя карта ещё не пришла",
            "когда придёт моя новая карта",
            "всё ещё жду карту",
            "карта так и не пришла по почте",
        ],
        "el": [
            "η κάρτα μου δεν έχει φτάσει ακόμα",
            "πότε θα φτάσει η νέα μου κάρτα",
            "ακόμα περιμένω την κάρτα",
            "η κάρτα δεν ήρθε ποτέ με το ταχυδρομείο",
        ],
    },
    "change_pin": {
        "en": [
            "how do I change my PIN",
            "I want a new PIN code",
            "change the pin of my card",
            "can I set a different PIN",
        ],
        "pt": [
            "como altero o meu PIN",
            "quero um código PIN novo",
            "mudar o pin do cartão",
            "posso definir outro PIN",
        ],
        "es": [
            "cómo cambio mi PIN",
            "quiero un código PIN nuevo",
            "cambiar el pin de la tarjeta",
            "puedo poner otro PIN",
        ],
        "ru": [
            "как поменять ПИН-код",
            "хочу новый ПИН-код",
            "сменить пин карты",
            "можно установить другой ПИН",
        ],
        "el": [
            "πώς αλλάζω το PIN μου",
            "θέλω νέο κωδικό PIN",
            "αλλαγή του pin της κάρτας",
            "μπορώ να βάλω άλλο PIN",
        ],
    },
    "exchange_rate": {
        "en": [
            "what exchange rate do you use",
            "how much is a euro in dollars",
            "the currency conversion rate today",
            "which rate applies when I pay abroad",
        ],
        "pt": [
            "que taxa de câmbio usam",
            "quanto vale um euro em dólares",
            "a taxa de conversão de moeda hoje",
            "que câmbio se aplica quando pago no estrangeiro",
        ],
        "es": [
            "qué tipo de cambio usan",
            "cuánto es un euro en dólares",
            "la tasa de conversión de moneda hoy",
            "qué cambio se aplica al pagar en el extranjero",
        ],
        "ru": [
            "какой у вас обменный курс",
            "сколько стоит евро в долларах",
            "курс конвертации валюты сегодня",
            "какой курс при оплате за границей",
        ],
        "el": [
            "ποια ισοτιμία χρησιμοποιείτε",
            "πόσο κάνει ένα ευρώ σε δολάρια",
            "η ισοτιμία μετατροπής νομίσματος σήμερα",
            "ποια ισοτιμία ισχύει όταν πληρώνω στο εξωτερικό",
        ],
    },
}
TRAININGS = "/api/v1/intents/trainings"


def examples_csv(phrases: dict[str, dict[str, list[str]]] = PHRASES) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["text", "category"])
    for intent, languages in phrases.items():
        for texts in languages.values():
            for text in texts:
                writer.writerow([text, intent])
    return out.getvalue().encode("utf-8")


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"intent_models_dir": tmp_path / "intents"})


async def upload(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(TRAININGS, content=body, headers={"Content-Type": "text/csv"})


async def finished(client: httpx.AsyncClient, seen: set[str], timeout: float = 120) -> Any:
    """The latest training once it is done or failed (the states it went through in `seen`)."""

    async def probe() -> dict[str, Any] | None:
        body = (await client.get(f"{TRAININGS}/latest")).json()
        seen.add(body["state"])
        return body if body["state"] in {"done", "failed"} else None

    return await eventually(probe, timeout=timeout)


async def slug_of(server: Running, org_id: str) -> str:
    async with server.ctx.db.sessions() as session:
        return (await session.get_one(Organization, org_id)).slug


def classifier_of(server: Running) -> ModelClassifier:
    return cast(ModelClassifier, cast(BotRuntime, server.ctx.bot).classifier)


async def test_only_admins_of_the_organisation(server: Running, world: World) -> None:
    async with server.client() as anonymous:
        for method, path in [
            ("get", "/api/v1/intents"),
            ("post", TRAININGS),
            ("get", f"{TRAININGS}/latest"),
            ("post", "/api/v1/intents/try"),
        ]:
            response = await anonymous.request(method, path)
            assert response.status_code == 401, (path, response.text)
        page = await anonymous.get("/admin/intents", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"
    for who in ("olga", "nikos"):  # an agent, a supervisor
        client = await login(server, f"{who}@example.com")
        try:
            assert (await client.get("/api/v1/intents")).status_code == 403
            refused = await upload(client, examples_csv())
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
            tried = await client.post("/api/v1/intents/try", json={"text": "my card"})
            assert tried.status_code == 403
            page = await client.get("/admin/intents")
            assert page.status_code == 403
        finally:
            await client.aclose()
    admin = await login(server, "admin@example.com")
    try:
        page = await admin.get("/admin/intents", headers={"Accept-Language": "el"})
        assert page.status_code == 200 and "Προθέσεις" in page.text
        overview = (await admin.get("/api/v1/intents")).json()
        assert overview == {"model": None, "training": None, "can_train": True}
        assert (await admin.get(f"{TRAININGS}/latest")).status_code == 404
        no_model = await admin.post("/api/v1/intents/try", json={"text": "my card"})
        assert no_model.status_code == 404
    finally:
        await admin.aclose()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the CSV is empty: expected a header row text,category"),
        (b"sentence,label\nhi,greet\n", "missing column text, category"),
        (b"text,category\nhello,greet\nbye,\n", "the CSV, line 3: empty category"),
        (b"text,category\n,greet\nbye,farewell\n", "the CSV, line 2: empty text"),
        (b"text,category\n\xff\xfe,x\n", "the CSV is not UTF-8 text"),
        (b"text,category\n", "no examples: the file has a header but no rows"),
        (b"text,category\nhello,greet\nhi,greet\n", "only one category ('greet')"),
        (
            b"text,category\nhi,greet\n" + b"a" * 140_000 + b",bye\n",
            "the CSV, line 3: not a valid CSV: field larger than field limit",
        ),
    ],
)
async def test_a_bad_csv_is_refused_with_the_reason(
    server: Running, world: World, body: bytes, reason: str
) -> None:
    admin = await login(server, "admin@example.com")
    try:
        refused = await upload(admin, body)
        assert refused.status_code == 422, refused.text
        assert reason in refused.json()["message"]
        assert (await admin.get(f"{TRAININGS}/latest")).status_code == 404  # nothing started
    finally:
        await admin.aclose()


async def test_an_upload_over_the_limit_is_refused(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    try:
        line = b"my card has not arrived yet and I am still waiting for it,card_arrival\n"
        big = b"text,category\n" + line * (5 * 1024 * 1024 // len(line) + 10)
        refused = await upload(admin, big)
        assert refused.status_code == 422 and "over 5 MB" in refused.json()["message"]
    finally:
        await admin.aclose()


async def test_five_languages_train_end_to_end_and_the_bot_uses_the_model(
    server: Running, world: World
) -> None:
    classifier = classifier_of(server)
    assert await classifier.classify(world.org_id, "my card has not arrived", "en") == []
    admin = await login(server, "admin@example.com")
    other = await make_world(server.ctx)  # another organisation, the same e-mail addresses
    try:
        started = await upload(admin, examples_csv())
        assert started.status_code == 202, started.text
        assert started.json()["examples"] == 60 and started.json()["intents"] == 3
        again = await upload(admin, examples_csv())  # one training per organisation at a time
        assert again.status_code == 409 and again.json()["code"] == "conflict"
        seen: set[str] = set()
        done = await finished(admin, seen)
        assert done["state"] == "done", done
        assert seen & {"training", "evaluating"}
        evaluation = done["evaluation"]
        assert evaluation["held_out"] == 12  # a fifth of each intent's 20 examples, 3 intents
        assert 0.0 <= evaluation["answered"] <= 1.0
        assert evaluation["accuracy"] >= 0.6  # unseen phrasings in five languages

        overview = (await admin.get("/api/v1/intents")).json()
        model = overview["model"]
        assert model["source"] == "organisation" and model["trained_by"] == "Admin"
        assert model["examples"] == 60 and model["intents"] == 3
        assert model["evaluation"]["accuracy"] == evaluation["accuracy"]
        assert [r["intent"] for r in model["per_intent"]] == sorted(PHRASES)
        assert all(r["examples"] == 20 and 0 <= r["f1"] <= 1 for r in model["per_intent"])

        tried = await admin.post("/api/v1/intents/try", json={"text": "η κάρτα δεν έφτασε"})
        assert tried.status_code == 200, tried.text
        assert tried.json()["intent"] == "card_arrival"
        assert len(tried.json()["alternatives"]) == 2
        assert isinstance(tried.json()["would_clarify"], bool)

        ranked = await classifier.classify(world.org_id, "quiero cambiar mi PIN", "es")
        assert ranked[0].intent == "change_pin"
        assert await classifier.classify(other.org_id, "quiero cambiar mi PIN", "es") == []
    finally:
        await admin.aclose()

    # The other organisation's admin sees none of it, and trains apart.
    async with server.client() as theirs:
        signed_in = await theirs.post(
            "/api/v1/auth/login",
            json={
                "org": await slug_of(server, other.org_id),
                "email": "admin@example.com",
                "password": PASSWORD,
            },
        )
        assert signed_in.status_code == 200, signed_in.text
        theirs_now = (await theirs.get("/api/v1/intents")).json()
        assert theirs_now == {"model": None, "training": None, "can_train": True}
        assert (await theirs.get(f"{TRAININGS}/latest")).status_code == 404
        assert (await theirs.post("/api/v1/intents/try", json={"text": "PIN"})).status_code == 404


async def test_the_old_model_answers_until_the_new_one_is_in(server: Running, world: World) -> None:
    classifier = classifier_of(server)
    admin = await login(server, "admin@example.com")
    try:
        assert (await upload(admin, examples_csv())).status_code == 202
        assert (await finished(admin, set()))["state"] == "done"
        ranked = await classifier.classify(world.org_id, "how much is a euro", "en")
        assert ranked[0].intent == "exchange_rate"

        # New examples: exchange_rate is gone, a fourth intent comes.
        renamed = {k: v for k, v in PHRASES.items() if k != "exchange_rate"}
        renamed["lost_card"] = {
            lang: [f"{t} !" for t in texts] for lang, texts in PHRASES["exchange_rate"].items()
        }
        assert (await upload(admin, examples_csv(renamed))).status_code == 202
        while True:  # while it trains, the bot still answers with the old model
            state = (await admin.get(f"{TRAININGS}/latest")).json()["state"]
            if state in {"done", "failed"}:
                break
            ranked = await classifier.classify(world.org_id, "how much is a euro", "en")
            assert ranked[0].intent == "exchange_rate"
            await asyncio.sleep(0.2)
        assert state == "done"
        ranked = await classifier.classify(world.org_id, "how much is a euro", "en")
        assert ranked[0].intent == "lost_card"  # the new model, noticed without a restart
    finally:
        await admin.aclose()


async def test_a_second_organisation_waits_its_turn_and_a_failure_says_why(
    tmp_path: Path,
) -> None:
    """The trainer alone (no database): one training at a time on the node, the next one
    "queued" meanwhile; a set it cannot learn from fails with the engine's reason."""
    trainer = IntentTrainer(tmp_path / "intents", embeddings="none")
    first = trainer.do_start(
        Principal("a-1", "org-1", "admin", "Ana"), parse_examples(examples_csv())
    )
    gibberish = b"text,category\n!!!,a\n???,a\n...,b\n---,b\n"
    second = trainer.do_start(Principal("a-2", "org-2", "admin", "Bo"), parse_examples(gibberish))
    try:
        await asyncio.sleep(0.5)
        assert first.state in {"training", "evaluating"}
        assert second.state == "queued"
        await eventually(lambda: _settled(second), timeout=120)
        assert first.state == "done" and first.evaluation is not None
        assert second.state == "failed"
        assert second.reason is not None and "cannot learn from these examples" in second.reason
        assert trainer.model("org-1") is not None and trainer.model("org-2") is None
    finally:
        await trainer.stop()
    with pytest.raises(Conflict, match="THREADLINE_INTENT_MODELS_DIR"):
        IntentTrainer(None).do_start(Principal("a-1", "org-1", "admin", "Ana"), [])


async def _settled(job: Training) -> bool:
    return job.state in {"done", "failed"}
