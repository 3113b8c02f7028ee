"""`threadline demo` builds the demo bank's intent model once, then loads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_intents_engine import examples, write_csv
from threadline.demo import ensure_demo_intents
from threadline.intents.engine import TRAINING_STEPS, IntentModel


def test_it_is_trained_once_with_progress_then_loaded(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", examples(per_phrase=1, seed=11))
    steps: list[str] = []
    note = ensure_demo_intents(tmp_path / "model", tmp_path / "train.csv", steps.append)
    assert "trained on 60 examples, 4 intents" in note
    assert steps == list(TRAINING_STEPS)
    assert IntentModel.load(tmp_path / "model").predict(["I lost my card"])[0].intent == (
        "card_lost"
    )
    steps.clear()
    note = ensure_demo_intents(tmp_path / "model", tmp_path / "train.csv", steps.append)
    assert note.startswith("intent model present: 4 intents") and steps == []


def test_without_the_data_set_it_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the candidates are relative: none is there
    note = ensure_demo_intents(tmp_path / "model")
    assert "not built" in note and "threadline intents train" in note
    assert not (tmp_path / "model").exists()
