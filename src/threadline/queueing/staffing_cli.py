"""`threadline staffing`: agents needed for a service-level target, or figures for a given staff.

Mounted on the main CLI by ``register(app)``; the maths is :mod:`threadline.queueing.erlang`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from threadline.queueing.erlang import Performance, fewest_agents, offered_load, performance

_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[smh]?)")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds from "90" (seconds), "180s", "30m", "1.5h"; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use e.g. 90, 180s, 30m or 1h")
    return float(match["number"]) * _UNIT_S[match["unit"]]


def staffing(
    arrivals: Annotated[float, typer.Option(help="contacts arriving per interval")],
    interval: Annotated[str, typer.Option(help="length of the interval, e.g. 30m")],
    aht: Annotated[str, typer.Option(help="average handle time, e.g. 180s")],
    answer_within: Annotated[str, typer.Option(help="service-level threshold, e.g. 20s")],
    patience: Annotated[
        str | None, typer.Option(help="mean patience, e.g. 300s: Erlang A (abandonment)")
    ] = None,
    target: Annotated[
        float | None, typer.Option(help="service level to reach, e.g. 0.8 (80%)")
    ] = None,
    agents: Annotated[int | None, typer.Option(help="evaluate this many agents instead")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Recommend agents for a service level (Erlang C, or Erlang A with --patience)."""
    if (target is None) == (agents is None):
        raise typer.BadParameter("give exactly one of --target or --agents")
    interval_s = _duration(interval, "--interval")
    aht_s = _duration(aht, "--aht")
    within_s = _duration(answer_within, "--answer-within")
    patience_s = None if patience is None else _duration(patience, "--patience")
    try:
        load = offered_load(arrivals, interval_s, aht_s)
        if target is not None:
            result = fewest_agents(load, aht_s, within_s, target, patience_s=patience_s)
        else:
            result = performance(agents or 0, load, aht_s, within_s, patience_s)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if json_out:
        typer.echo(json.dumps(_as_json(result)))
    else:
        _print_table(result, load, recommended=agents is None)


def register(app: typer.Typer) -> None:
    """Add the ``staffing`` command to ``app``."""
    app.command("staffing")(staffing)


def _duration(text: str, option: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc
    if seconds <= 0 and option != "--answer-within":
        raise typer.BadParameter("must be longer than zero", param_hint=option)
    return seconds


def _as_json(result: Performance) -> dict[str, float | int | None]:
    """The result's figures; a non-finite ASA (unstable queue) becomes null."""
    asa = result.asa_s if math.isfinite(result.asa_s) else None
    return {
        "agents": result.agents,
        "p_wait": result.p_wait,
        "service_level": result.service_level,
        "asa_s": asa,
        "p_abandon": result.p_abandon,
        "occupancy": result.occupancy,
    }


def _print_table(result: Performance, load: float, *, recommended: bool) -> None:
    model = "Erlang C" if result.p_abandon is None else "Erlang A"
    table = Table(title=f"{model} staffing", caption=f"offered load {load:.2f} Erlangs")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("recommended agents" if recommended else "agents", str(result.agents))
    table.add_row("probability of waiting (p_wait)", f"{result.p_wait:.1%}")
    table.add_row("service level (service_level)", f"{result.service_level:.1%}")
    asa = f"{result.asa_s:.1f} s" if math.isfinite(result.asa_s) else "∞ (queue unstable)"
    table.add_row("average speed of answer (asa_s)", asa)
    if result.p_abandon is not None:
        table.add_row("abandonment (p_abandon)", f"{result.p_abandon:.1%}")
    table.add_row("occupancy", f"{result.occupancy:.1%}")
    Console().print(table)
