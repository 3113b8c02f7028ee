"""`threadline intents train|predict|evaluate`: the classifier from the command line.

Mounted on the main CLI by ``register(app)``. Bad input is a one-line message and exit code 2,
never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from threadline.intents.engine import IntentModel

# The engine (scikit-learn, SciPy) is imported by the commands, not here: `threadline serve`
# and the other commands should not pay a second for it at start-up.
EMBEDDINGS = ("use", "none")
DEFAULT_THRESHOLD = 0.5

intents_app = typer.Typer(help="Intent classifier: train, predict, evaluate.", no_args_is_help=True)
_err = Console(stderr=True)
BATCH = 256  # lines per predict call: amortises the embedding batch, keeps memory flat


def _fail(message: str) -> typer.Exit:
    # soft_wrap: a long path must not be cut by a line break (scripts grep these messages)
    _err.print(f"[red]error:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _load(model: Path) -> IntentModel:
    from threadline.intents.engine import IntentModel, ModelDirError

    try:
        return IntentModel.load(model)
    except ModelDirError as exc:
        raise _fail(str(exc)) from None


@intents_app.command("train")
def train_command(
    data: Annotated[Path, typer.Option(help="CSV with columns text,category")],
    out: Annotated[Path, typer.Option(help="directory to write the model to")],
    embeddings: Annotated[
        str, typer.Option(help=f"sentence embeddings: {' or '.join(EMBEDDINGS)}")
    ] = "use",
    threshold: Annotated[
        float, typer.Option(help="below this confidence the bot asks to clarify")
    ] = DEFAULT_THRESHOLD,
) -> None:
    """Train a calibrated classifier from labelled examples."""
    if embeddings not in EMBEDDINGS:
        raise _fail(f"--embeddings must be one of {', '.join(EMBEDDINGS)}")
    if not 0.0 <= threshold <= 1.0:
        raise _fail("--threshold must be between 0 and 1")
    from threadline.intents.engine import IntentDataError, Settings, read_csv, train

    try:
        rows = read_csv(data)
        started = time.perf_counter()
        model = train(rows, Settings(embeddings=embeddings, threshold=threshold))
    except IntentDataError as exc:
        raise _fail(str(exc)) from None
    elapsed = time.perf_counter() - started
    model.save(out)
    _err.print(
        f"trained on {len(rows)} examples, {len(model.classes)} intents in {elapsed:.1f} s "
        f"(temperature {model.temperature:.3f}) -> {out}",
        highlight=False,
        soft_wrap=True,
    )


@intents_app.command("predict")
def predict_command(
    model: Annotated[Path, typer.Option(help="model directory written by train")],
    top: Annotated[int, typer.Option(help="alternatives offered, best included")] = 3,
    threshold: Annotated[
        float | None, typer.Option(help="override the model's clarify threshold")
    ] = None,
) -> None:
    """One text per line on stdin; one JSON object per line on stdout, in input order."""
    loaded = _load(model)
    batch: list[str] = []
    # A file or pipe is read in batches (the embedding is much faster per batch); someone
    # typing at a terminal gets each answer at once.
    size = 1 if sys.stdin.isatty() else BATCH

    def flush() -> None:
        for prediction in loaded.predict(batch, top_k=top, threshold=threshold):
            sys.stdout.write(json.dumps(prediction.as_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        batch.clear()

    for line in sys.stdin:
        batch.append(line.rstrip("\r\n"))
        if len(batch) >= size:
            flush()
    if batch:
        flush()


@intents_app.command("evaluate")
def evaluate_command(
    model: Annotated[Path, typer.Option(help="model directory written by train")],
    data: Annotated[Path, typer.Option(help="labelled CSV with columns text,category")],
) -> None:
    """Accuracy, macro-F1 and calibration (ECE, reliability table); the last line is JSON."""
    from threadline.intents.engine import IntentDataError, evaluate, read_csv

    loaded = _load(model)
    try:
        result = evaluate(loaded, read_csv(data))
    except IntentDataError as exc:
        raise _fail(str(exc)) from None
    out = Console()
    table = Table(title="reliability (confidence bins)")
    for column in ("bin", "count", "mean confidence", "accuracy"):
        table.add_column(column, justify="right")
    for row in result.reliability:
        table.add_row(
            f"{row['low']:.1f}-{row['high']:.1f}",
            str(int(row["count"])),
            f"{row['confidence']:.3f}",
            f"{row['accuracy']:.3f}",
        )
    out.print(table)
    out.print(
        f"accuracy {result.accuracy:.4f}  macro-F1 {result.macro_f1:.4f}  "
        f"ECE {result.ece_calibrated:.4f} (uncalibrated {result.ece_raw:.4f})  "
        f"answered at >= {result.threshold:.2f}: {result.answered:.1%} "
        f"with accuracy {result.accuracy_answered:.4f}",
        highlight=False,
    )
    if result.unknown_categories:
        out.print(
            f"categories the model never saw: {', '.join(result.unknown_categories)}",
            highlight=False,
        )
    sys.stdout.write(json.dumps(result.as_json()) + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(intents_app, name="intents")
