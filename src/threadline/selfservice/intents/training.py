"""One training of an organisation's intent model, as run away from the web server (a child
process: it is CPU-bound for tens of seconds).

The model the bot will use is trained on every example. Its held-out evaluation comes from a
second model trained without a stratified fifth of the examples and scored on that fifth:
numbers measured on text the model never saw, while no example is lost to the real model.
The sentence embeddings are computed once for both.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from threadline.intents.engine import (
    TRAINING_STEPS,
    Example,
    IntentDataError,
    IntentModel,
    Settings,
    cascade_for,
    check_rows,
    embedder_for,
    softmax,
    train,
)

EVALUATION = "evaluation.json"
HELD_OUT_FRACTION = 0.2
MIN_TO_HOLD_OUT = 3  # a category with fewer examples is all kept for training

# Where each step puts the progress bar (0-1): embedding and the final model are most of it.
STEP_PROGRESS = {
    TRAINING_STEPS[0]: 0.05,
    TRAINING_STEPS[1]: 0.35,
    TRAINING_STEPS[2]: 0.5,
    "held-out model": 0.65,
    "scoring the held-out part": 0.9,
    "writing the model": 0.95,
}

Report = Callable[[str, str, float], None]  # (state, step, progress)


def held_out_split(
    categories: Sequence[str], fraction: float = HELD_OUT_FRACTION, seed: int = 0
) -> tuple[list[int], list[int]]:
    """(kept, held out) row indices: about `fraction` of each category's examples held out,
    at least one, only from categories with at least MIN_TO_HOLD_OUT examples (so every
    category is still learnt from)."""
    by_category: dict[str, list[int]] = defaultdict(list)
    for i, category in enumerate(categories):
        by_category[category].append(i)
    rng = np.random.default_rng(seed)
    kept: list[int] = []
    held: list[int] = []
    for indices in by_category.values():
        if len(indices) < MIN_TO_HOLD_OUT:
            kept.extend(indices)
            continue
        shuffled = [int(i) for i in rng.permutation(indices)]
        n = max(1, round(len(shuffled) * fraction))
        held.extend(shuffled[:n])
        kept.extend(shuffled[n:])
    return sorted(kept), sorted(held)


def per_intent_f1(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """F1 of each category seen in `truth` or `predicted`."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for t, p in zip(truth, predicted, strict=True):
        if t == p:
            tp[t] += 1
        else:
            fp[p] += 1
            fn[t] += 1
    names = set(truth) | set(predicted)
    return {n: 2 * tp[n] / (2 * tp[n] + fp[n] + fn[n]) if tp[n] else 0.0 for n in names}


def held_out_evaluation(
    model: IntentModel,
    held: Sequence[Example],
    embedded: Any = None,
    minilm: Any = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1 (over the held-out categories), the share the bot would answer
    (confidence at or above the threshold) and each category's F1, on `held`."""
    texts = [r.text for r in held]
    truth = [r.category for r in held]
    p = softmax(model.scores(texts, embedded, minilm), model.temperature)
    best = p.argmax(axis=1)
    predicted = [model.classes[int(i)] for i in best]
    confidence = p[np.arange(len(held)), best]
    f1 = per_intent_f1(truth, predicted)
    in_truth = sorted(set(truth))
    return {
        "held_out": len(held),
        "accuracy": round(float(np.mean(np.array(truth) == np.array(predicted))), 4),
        "macro_f1": round(float(np.mean([f1[c] for c in in_truth])), 4),
        "answered": round(float(np.mean(confidence >= model.threshold)), 4),
        "threshold": model.threshold,
        "f1": {c: round(f1[c], 4) for c in in_truth},
    }


def train_and_evaluate(
    rows: Sequence[Example],
    out: Path,
    settings: Settings,
    report: Report,
    about: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train the model on every row, evaluate a twin trained without a held-out part, write
    the model and its evaluation (``evaluation.json``) to `out`; returns the evaluation."""
    started = time.perf_counter()
    check_rows(rows)
    texts = [r.text for r in rows]
    embedder = embedder_for(settings.embeddings)
    report("training", TRAINING_STEPS[0], STEP_PROGRESS[TRAINING_STEPS[0]])
    embedded = embedder.encode(texts) if embedder is not None else None
    second = cascade_for(settings)  # the MiniLM vectors too, once for both models
    minilm = second.encode(texts) if second is not None else None

    def step(name: str) -> None:
        report("training", name, STEP_PROGRESS.get(name, 0.5))

    model = train(rows, settings, progress=step, embedded=embedded, minilm=minilm)
    kept, held = held_out_split([r.category for r in rows], seed=settings.seed)
    evaluation: dict[str, Any] = {"held_out": 0}
    if held:
        report("evaluating", "held-out model", STEP_PROGRESS["held-out model"])
        twin = train(
            [rows[i] for i in kept],
            settings,
            embedded=embedded[kept] if embedded is not None else None,
            minilm=minilm[kept] if minilm is not None else None,
        )
        scoring = "scoring the held-out part"
        report("evaluating", scoring, STEP_PROGRESS[scoring])
        evaluation = held_out_evaluation(
            twin,
            [rows[i] for i in held],
            embedded[held] if embedded is not None else None,
            minilm[held] if minilm is not None else None,
        )
    report("evaluating", "writing the model", STEP_PROGRESS["writing the model"])
    counts = Counter(r.category for r in rows)
    f1 = evaluation.pop("f1", {})
    summary = {
        **(about or {}),
        "examples": len(rows),
        "intents": len(model.classes),
        **evaluation,
        "seconds": round(time.perf_counter() - started, 1),
        "per_intent": [
            {"intent": name, "examples": counts[name], "f1": f1.get(name)} for name in model.classes
        ],
    }
    model.save(out)
    (out / EVALUATION).write_text(json.dumps(summary, ensure_ascii=False, indent=1), "utf-8")
    return summary


def run(
    rows: list[tuple[str, str]],
    out: str,
    embeddings: str,
    about: dict[str, Any],
    conn: Connection,
) -> None:
    """The child process's entry point: train, telling the parent each step over `conn`
    (``("progress", state, step, fraction)``, then ``("done", evaluation)`` or
    ``("failed", reason)``)."""
    os.nice(5)  # the web server and the bot come first on a shared machine
    examples = [Example(text, category) for text, category in rows]

    def report(state: str, step: str, progress: float) -> None:
        conn.send(("progress", state, step, progress))

    try:
        summary = train_and_evaluate(
            examples, Path(out), Settings(embeddings=embeddings), report, about
        )
        conn.send(("done", summary))
    except IntentDataError as exc:
        conn.send(("failed", str(exc)))
    except Exception as exc:
        conn.send(("failed", f"training failed: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()
