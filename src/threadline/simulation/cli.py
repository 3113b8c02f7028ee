"""`threadline simulate`: a "what if" run of the real routing engine, EWT and callbacks.

One queue of voice contacts and one group of agents, driven by
:func:`threadline.simulation.network.simulate_network`; ``--callbacks both`` runs the same
arrivals with callbacks off and on, side by side.  Prints a table (or one JSON object
with ``--json``) and draws charts: a PNG (matplotlib, Agg) and a self-contained HTML
page (Chart.js inlined, the data as JSON), both readable offline.
Mounted on the main CLI by ``register(app)``.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from threadline.queueing.simulation import sinusoidal_rate
from threadline.queueing.staffing_cli import parse_duration
from threadline.routing.callback_policy import CallbackPolicy, InvalidPolicy, parse_policy

if TYPE_CHECKING:  # the simulation imports the routing and callback services: load it on use
    from threadline.simulation.network import IntervalStats, Network, NetworkResult

CHART_JS = "chart-4.6.1.umd.min.js"
DAY_AMPLITUDE = 0.4  # --rate-profile day: 60% of the mean at opening and closing, 140% mid-day
PREDICTORS = ("blend", "ql", "les", "hol")
_RANGE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})=(\d+)")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_POLICY_OPTIONS = (  # callback-policy field -> the option that set it, for error messages
    ("offer_after_s", "--offer-after"),
    ("max_attempts", "--max-attempts"),
    ("retry_after_s", "--retry-after"),
    ("ring_timeout_s", "--ring-timeout"),
)


class Handle(StrEnum):
    exponential = "exponential"
    lognormal = "lognormal"


class Profile(StrEnum):
    flat = "flat"
    day = "day"


class Callbacks(StrEnum):
    off = "off"
    on = "on"
    both = "both"


@dataclass(frozen=True, slots=True)
class Scenario:
    """The command's options, parsed: one queue of voice contacts, one group of agents."""

    hours: float
    start_s: float  # clock time of the start, seconds after midnight
    interval_s: float
    arrivals_per_hour: float
    volume: float
    rate_profile: Profile
    staffing: int | Sequence[tuple[float, int]]  # from the start
    aht_s: float
    handle_cv: float | None  # None: exponential
    patience_s: float | None
    answer_within_s: float
    target: float
    policy: CallbackPolicy
    accept_share: float
    answer_p: float
    seed: int

    def networks(self, modes: Sequence[str]) -> dict[str, Network]:
        """One network per mode ("off", "on"): the same arrivals, callbacks switched."""
        from threadline.simulation.network import AgentGroup, Network, QueueDemand

        horizon_s = self.hours * 3600.0
        rate = self.arrivals_per_hour * self.volume / 3600.0
        arrival_rate: float | Callable[[float], float] = rate
        peak = None
        if self.rate_profile is Profile.day:
            arrival_rate = sinusoidal_rate(rate, DAY_AMPLITUDE, period_s=horizon_s)
            peak = rate * (1.0 + DAY_AMPLITUDE)
        networks = {}
        for mode in modes:
            queue = QueueDemand(
                id="general",
                mean_handle_s=self.aht_s,
                handle_cv=self.handle_cv,
                mean_patience_s=self.patience_s,
                answer_within_s=self.answer_within_s,
                callbacks=replace(self.policy, enabled=mode == "on"),
                accept_share=self.accept_share,
                answer_p=self.answer_p,
            )
            networks[mode] = Network(
                queues=[queue],
                groups=[AgentGroup("agent", self.staffing)],
                arrival_rate_per_s=arrival_rate,
                peak_arrival_rate_per_s=peak,
                horizon_s=horizon_s,
                interval_s=self.interval_s,
                seed=self.seed,
            )
        return networks

    def as_data(self) -> dict[str, Any]:
        horizon_s = self.hours * 3600.0
        steps = [(t, n) for t, n in _steps(self.staffing) if t < horizon_s]
        return {
            "hours": self.hours,
            "start": _hhmm(self.start_s),
            "interval_s": self.interval_s,
            "arrivals_per_hour": self.arrivals_per_hour,
            "volume": self.volume,
            "rate_profile": self.rate_profile.value,
            "staffing": [[_hhmm(self.start_s + t), n] for t, n in steps],
            "aht_s": self.aht_s,
            "handle": "exponential" if self.handle_cv is None else "lognormal",
            "cv": self.handle_cv,
            "patience_s": self.patience_s,
            "answer_within_s": self.answer_within_s,
            "target": self.target,
            "offer_after_s": self.policy.offer_after_s,
            "accept_share": self.accept_share,
            "answer_p": self.answer_p,
            "max_attempts": self.policy.max_attempts,
            "retry_after_s": list(self.policy.retry_after_s),
            "ring_timeout_s": self.policy.ring_timeout_s,
            "seed": self.seed,
        }


def simulate(  # one option per knob of the scenario: a planner's command line
    hours: Annotated[float, typer.Option(min=0.25, max=24 * 7, help="simulated hours")] = 8.0,
    start: Annotated[str, typer.Option(help="clock time the run starts, for labels and --plan")] = (
        "09:00"
    ),
    interval: Annotated[
        str | None, typer.Option(help="reporting interval, e.g. 15m (default 30m, or the run)")
    ] = None,
    arrivals_per_hour: Annotated[
        float, typer.Option(min=0.0, help="mean contacts per hour (before --volume)")
    ] = 125.0,
    rate_profile: Annotated[
        Profile, typer.Option(help="day: quiet at both ends, peak mid-run (±40%); or flat")
    ] = Profile.day,
    volume: Annotated[float, typer.Option(min=0.0, help="scales arrivals, e.g. 1.3 = +30%")] = 1.0,
    agents: Annotated[
        int | None, typer.Option(min=0, help="agents on shift (default 10; outside --plan)")
    ] = None,
    plan: Annotated[
        str | None, typer.Option(help="staffing by clock time, e.g. '9:00-12:00=12,12:00-17:00=10'")
    ] = None,
    aht: Annotated[str, typer.Option(help="average handle time, e.g. 240s")] = "240s",
    handle: Annotated[Handle, typer.Option(help="handle-time distribution")] = Handle.exponential,
    cv: Annotated[
        float, typer.Option(min=0.01, max=10.0, help="coefficient of variation (lognormal)")
    ] = 0.8,
    patience: Annotated[
        str, typer.Option(help="mean patience before hanging up, e.g. 300s; 'none': nobody does")
    ] = "300s",
    answer_within: Annotated[str, typer.Option(help="service-level threshold, e.g. 20s")] = "20s",
    target: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="service-level target, for the charts")
    ] = 0.8,
    callbacks: Annotated[
        Callbacks, typer.Option(help="keep-my-place callbacks: off, on, or both side by side")
    ] = Callbacks.both,
    offer_after: Annotated[
        str, typer.Option(help="offer a callback when the estimated wait is past this")
    ] = "60s",
    accept_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of those offered who accept")
    ] = 0.5,
    answer_p: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="chance a callback call is picked up")
    ] = 0.8,
    max_attempts: Annotated[int, typer.Option(help="callback calls before giving up")] = 3,
    retry_after: Annotated[
        str, typer.Option(help="spacing between attempts, e.g. 120s or '2m,10m'")
    ] = "120s",
    ring_timeout: Annotated[str, typer.Option(help="how long a callback call rings")] = "25s",
    seed: Annotated[int, typer.Option(help="random seed: same seed, same arrivals")] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    chart: Annotated[Path | None, typer.Option(help="write the charts as a PNG file")] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="write a self-contained HTML report")
    ] = None,
) -> None:
    """Simulate a day: service level, ASA, abandonment, callbacks and EWT accuracy."""
    horizon_s = hours * 3600.0
    # The default interval is 30 minutes, or the whole run when it is shorter (--hours 0.25).
    interval_s = min(1800.0, horizon_s) if interval is None else _duration(interval, "--interval")
    if interval_s > horizon_s:
        raise typer.BadParameter("longer than the run", param_hint="--interval")
    if arrivals_per_hour * volume <= 0:
        raise typer.BadParameter("no arrivals: raise --arrivals-per-hour or --volume")
    for path, option in ((chart, "--chart"), (html_out, "--html")):
        if path is not None and not path.parent.is_dir():
            raise typer.BadParameter(f"no folder {str(path.parent)!r}", param_hint=option)
    start_s = _clock(start, "--start")
    scenario = Scenario(
        hours=hours,
        start_s=start_s,
        interval_s=interval_s,
        arrivals_per_hour=arrivals_per_hour,
        volume=volume,
        rate_profile=rate_profile,
        staffing=_staffing(agents, plan, start_s),
        aht_s=_duration(aht, "--aht"),
        handle_cv=cv if handle is Handle.lognormal else None,
        patience_s=_patience(patience),
        answer_within_s=_duration(answer_within, "--answer-within", zero_ok=True),
        target=target,
        policy=_policy(offer_after, max_attempts, retry_after, ring_timeout),
        accept_share=accept_share,
        answer_p=answer_p,
        seed=seed,
    )
    modes = ("off", "on") if callbacks is Callbacks.both else (callbacks.value,)
    results = _run_all(scenario.networks(modes))
    report = {
        "scenario": scenario.as_data(),
        "runs": {mode: _run_data(result, start_s) for mode, result in results.items()},
    }
    if json_out:
        typer.echo(json.dumps(_finite(report)))
    else:
        _print_tables(report)
    _write(chart, write_png, report)
    _write(html_out, write_html, report)


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""
    app.command("simulate")(simulate)


# ---------------------------------------------------------------- options
def _duration(text: str, option: str, *, zero_ok: bool = False) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc
    if seconds <= 0 and not zero_ok:
        raise typer.BadParameter("must be longer than zero", param_hint=option)
    return seconds


def _clock(text: str, option: str, *, end: bool = False) -> float:
    """Seconds since midnight from "9:00"; "24:00" only where a range ends."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a HH:MM time", param_hint=option)
    return _seconds(int(match[1]), int(match[2]), option, end=end)


def _seconds(hour: int, minute: int, option: str, *, end: bool = False) -> float:
    if minute > 59 or hour > 24 or (hour == 24 and (minute or not end)):
        raise typer.BadParameter(f"{hour}:{minute:02d} is not a time of day", param_hint=option)
    return hour * 3600.0 + minute * 60.0


def _plan(text: str, start_s: float, default: int) -> list[tuple[float, int]]:
    """Staffing steps from "9:00-12:00=12,12:00-17:00=10", relative to the run's start;
    ``default`` agents outside the ranges."""
    ranges = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        match = _RANGE.fullmatch(part.replace(" ", ""))
        if match is None:
            raise typer.BadParameter(
                f"{part!r} is not HH:MM-HH:MM=AGENTS (e.g. 9:00-12:00=12)", param_hint="--plan"
            )
        begin = _seconds(int(match[1]), int(match[2]), "--plan")
        end = _seconds(int(match[3]), int(match[4]), "--plan", end=True)
        if end <= begin:
            raise typer.BadParameter(f"{part!r} ends before it starts", param_hint="--plan")
        ranges.append((begin, end, int(match[5])))
    if not ranges:
        raise typer.BadParameter("no range given", param_hint="--plan")
    ranges.sort()
    for (_, end, _), (begin, _, _) in pairwise(ranges):
        if begin < end:
            raise typer.BadParameter("ranges overlap", param_hint="--plan")
    # (time, order, agents): a range ending where the next starts hands over to it
    marks = [(0.0, 0, default)]
    for begin, end, agents in ranges:
        marks.append((max(begin - start_s, 0.0), 2, agents))
        marks.append((max(end - start_s, 0.0), 1, default))
    steps: list[tuple[float, int]] = []
    for t, _, n in sorted(marks):
        if steps and steps[-1][0] == t:
            steps.pop()  # superseded at the same moment
        if not steps or steps[-1][1] != n:
            steps.append((t, n))
    return steps


def _policy(offer_after: str, attempts: int, retry_after: str, ring: str) -> CallbackPolicy:
    """The queue's callback policy, validated by the same rules as a stored one."""
    raw = {
        "enabled": True,
        "booking": False,
        "offer_after_s": _duration(offer_after, "--offer-after", zero_ok=True),
        "max_attempts": attempts,
        "retry_after_s": [_duration(p, "--retry-after") for p in retry_after.split(",")],
        "ring_timeout_s": _duration(ring, "--ring-timeout"),
    }
    try:
        return parse_policy(raw)
    except InvalidPolicy as exc:
        option = next((o for field, o in _POLICY_OPTIONS if field in str(exc)), "--callbacks")
        raise typer.BadParameter(str(exc), param_hint=option) from exc


def _staffing(
    agents: int | None, plan: str | None, start_s: float
) -> int | list[tuple[float, int]]:
    """--agents alone (default 10), or --plan with --agents (default 0) outside its ranges."""
    if plan is None:
        return 10 if agents is None else agents
    return _plan(plan, start_s, agents or 0)


def _patience(text: str) -> float | None:
    if text.strip().lower() in {"none", "off"}:
        return None
    return _duration(text, "--patience")


def _write(
    path: Path | None, writer: Callable[[Mapping[str, Any], Path], None], report: Mapping[str, Any]
) -> None:
    if path is None:
        return
    try:
        writer(report, path)
    except OSError as exc:
        Console(stderr=True).print(f"[red]cannot write {path}:[/red] {exc.strerror or exc}")
        raise typer.Exit(1) from exc
    Console(stderr=True).print(f"wrote {path}")


def _steps(staffing: int | Sequence[tuple[float, int]]) -> Sequence[tuple[float, int]]:
    return [(0.0, staffing)] if isinstance(staffing, int) else staffing


def _hhmm(seconds: float) -> str:
    minutes = round(seconds / 60.0) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ---------------------------------------------------------------- running
def _run_all(networks: Mapping[str, Network]) -> dict[str, NetworkResult]:
    """Run each network in turn with a progress bar on stderr (silent when not a TTY)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    from threadline.simulation.network import simulate_network

    results = {}
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        for mode, network in networks.items():
            task = bar.add_task(f"callbacks {mode}", total=network.horizon_s)
            results[mode] = simulate_network(network, progress=_advance(bar, task))
    return results


def _advance(bar: Progress, task: Any) -> Callable[[int, int], None]:
    return lambda done, total: bar.update(task, completed=done, total=total)


# ---------------------------------------------------------------- report data
def _run_data(result: NetworkResult, start_s: float) -> dict[str, Any]:
    total, cb = result.total, result.callbacks
    return {
        "arrivals": total.arrivals,
        "answered": total.answered,
        "abandoned": total.abandoned,
        "failed_callbacks": total.failed_callbacks,
        "still_waiting": total.still_waiting,
        "service_level": total.service_level,
        "asa_s": total.asa_s,
        "p_abandon": total.p_abandon,
        "p_wait": total.p_wait,
        "occupancy": result.occupancy,
        "callbacks": {
            "offered": cb.offered,
            "accepted": cb.accepted,
            "declined": cb.declined,
            "answered": cb.answered,
            "answered_by_attempt": list(cb.answered_by_attempt),
            "failed": cb.failed,
            "pending": cb.pending,
            "calls": cb.calls,
            "mean_delay_s": cb.mean_delay_s,
        },
        "ewt": {
            "scored": result.ewt_scored,
            "range_coverage": result.ewt_range_coverage,
            "rase": {name: _score(result, name, "rase") for name in PREDICTORS},
            "bias_s": {name: _score(result, name, "bias_s") for name in PREDICTORS},
        },
        "intervals": [_interval_data(i, start_s) for i in result.intervals],
    }


def _score(result: NetworkResult, name: str, what: str) -> float | None:
    score = result.ewt.get(name)
    return None if score is None else float(getattr(score, what))


def _interval_data(i: IntervalStats, start_s: float) -> dict[str, Any]:
    return {
        "start": _hhmm(start_s + i.start_s),
        "agents": i.agents,
        "arrivals": i.arrivals,
        "service_level": i.service_level,
        "asa_s": i.asa_s,
        "p_abandon": i.p_abandon,
        "mean_waiting": i.mean_waiting,
        "max_waiting": i.max_waiting,
        "occupancy": i.occupancy,
        "callbacks_offered": i.callbacks_offered,
        "callbacks_accepted": i.callbacks_accepted,
        "callbacks_failed": i.callbacks_failed,
        "ewt_predicted_s": i.ewt_predicted_s,
        "ewt_actual_s": i.ewt_actual_s,
    }


def _finite(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# ---------------------------------------------------------------- text
def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}%}"


def _secs(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.0f} s"


def _summary_rows(report: Mapping[str, Any]) -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    sc = report["scenario"]
    sl = f"service level ({sc['target']:.0%} target in {sc['answer_within_s']:.0f} s)"
    return [
        ("arrivals", lambda r: str(r["arrivals"])),
        ("answered", lambda r: str(r["answered"])),
        (sl, lambda r: _pct(r["service_level"])),
        ("average speed of answer (ASA)", lambda r: _secs(r["asa_s"])),
        ("abandoned", lambda r: f"{r['abandoned']} ({_pct(r['p_abandon'])})"),
        ("occupancy", lambda r: _pct(r["occupancy"])),
        (
            "callbacks offered / accepted",
            lambda r: f"{r['callbacks']['offered']} / {r['callbacks']['accepted']}",
        ),
        ("callbacks answered (1st/2nd/…)", lambda r: _by_attempt(r["callbacks"])),
        ("callbacks failed", lambda r: str(r["callbacks"]["failed"])),
        ("callback delay (mean)", lambda r: _secs(r["callbacks"]["mean_delay_s"] or None)),
        ("still waiting at the end", lambda r: str(r["still_waiting"])),
        # The estimators' own names and scores (RASE of ql / les / hol) stay in --json.
        (
            "wait shown to callers: typical error",
            lambda r: _pct(r["ewt"]["rase"]["blend"], 0),
        ),
        ("real wait inside the range shown", lambda r: _pct(r["ewt"]["range_coverage"])),
    ]


def _by_attempt(cb: Mapping[str, Any]) -> str:
    tries = cb["answered_by_attempt"]
    return f"{cb['answered']} ({'/'.join(map(str, tries))})" if tries else "0"


def _print_tables(report: Mapping[str, Any]) -> None:
    sc, runs = report["scenario"], report["runs"]
    console = Console()
    rate = sc["arrivals_per_hour"] * sc["volume"]
    staffed = ", ".join(f"{n} from {t}" for t, n in sc["staffing"])
    summary = Table(
        box=box.SIMPLE_HEAD,
        title=f"Simulation: {sc['hours']:g} h from {sc['start']}, {rate:g} contacts/h",
        caption=f"agents: {staffed}; AHT {sc['aht_s']:g} s ({sc['handle']}); seed {sc['seed']}",
    )
    summary.add_column("measure")
    for mode in runs:
        summary.add_column(f"callbacks {mode}", justify="right")
    for label, cell in _summary_rows(report):
        summary.add_row(label, *(cell(run) for run in runs.values()))
    console.print(summary)
    per = Table(
        title="Per interval (contacts by the interval they arrived in)",
        caption="SL: service level; ASA: average speed of answer; aband.: abandoned",
        box=box.SIMPLE_HEAD,
    )
    per.add_column("from", no_wrap=True)
    per.add_column("agents", justify="right")
    per.add_column("arrivals", justify="right")
    for what in ("SL", "ASA s", "aband."):
        for mode in runs:
            per.add_column(f"{what}\n{mode}" if len(runs) > 1 else what, justify="right")
    for row in zip(*(run["intervals"] for run in runs.values()), strict=True):
        first = row[0]
        cells = [first["start"], f"{first['agents']:.1f}", str(first["arrivals"])]
        cells += [_pct(i["service_level"], 0) for i in row]
        cells += ["–" if i["asa_s"] is None else f"{i['asa_s']:.0f}" for i in row]
        cells += [_pct(i["p_abandon"], 0) for i in row]
        per.add_row(*cells)
    console.print(per)


# ---------------------------------------------------------------- charts
_COLOURS = {"off": "#c0392b", "on": "#2471a3"}


def write_png(report: Mapping[str, Any], path: Path) -> None:
    """Four panels: service level vs target, queue and ASA, abandonment, EWT vs real."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    sc, runs = report["scenario"], report["runs"]
    labels = [i["start"] for i in next(iter(runs.values()))["intervals"]]
    x = list(range(len(labels)))
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), sharex=True)
    (sl_ax, queue_ax), (ab_ax, ewt_ax) = axes
    for mode, run in runs.items():
        series = run["intervals"]
        colour, name = _COLOURS[mode], f"callbacks {mode}"
        sl_ax.plot(x, [100 * i["service_level"] for i in series], "o-", color=colour, label=name)
        queue_ax.plot(x, [i["mean_waiting"] for i in series], "-", color=colour, label=name)
        ab_ax.plot(x, [100 * i["p_abandon"] for i in series], "o-", color=colour, label=name)
        ewt_ax.plot(x, _gaps(series, "ewt_actual_s"), "-", color=colour, label=f"real, {mode}")
        ewt_ax.plot(
            x, _gaps(series, "ewt_predicted_s"), "--", color=colour, label=f"predicted, {mode}"
        )
    asa_ax = queue_ax.twinx()
    for mode, run in runs.items():
        asa_ax.plot(x, _gaps(run["intervals"], "asa_s"), ":", color=_COLOURS[mode])
    sl_ax.axhline(100 * sc["target"], color="#555", linestyle="--", label="target")
    staff_ax = sl_ax.twinx()
    first = next(iter(runs.values()))["intervals"]
    staff_ax.bar(x, [i["agents"] for i in first], color="#999", alpha=0.2, width=0.9)
    staff_ax.set_ylabel("agents on shift (grey bars)")
    staff_ax.set_ylim(0, 3 * max(max(i["agents"] for i in first), 1))
    sl_ax.set_zorder(staff_ax.get_zorder() + 1)
    sl_ax.patch.set_visible(False)
    sl_ax.set(title=f"Service level (answered within {sc['answer_within_s']:g} s)", ylim=(0, 105))
    sl_ax.set_ylabel("% of arrivals")
    queue_ax.set(title="Contacts waiting (solid) and ASA (dotted)", ylabel="contacts (mean)")
    asa_ax.set_ylabel("ASA, s")
    asa_ax.set_ylim(bottom=0)
    queue_ax.set_ylim(bottom=0)
    ab_ax.set(title="Abandonment", ylabel="% of arrivals")
    ab_ax.set_ylim(bottom=0)
    ewt_ax.set(title="Estimated wait shown vs real wait (contacts who waited)", ylabel="seconds")
    ewt_ax.set_ylim(bottom=0)
    step = max(1, round(3600 / sc["interval_s"]), math.ceil(len(labels) / 12))
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
        ax.set_xticks(x[::step], labels[::step])
    for ax in axes[1]:
        ax.set_xlabel("interval starting at")
    rate = sc["arrivals_per_hour"] * sc["volume"]
    fig.suptitle(
        f"threadline simulate: {rate:g} contacts/h, AHT {sc['aht_s']:g} s, "
        f"{', '.join(f'{n} agents from {t}' for t, n in sc['staffing'])}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _gaps(series: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [math.nan if i[key] is None else i[key] for i in series]


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Threadline simulation</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}}
table{{border-collapse:collapse;margin:1rem 0}}
td,th{{border-bottom:1px solid #ddd;padding:.25rem .75rem;text-align:right}}
td:first-child,th:first-child{{text-align:left}}
.grid{{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1.5rem}}
figure{{margin:0}} figcaption{{font-weight:600;margin-bottom:.25rem}}
</style></head><body>
<h1>Threadline simulation</h1>
<p>{subtitle}</p>
{summary}
<div class="grid">
<figure><figcaption>Service level per interval vs target</figcaption>
<canvas id="sl"></canvas></figure>
<figure><figcaption>Contacts waiting and ASA</figcaption><canvas id="queue"></canvas></figure>
<figure><figcaption>Abandonment per interval</figcaption><canvas id="abandon"></canvas></figure>
<figure><figcaption>Wait shown vs real wait</figcaption><canvas id="ewt"></canvas></figure>
</div>
<script>{chart_js}</script>
<script id="report" type="application/json">{data}</script>
<script>
const report = JSON.parse(document.getElementById("report").textContent);
const colours = {{off: "#c0392b", on: "#2471a3"}};
const runs = Object.entries(report.runs);
const labels = runs[0][1].intervals.map(i => i.start);
const pick = (run, key, scale = 1) =>
  run.intervals.map(i => i[key] === null ? null : i[key] * scale);
function line(label, data, colour, extra = {{}}) {{
  return {{label, data, borderColor: colour, backgroundColor: colour, spanGaps: true,
          pointRadius: 2, ...extra}};
}}
function draw(id, datasets, scales) {{
  new Chart(document.getElementById(id), {{type: "line", data: {{labels, datasets}},
    options: {{animation: false, interaction: {{mode: "index", intersect: false}}, scales}}}});
}}
const target = report.scenario.target * 100;
draw("sl", [
  ...runs.map(([m, r]) => line(`callbacks ${{m}}`, pick(r, "service_level", 100), colours[m])),
  line("target", labels.map(() => target), "#555", {{borderDash: [6, 4], pointRadius: 0}}),
  {{type: "bar", label: "agents on shift", data: pick(runs[0][1], "agents"), yAxisID: "agents",
   backgroundColor: "rgba(150,150,150,0.2)", order: 10}}],
  {{y: {{min: 0, max: 100, title: {{display: true, text: "% of arrivals"}}}},
   agents: {{position: "right", min: 0, title: {{display: true, text: "agents on shift"}},
            grid: {{drawOnChartArea: false}}}}}});
draw("queue", [
  ...runs.map(([m, r]) => line(`waiting, ${{m}}`, pick(r, "mean_waiting"), colours[m])),
  ...runs.map(([m, r]) => line(`ASA s, ${{m}}`, pick(r, "asa_s"), colours[m],
    {{borderDash: [2, 3], yAxisID: "asa"}}))],
  {{y: {{min: 0, title: {{display: true, text: "contacts (mean)"}}}},
   asa: {{position: "right", min: 0, title: {{display: true, text: "ASA, s"}},
          grid: {{drawOnChartArea: false}}}}}});
draw("abandon",
  runs.map(([m, r]) => line(`callbacks ${{m}}`, pick(r, "p_abandon", 100), colours[m])),
  {{y: {{min: 0, title: {{display: true, text: "% of arrivals"}}}}}});
draw("ewt", [...runs.map(([m, r]) => line(`real, ${{m}}`, pick(r, "ewt_actual_s"), colours[m])),
  ...runs.map(([m, r]) => line(`predicted, ${{m}}`, pick(r, "ewt_predicted_s"), colours[m],
    {{borderDash: [6, 4]}}))],
  {{y: {{min: 0, title: {{display: true, text: "seconds"}}}}}});
</script>
</body></html>
"""


def write_html(report: Mapping[str, Any], path: Path) -> None:
    """One file that opens offline: Chart.js and the data inlined."""
    vendored = resources.files("threadline") / "web" / "static" / "vendor" / CHART_JS
    chart_js = "\n".join(
        line for line in vendored.read_text("utf-8").splitlines() if "sourceMappingURL" not in line
    )
    data = json.dumps(_finite(report)).replace("</", "<\\/")
    sc = report["scenario"]
    subtitle = (
        f"{sc['hours']:g} h from {sc['start']}, {sc['arrivals_per_hour'] * sc['volume']:g} "
        f"contacts/h, AHT {sc['aht_s']:g} s ({sc['handle']}), seed {sc['seed']}"
    )
    page = _PAGE.format(
        subtitle=html.escape(subtitle),
        summary=_summary_html(report),
        chart_js=chart_js,
        data=data,
    )
    path.write_text(page, encoding="utf-8")


def _summary_html(report: Mapping[str, Any]) -> str:
    runs = report["runs"]
    head = "".join(f"<th>callbacks {html.escape(m)}</th>" for m in runs)
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f"<td>{html.escape(cell(run))}</td>" for run in runs.values())
        + "</tr>"
        for label, cell in _summary_rows(report)
    )
    return f"<table><tr><th>measure</th>{head}</tr>{rows}</table>"
