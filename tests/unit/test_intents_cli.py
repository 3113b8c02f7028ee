"""`threadline intents train|predict|evaluate` through Typer's CliRunner on an app built with
``register``: the round trip, and bad input as a message and exit code 2, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.unit.test_intents_engine import examples, write_csv
from threadline.intents.cli import register


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so that `intents` is a sub-command as in cli.py
        """Placeholder."""

    return app


def run(app: typer.Typer, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["intents", *args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_train_predict_evaluate_round_trip(app: typer.Typer, tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", examples(per_phrase=3, seed=5))
    write_csv(tmp_path / "test.csv", examples(per_phrase=1, seed=6))
    model = tmp_path / "model"
    code, _, err = run(
        app, "train", "--data", str(tmp_path / "train.csv"), "--out", str(model),
        "--embeddings", "none",
    )  # fmt: skip
    assert code == 0, err
    assert "trained on 180 examples, 4 intents" in err

    texts = ["send money to my landlord", "πότε κλείνετε αύριο", "perdí mi tarjeta", "saldo"]
    code, out, err = run(app, "predict", "--model", str(model), stdin="\n".join(texts) + "\n")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(texts)
    assert [line["intent"] for line in lines[:3]] == ["transfer", "opening_hours", "card_lost"]
    for line in lines:
        assert 0.0 < line["confidence"] <= 1.0
        assert isinstance(line["clarify"], bool)
        assert len(line["alternatives"]) == 2

    code, out, err = run(
        app, "evaluate", "--model", str(model), "--data", str(tmp_path / "test.csv")
    )
    assert code == 0, err
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["examples"] == 60
    assert figures["accuracy"] > 0.9
    assert 0.0 <= figures["macro_f1"] <= 1.0
    assert figures["ece"] <= figures["ece_uncalibrated"]
    assert sum(row["count"] for row in figures["reliability"]) == 60
    assert "reliability" in out and "macro-F1" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("text,label\nhello,greet\n", "missing column category"),
        ("text,category\n", "no examples"),
        ("text,category\nhello,greet\nhi,greet\n", "only one category"),
        ("text,category\nhello,\nbye,farewell\n", "line 2: empty category"),
    ],
)
def test_bad_csv_is_a_message_and_exit_code(
    app: typer.Typer, tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "bad.csv").write_text(content, encoding="utf-8")
    code, out, err = run(
        app, "train", "--data", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "m"),
        "--embeddings", "none",
    )  # fmt: skip
    assert code == 2
    assert message in " ".join(err.split())
    assert "Traceback" not in out + err
    assert not (tmp_path / "m").exists()


def test_missing_file_and_missing_model_are_messages(app: typer.Typer, tmp_path: Path) -> None:
    code, _, err = run(app, "train", "--data", str(tmp_path / "nope.csv"), "--out", "m")
    assert code == 2 and "no such file" in err
    code, _, err = run(app, "predict", "--model", str(tmp_path), stdin="hello\n")
    assert code == 2 and "is not an intents model" in " ".join(err.split())
