"""Format 2: the neighbour vote and the MiniLM cascade. MiniLM is English only, so the
cascade must not cost the other languages anything; a format 1 model still loads and gives
the answers it gave."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_intents_engine import PHRASES, UNSEEN, examples
from threadline.intents.encoder import MiniLmEncoder, WordPiece, minilm_available
from threadline.intents.engine import (
    BANK,
    FORMAT,
    MANIFEST,
    Example,
    IntentModel,
    Settings,
    evaluate,
    top_k,
    train,
)

FORMAT1 = Path(__file__).parent / "data" / "intents_format1"

# Messages worded unlike any training phrase, per language (one per intent).
UNSEEN_BY_LANGUAGE = {
    "en": {
        "somebody took my card from my bag": "card_lost",
        "how much is left in my savings": "balance",
        "please wire 20 pounds to John": "transfer",
        "are you open on Sunday morning": "opening_hours",
    },
    "pt": {
        "alguém levou o meu cartão": "card_lost",
        "quanto dinheiro resta na minha conta": "balance",
        "quero mandar dinheiro para a Maria": "transfer",
        "vocês abrem no domingo": "opening_hours",
    },
    "es": {
        "alguien me quitó la tarjeta": "card_lost",
        "cuánto dinero me queda en la cuenta": "balance",
        "quiero mandar dinero a Maria": "transfer",
        "abren ustedes el domingo": "opening_hours",
    },
    "ru": {
        "кто-то забрал мою карту": "card_lost",
        "сколько денег осталось на счёте": "balance",
        "хочу отправить деньги маме": "transfer",
        "вы открыты в воскресенье": "opening_hours",
    },
    "el": {
        "κάποιος πήρε την κάρτα μου": "card_lost",
        "πόσα χρήματα μένουν στον λογαριασμό": "balance",
        "θέλω να στείλω χρήματα στη μητέρα μου": "transfer",
        "είστε ανοιχτά την Κυριακή": "opening_hours",
    },
}


@pytest.fixture(scope="module")
def rows() -> list[Example]:
    return examples(per_phrase=2, seed=1)


@pytest.fixture(scope="module")
def cascade(rows: list[Example]) -> IntentModel:
    return train(rows, Settings())


@pytest.fixture(scope="module")
def single(rows: list[Example]) -> IntentModel:
    """The engine before format 2: one SVM, no neighbours, no cascade."""
    return train(rows, Settings(knn_weight=0.0, cascade="none"))


def test_minilm_is_installed_and_the_default_model_is_a_cascade(cascade: IntentModel) -> None:
    assert minilm_available()
    assert cascade.cascade is not None and math.isfinite(cascade.cascade.cut)
    assert cascade.bank is not None and cascade.bank.minilm is not None
    assert cascade.bank.use.shape == (len(cascade.bank.labels), 512)
    assert cascade.bank.minilm.shape == (len(cascade.bank.labels), 384)
    assert cascade.stats["cascade_cut"] == cascade.cascade.cut


@pytest.mark.parametrize("language", sorted(UNSEEN_BY_LANGUAGE))
def test_the_cascade_costs_no_language_anything(
    cascade: IntentModel, single: IntentModel, language: str
) -> None:
    """Every text sent to the second stage (the cut raised past every gap), in each of the
    five languages: it gets at least as many right as the single-stage engine."""
    texts = list(UNSEEN_BY_LANGUAGE[language])
    truth = list(UNSEEN_BY_LANGUAGE[language].values())
    assert cascade.cascade is not None
    cut = cascade.cascade.cut
    try:
        cascade.cascade.cut = math.inf
        through_second = [p.intent for p in cascade.predict(texts)]
        assert cascade.last_cascaded == len(texts)
    finally:
        cascade.cascade.cut = cut
    before = [p.intent for p in single.predict(texts)]
    right_after = sum(a == b for a, b in zip(through_second, truth, strict=True))
    right_before = sum(a == b for a, b in zip(before, truth, strict=True))
    assert right_after >= right_before
    assert right_after >= len(texts) - 1, (language, through_second)
    # and the model as trained (cascade on its own share) too
    as_trained = [p.intent for p in cascade.predict(texts)]
    assert sum(a == b for a, b in zip(as_trained, truth, strict=True)) >= right_before


def test_held_out_set_in_five_languages(cascade: IntentModel) -> None:
    held = examples(per_phrase=1, seed=99)
    result = evaluate(cascade, held)
    assert result.accuracy > 0.95
    assert result.ece_calibrated < 0.1
    assert len(PHRASES) == len(cascade.classes)


def test_a_cascade_saves_and_loads_to_the_same_answers(
    cascade: IntentModel, tmp_path: Path
) -> None:
    cascade.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / MANIFEST).read_text())
    assert manifest["format"] == FORMAT
    assert manifest["settings"]["cascade"] == "minilm"
    with np.load(tmp_path / "m" / BANK, allow_pickle=False) as bank:
        assert bank["use"].dtype == np.float16
        assert bank["minilm"].shape[1] == 384
    loaded = IntentModel.load(tmp_path / "m")
    assert loaded.cascade is not None and loaded.cascade.cut == cascade.cascade.cut  # type: ignore[union-attr]
    texts = list(UNSEEN)
    assert np.allclose(loaded.probabilities(texts), cascade.probabilities(texts), atol=5e-3)
    assert [p.intent for p in loaded.predict(texts)] == [p.intent for p in cascade.predict(texts)]


def test_a_format_1_model_loads_and_answers_as_before() -> None:
    """Saved by the engine before format 2 (USE, one SVM): it reads it, with neither the
    neighbour vote nor the cascade, and gives the probabilities it gave then."""
    model = IntentModel.load(FORMAT1)
    assert model.bank is None and model.cascade is None
    assert model.settings.cascade == "none" and model.settings.knn_weight == 0.0
    expected = json.loads((FORMAT1 / "expected.json").read_text(encoding="utf-8"))
    p = model.probabilities(expected["texts"])
    assert np.allclose(p, np.array(expected["probabilities"]), atol=2e-3)


def test_without_embeddings_there_is_neither_bank_nor_cascade(rows: list[Example]) -> None:
    model = train(rows[:60], Settings(embeddings="none"))
    assert model.bank is None and model.cascade is None
    assert model.settings.cascade == "none"


def test_wordpiece_matches_bert_base_uncased() -> None:
    """Ids of bert-base-uncased's vocabulary, as its reference tokenizer gives them."""
    wp = WordPiece()
    assert wp.tokens("Hello, world!") == [101, 7592, 1010, 2088, 999, 102]
    assert wp.tokens("My top-up failed?!") == [101, 2026, 2327, 1011, 2039, 3478, 1029, 999, 102]
    # accents stripped after lower-casing, as BertNormalizer does with lowercase=True
    assert wp.tokens("CAFÉ") == wp.tokens("cafe")
    assert len(wp.tokens("card " * 500)) == 128


def test_minilm_vectors_are_unit_length_and_order_free() -> None:
    encoder = MiniLmEncoder()
    texts = ["how do I change my PIN", "where is my card", "how do I change my PIN", ""]
    vectors = encoder.encode(texts)
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2])
    again = encoder.encode([texts[1]])
    assert np.allclose(again[0], vectors[1], atol=1e-4)
    assert float(vectors[0] @ vectors[1]) < 0.9


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 6),
    width=st.integers(1, 3000),
    k=st.integers(1, 12),
    levels=st.sampled_from([3, 50, 0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_top_k_finds_the_k_largest_of_every_row(
    rows: int, width: int, k: int, levels: int, seed: int
) -> None:
    """The neighbour vote's selection, blocks or not, ties (few distinct values) or not."""
    rng = np.random.default_rng(seed)
    values = rng.random((rows, width), dtype=np.float32)
    if levels:
        values = np.floor(values * levels).astype(np.float32)
    got = np.sort(np.take_along_axis(values, top_k(values, k), axis=1), axis=1)
    expected = np.sort(values, axis=1)[:, -min(k, width) :]
    assert np.array_equal(got, expected)
