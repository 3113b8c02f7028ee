"""A training as the admin page runs it (in-process here: the child process only calls
this), the held-out split, and how a new model replaces the old on disk while the bot's
classifier keeps answering and then notices it."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.intents.engine import Example, IntentModel, Settings
from threadline.selfservice.bot.classifier import ModelClassifier
from threadline.selfservice.intents import storage
from threadline.selfservice.intents.training import (
    EVALUATION,
    MIN_TO_HOLD_OUT,
    held_out_split,
    per_intent_f1,
    train_and_evaluate,
)

ROWS = [
    Example(text, category)
    for category, texts in {
        "card_arrival": [
            "my card has not arrived",
            "where is my new card",
            "card still not delivered",
            "the card never came",
            "waiting for my card",
        ],
        "change_pin": [
            "change my pin",
            "I want a new pin",
            "how to reset the pin",
            "set a different pin",
            "pin change please",
        ],
    }.items()
    for text in texts
]
NO_EMBEDDINGS = Settings(embeddings="none")


@given(st.lists(st.sampled_from("abcdef"), max_size=60), st.integers(0, 5))
def test_the_split_keeps_every_category_and_each_row_once(labels: list[str], seed: int) -> None:
    kept, held = held_out_split(labels, seed=seed)
    assert sorted(kept + held) == list(range(len(labels)))
    counts = Counter(labels)
    kept_counts = Counter(labels[i] for i in kept)
    for category, n in counts.items():
        assert kept_counts[category] >= 1  # still learnt from
        if n < MIN_TO_HOLD_OUT:
            assert kept_counts[category] == n
        else:
            assert 1 <= n - kept_counts[category] <= max(1, round(n * 0.2))


def test_per_intent_f1() -> None:
    f1 = per_intent_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert f1["a"] == pytest.approx(2 / 3)
    assert f1["b"] == pytest.approx(0.8)
    assert per_intent_f1(["a"], ["c"]) == {"a": 0.0, "c": 0.0}


def test_a_training_writes_the_model_and_its_evaluation(tmp_path: Path) -> None:
    steps: list[tuple[str, str, float]] = []
    out = tmp_path / "model"
    summary = train_and_evaluate(
        ROWS, out, NO_EMBEDDINGS, lambda *step: steps.append(step), {"trained_by": "Ana"}
    )
    assert steps[0][0] == "training" and steps[-1][0] == "evaluating"
    assert [p for _, _, p in steps] == sorted(p for _, _, p in steps)  # the bar only moves on
    assert summary["trained_by"] == "Ana" and summary["examples"] == 10
    assert summary["held_out"] == 2  # one of each intent's five
    assert 0 <= summary["accuracy"] <= 1 and 0 <= summary["answered"] <= 1
    assert [r["intent"] for r in summary["per_intent"]] == ["card_arrival", "change_pin"]
    assert json.loads((out / EVALUATION).read_text("utf-8")) == summary
    assert IntentModel.load(out).classes == ["card_arrival", "change_pin"]


async def test_a_new_model_replaces_the_old_in_one_step(tmp_path: Path) -> None:
    root = tmp_path / "intents"
    classifier = ModelClassifier(root)
    assert await classifier.model_for("org-1") is None

    first = storage.staging_dir(root, "org-1")
    train_and_evaluate(ROWS, first, NO_EMBEDDINGS, lambda *_: None)
    assert await classifier.model_for("org-1") is None  # staged: not in use yet
    storage.publish(root, "org-1", first)
    old = await classifier.model_for("org-1")
    assert old is not None and old.classes == ["card_arrival", "change_pin"]
    assert await classifier.model_for("org-1") is old  # not read again per message
    assert await classifier.model_for("org-2") is None  # another organisation's is apart

    renamed = [Example(r.text, f"{r.category}_v2") for r in ROWS]
    second = storage.staging_dir(root, "org-1")
    train_and_evaluate(renamed, second, NO_EMBEDDINGS, lambda *_: None)
    assert await classifier.model_for("org-1") is old  # the old one answers meanwhile
    storage.publish(root, "org-1", second)
    new = await classifier.model_for("org-1")
    assert new is not None and new.classes == ["card_arrival_v2", "change_pin_v2"]
    assert (root / "org-1").is_symlink()
    described = storage.describe(root, "org-1")
    assert described is not None and described["source"] == "organisation"
    assert described["examples"] == 10 and described["intents"] == 2

    for _ in range(2):  # older versions are pruned: the one in use and the one before stay
        staged = storage.staging_dir(root, "org-1")
        train_and_evaluate(ROWS, staged, NO_EMBEDDINGS, lambda *_: None)
        storage.publish(root, "org-1", staged)
    versions = [p for p in storage.versions_dir(root, "org-1").iterdir()]
    assert len(versions) == storage.KEEP
    assert (root / "org-1").resolve() in [v.resolve() for v in versions]


async def test_a_model_copied_by_hand_is_kept_when_a_trained_one_replaces_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "intents"
    train_and_evaluate(ROWS, root / "org-1", NO_EMBEDDINGS, lambda *_: None)  # a plain dir
    (root / "default").mkdir()
    staged = storage.staging_dir(root, "org-1")
    train_and_evaluate(ROWS, staged, NO_EMBEDDINGS, lambda *_: None)
    storage.publish(root, "org-1", staged)
    assert (root / "org-1").is_symlink()
    kept = [p.name for p in storage.versions_dir(root, "org-1").iterdir()]
    assert any(name.startswith("manual-") for name in kept)


async def test_an_unreadable_new_model_leaves_the_old_one_answering(tmp_path: Path) -> None:
    root = tmp_path / "intents"
    staged = storage.staging_dir(root, "org-1")
    train_and_evaluate(ROWS, staged, NO_EMBEDDINGS, lambda *_: None)
    storage.publish(root, "org-1", staged)
    classifier = ModelClassifier(root)
    old = await classifier.model_for("org-1")
    assert old is not None
    manifest = root / "org-1" / "manifest.json"
    manifest.write_text("{not json", encoding="utf-8")
    os.utime(manifest, ns=(1, 1))
    assert await classifier.model_for("org-1") is old
