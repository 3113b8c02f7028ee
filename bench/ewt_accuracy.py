"""EWT accuracy: RASE of each wait-time predictor in simulated queues.

RASE (Ibrahim & Whitt) is sqrt(mean squared error) / mean delay, over answered
contacts that had to wait, each predicted with the live state it arrived to (handle
time and hang-up rate estimated from completed contacts).  Scenarios, 180 s mean
handle time, 100,000 arrivals each, fixed seeds:

* stationary M/M/s (+M): 10, 50, 200 agents at 90, 95, 98 % load, without abandonment
  and with exponential patience (mean 600 s).  QL is the best possible predictor here;
  the blend must stay within 5 % of it.
* day, dedicated agents: arrival rate ``mean * (1 - 0.6 cos(2 pi t / 24 h))``, staffing
  per 30 minutes from the forecast at 95 % load, lognormal handle times (CV 1).  QL sees
  everything that matters (the queue is Markov in what it knows): expect a tie.
* day, shared agents: as above, but the agents also answer a second queue of the same
  volume peaking 6 hours later (oldest contact first), as shared skills do.  QL counts
  all agents; how much of them this queue gets moves over the day.  The blend must beat
  every single predictor here.

Run: ``python bench/ewt_accuracy.py [--arrivals N]``.  Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

try:
    from threadline.queueing import ewt, simulation
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from threadline.queueing import ewt, simulation

HANDLE_S = 180.0
PATIENCE_S = 600.0
PREDICTORS = (ewt.QL, ewt.LES, ewt.HOL, ewt.BLEND)
DAY_LOAD = 0.95
AMPLITUDE = 0.6


def stationary(agents: int, load: float, patience: float | None, n: int) -> simulation.Scenario:
    return simulation.Scenario(
        agents=agents,
        mean_handle_s=HANDLE_S,
        arrival_rate_per_s=load * agents / HANDLE_S,
        mean_patience_s=patience,
        arrivals=n,
        seed=agents * 1000 + round(load * 100),
    )


def day(agents: int, patience: float | None, n: int, *, shared: bool) -> simulation.Scenario:
    mean = DAY_LOAD * agents / HANDLE_S / (2 if shared else 1)
    own = simulation.sinusoidal_rate(mean, AMPLITUDE)
    other = simulation.sinusoidal_rate(mean, AMPLITUDE, lag_s=6 * 3600.0) if shared else None
    total = (lambda t: own(t) + other(t)) if other else own
    return simulation.Scenario(
        agents=simulation.staffing_plan(total, HANDLE_S, DAY_LOAD),
        mean_handle_s=HANDLE_S,
        arrival_rate_per_s=own,
        peak_arrival_rate_per_s=mean * (1 + AMPLITUDE),
        shared_arrival_rate_per_s=other,
        shared_peak_arrival_rate_per_s=mean * (1 + AMPLITUDE) if shared else None,
        handle_cv=1.0,
        mean_patience_s=patience,
        arrivals=n,
        seed=agents * 1000 + (7 if shared else 3),
    )


def scenarios(n: int) -> list[tuple[str, str, simulation.Scenario]]:
    runs = []
    for patience in (None, PATIENCE_S):
        tag = f"patience{patience:.0f}s" if patience else "no_abandon"
        for agents in (10, 50, 200):
            for load in (0.90, 0.95, 0.98):
                name = f"stationary_s{agents}_load{load * 100:.0f}_{tag}"
                runs.append(("stationary", name, stationary(agents, load, patience, n)))
            for shared in (False, True):
                kind = "day_shared" if shared else "day_dedicated"
                name = f"{kind}_s{agents}_load{DAY_LOAD * 100:.0f}_{tag}"
                runs.append((kind, name, day(agents, patience, n, shared=shared)))
    return sorted(runs, key=lambda run: ("stationary", "day_dedicated", "day_shared").index(run[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arrivals", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    figures: dict[str, dict[str, float]] = {}
    kinds: dict[str, str] = {}
    header = (
        f"{'scenario':<40} {'QL':>7} {'LES':>7} {'HOL':>7} {'blend':>7} {'ASA s':>7} {'aband':>6}"
    )
    print("RASE = sqrt(mean squared error) / mean delay, lower is better\n")
    print(header)
    print("-" * len(header))
    for kind, name, scenario in scenarios(args.arrivals):
        result = simulation.simulate(scenario)
        rase = {p: result.scores[p].rase for p in PREDICTORS}
        best_single = min(rase[p] for p in PREDICTORS if p != ewt.BLEND)
        mark = "*" if rase[ewt.BLEND] < best_single else " "
        print(
            f"{name:<40} "
            + " ".join(f"{rase[p]:>7.4f}" for p in PREDICTORS)
            + f"{mark}{result.asa_s:>7.1f} {result.p_abandon:>6.3f}"
        )
        kinds[name] = kind
        figures[name] = {f"{p}_rase": round(rase[p], 5) for p in PREDICTORS} | {
            "asa_s": round(result.asa_s, 2),
            "p_wait": round(result.p_wait, 4),
            "p_abandon": round(result.p_abandon, 4),
            "service_level_20s": round(result.service_level, 4),
        }

    def blend_vs(kind: str) -> list[tuple[float, float, float]]:
        rows = [f for n, f in figures.items() if kinds[n] == kind]
        best = [min(f[f"{p}_rase"] for p in PREDICTORS if p != ewt.BLEND) for f in rows]
        return [(f["blend_rase"], f["ql_rase"], b) for f, b in zip(rows, best, strict=True)]

    within_stationary = all(b <= 1.05 * q for b, q, _ in blend_vs("stationary"))
    within_dedicated = all(b <= 1.05 * q for b, q, _ in blend_vs("day_dedicated"))
    beats_shared = all(b < best for b, _, best in blend_vs("day_shared"))
    worst = max(b / q for b, q, _ in blend_vs("stationary"))
    elapsed = time.perf_counter() - started
    print("\n* blend better than every single predictor")
    print(f"worst blend/QL RASE ratio, stationary: {worst:.4f} (must be <= 1.05)")
    print(f"blend within 5% of QL, stationary:          {within_stationary}")
    print(f"blend within 5% of QL, day, dedicated:      {within_dedicated}")
    print(f"blend beats every predictor, day, shared:   {beats_shared}")
    print(f"{len(figures)} scenarios x {args.arrivals} arrivals in {elapsed:.1f} s")
    summary = {
        "arrivals_per_scenario": args.arrivals,
        "mean_handle_s": HANDLE_S,
        "elapsed_s": round(elapsed, 1),
        "worst_blend_over_ql_rase_stationary": round(worst, 4),
        "blend_within_5pct_of_ql_stationary": within_stationary,
        "blend_within_5pct_of_ql_time_varying_dedicated": within_dedicated,
        "blend_beats_all_time_varying": beats_shared,
        "scenarios": figures,
    }
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
