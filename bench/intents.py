#!/usr/bin/env python
"""Intent classifier on BANKING77: held-out accuracy, calibration, training time, predictions/s.

A stratified 20 % of the training CSV (``--seed``, 0 by default) is held out; each
configuration is trained on the other 80 % and scored on it, in one run:

* ``baseline``: TF-IDF word 1-2 grams + character 2-5 grams and a linear SVM, uncalibrated
  (the classic ~91 %-on-test baseline), timed the same way;
* ``none``: the engine without sentence embeddings (n-grams, SVM, temperature-calibrated);
* ``use``: the engine with Google USE multilingual v3 embeddings (the default: the SVM
  mixed with a neighbour vote, and the MiniLM cascade for the least sure fifth when
  onnxruntime is installed);
* ``use-v1``: the engine as it was before the neighbour vote and the cascade (format 1's
  settings: one SVM, C 1, USE x2), to compare in the same run.

``cascaded`` is the share of held-out texts the cascade's second stage decided;
``predictions_per_s_2cores`` is two processes (one per core) each predicting half of the
held-out texts at once, the whole path, after loading the model each trained and saved.

Predictions/s is the whole path `predict` takes (normalise, n-grams, embedding, margins,
softmax, top-3) over the held-out texts in batches of 256, after one warm-up call; the
single-message latency (p50, p95) is 300 held-out texts predicted one call each, as the bot
does. Wall-clock figures depend on what else the machine runs (``load_avg_1m``); the CPU-time
ones (``train_cpu_s``, ``predictions_per_cpu_s``: this process's CPU seconds, BLAS held to
one thread by the encoder) are what the work itself costs. The training time includes
embedding the training texts. The last line is one JSON object.

Seed 0's held-out part was looked at once, to pick the embedding weight (1, 2 or 3); report
``--seed 1`` as well, whose held-out part chose nothing. ``--seeds 1,2,3`` runs each seed in
turn and ends with the mean and spread of each configuration's accuracy (one split's figure
moves by a few tenths of a point from seed to seed: compare settings on several).
``--c`` and ``--embedding-weight`` train the engine with other settings (the experiments in
docs/intents-experiments.md).

    python bench/intents.py [--data ../shared/data/banking77/train.csv]
                            [--configs baseline,none,use] [--seed 0 | --seeds 1,2,3]
                            [--c 1.0] [--embedding-weight 2.0]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

from threadline.intents.engine import (
    Example,
    IntentModel,
    Settings,
    evaluate,
    macro_f1,
    read_csv,
    train,
)

# shared/ sits beside the repository; a git worktree elsewhere passes --data
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/banking77/train.csv"


# the engine before the neighbour vote and the MiniLM cascade (format 1's only settings)
V1_SETTINGS = Settings(embeddings="use", knn_weight=0.0, cascade="none")


def split(rows: list[Example], seed: int) -> tuple[list[Example], list[Example]]:
    labels = [r.category for r in rows]
    fit_idx, held_idx = train_test_split(
        np.arange(len(rows)), test_size=0.2, stratify=labels, random_state=seed
    )
    return [rows[i] for i in fit_idx], [rows[i] for i in held_idx]


def baseline(fit: list[Example], held: list[Example]) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        ),
        LinearSVC(C=1.0),
    ).fit([r.text for r in fit], [r.category for r in fit])
    train_s, train_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    texts = [r.text for r in held]
    model.predict(texts[:8])
    started, cpu = time.perf_counter(), time.process_time()
    predicted = [
        str(p) for b in range(0, len(texts), 256) for p in model.predict(texts[b : b + 256])
    ]
    predict_s, predict_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    truth = [r.category for r in held]
    return {
        "accuracy": float(np.mean([a == b for a, b in zip(predicted, truth, strict=True)])),
        "macro_f1": macro_f1(truth, predicted, sorted(set(truth) | set(predicted))),
        "train_s": train_s,
        "train_cpu_s": train_cpu_s,
        "predictions_per_s": len(texts) / predict_s,
        "predictions_per_cpu_s": len(texts) / predict_cpu_s,
    }


def _predict_half(directory: str, texts: list[str], ready: Any, go: Any, out: Any) -> None:
    model = IntentModel.load(Path(directory))
    model.predict(texts[:8])
    ready.set()
    go.wait()
    started = time.perf_counter()
    for b in range(0, len(texts), 256):
        model.predict(texts[b : b + 256])
    out.put(time.perf_counter() - started)


def two_cores(model: IntentModel, texts: list[str]) -> float:
    """Predictions/s of two processes, one per core, each with half of the texts."""
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp))
        go, out = ctx.Event(), ctx.Queue()
        halves = [texts[: len(texts) // 2], texts[len(texts) // 2 :]]
        readies = [ctx.Event() for _ in halves]
        procs = [
            ctx.Process(target=_predict_half, args=(tmp, half, ready, go, out))
            for half, ready in zip(halves, readies, strict=True)
        ]
        for proc in procs:
            proc.start()
        for ready in readies:
            ready.wait()
        go.set()
        slowest = max(out.get() for _ in procs)  # both started at `go`
        for proc in procs:
            proc.join()
    return len(texts) / slowest


def engine(fit: list[Example], held: list[Example], settings: Settings) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    model = train(fit, settings)
    train_s, train_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    texts = [r.text for r in held]
    model.predict(texts[:8])
    started, cpu = time.perf_counter(), time.process_time()
    cascaded = 0
    for b in range(0, len(texts), 256):
        model.predict(texts[b : b + 256])
        cascaded += model.last_cascaded
    predict_s, predict_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    single_ms = []
    for text in texts[:300]:  # the bot path: one message, one call
        started = time.perf_counter()
        model.predict([text])
        single_ms.append((time.perf_counter() - started) * 1000)
    result = evaluate(model, held)
    return {
        "accuracy": result.accuracy,
        "macro_f1": result.macro_f1,
        "ece": result.ece_calibrated,
        "ece_uncalibrated": result.ece_raw,
        "answered_at_0.5": result.answered,
        "accuracy_answered": result.accuracy_answered,
        "temperature": model.temperature,
        "train_s": train_s,
        "train_cpu_s": train_cpu_s,
        "predictions_per_s": len(texts) / predict_s,
        "predictions_per_cpu_s": len(texts) / predict_cpu_s,
        "predictions_per_s_2cores": two_cores(model, texts),
        "cascaded": cascaded / len(texts),
        "single_p50_ms": float(np.percentile(single_ms, 50)),
        "single_p95_ms": float(np.percentile(single_ms, 95)),
    }


def run(
    rows: list[Example], seed: int, configs: list[str], c: float, weight: float
) -> dict[str, object]:
    fit, held = split(rows, seed)
    print(f"{len(rows)} examples: {len(fit)} to train, {len(held)} held out (seed {seed})")
    load_before = os.getloadavg()
    results: dict[str, dict[str, float]] = {}
    for config in configs:
        if config == "baseline":
            results[config] = baseline(fit, held)
        else:
            settings = (
                V1_SETTINGS
                if config == "use-v1"
                else Settings(embeddings=config, c=c, embedding_weight=weight)
            )
            results[config] = engine(fit, held, settings)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in results[config].items())
        print(f"{config:9} {shown}", flush=True)
    base = results.get("baseline")
    summary: dict[str, object] = {
        "held_out": len(held),
        "seed": seed,
        "c": c,
        "embedding_weight": weight,
        "load_avg_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cores": os.cpu_count(),
    }
    for config, figures in results.items():
        entry = {k: round(v, 4) for k, v in figures.items()}
        if base is not None and config != "baseline":
            entry["accuracy_vs_baseline"] = round(figures["accuracy"] - base["accuracy"], 4)
            entry["train_time_ratio"] = round(figures["train_s"] / base["train_s"], 2)
            entry["speed_ratio"] = round(
                figures["predictions_per_s"] / base["predictions_per_s"], 3
            )
        summary[config] = entry
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--configs", default="baseline,none,use")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default="", help="comma-separated; overrides --seed")
    parser.add_argument("--c", type=float, default=Settings().c)
    parser.add_argument("--embedding-weight", type=float, default=Settings().embedding_weight)
    args = parser.parse_args()
    rows = read_csv(args.data)
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()] or [args.seed]
    configs = args.configs.split(",")
    summaries = []
    for seed in seeds:
        summary = run(rows, seed, configs, args.c, args.embedding_weight)
        summaries.append(summary)
        if len(seeds) == 1:
            print(json.dumps(summary))
    if len(seeds) > 1:
        overall: dict[str, object] = {"seeds": seeds, "per_seed": summaries}
        for config in configs:
            accuracy = [float(s[config]["accuracy"]) for s in summaries]  # type: ignore[index]
            overall[config] = {
                "accuracy_mean": round(float(np.mean(accuracy)), 4),
                "accuracy_min": round(min(accuracy), 4),
                "accuracy_max": round(max(accuracy), 4),
            }
            print(f"{config:9} accuracy {np.mean(accuracy):.4f} over seeds {seeds}: {accuracy}")
        print(json.dumps(overall))


if __name__ == "__main__":
    main()
