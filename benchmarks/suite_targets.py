"""Set the effort suite's targets the AlgoPerf way, from tuned Adam and SGD with momentum.

For each workload of `keras_effort.workloads.WORKLOADS`:

1. every configuration of the grid (Adam and SGD with momentum 0.9, each at a few rates, at
   the workload's batch size) trains for the whole budget from seed 0, checking the validation
   metric every `check_every` steps and never stopping early;
2. the configuration with the best value within the budget trains from seeds 1-4 as well;
3. the target is the value that configuration reaches within the budget in at least 4 of its
   5 seeds (the second-worst seed's best value), rounded towards easier (down to 0.005 for an
   accuracy, up to 0.01 for a loss).

The targets go to keras_effort/workloads/targets.json (loaded by the package); everything
measured (grid, seeds, per-run best values and curves) to benchmarks/results/suite_targets.json.
Runs accumulate in the results file, so an interrupted script resumes where it stopped.

Run by hand (slow: about 10 runs of 10-30 s per workload on a free core):

    nice -n 10 python benchmarks/suite_targets.py
    python benchmarks/suite_targets.py --workloads digits_conv_gap --seeds 5
    python benchmarks/suite_targets.py --table-only     # the stored results, and write targets
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from keras_effort.workloads import WORKLOADS, Workload
from keras_effort.workloads.catalogue import TARGETS_FILE
from keras_effort.workloads.runner import train

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "suite_targets.json"
TARGETS = ROOT / "keras_effort" / "workloads" / TARGETS_FILE
# The grid, reduced to what 2 shared CPU cores allow (no second batch size).
GRID = {"adam": (1e-3, 3e-3, 1e-2), "sgd_momentum": (1e-2, 3e-2, 1e-1)}


def best_within_budget(curve: list, direction: str) -> float:
    """The best finite value of a run's checks (the worst possible when none is finite)."""
    values = [value for _, value in curve if math.isfinite(value)]
    if not values:
        return -math.inf if direction == "up" else math.inf
    return max(values) if direction == "up" else min(values)


def reached_by(values: list[float], direction: str, k: int = 4) -> float:
    """The value that at least `k` of the runs' best values meet."""
    ordered = sorted(values, reverse=direction == "up")
    return ordered[k - 1]


def rounded(value: float, direction: str) -> float:
    """`value` made a little easier and readable: down to 0.005 up, up to 0.01 down."""
    if direction == "up":
        return math.floor(value * 200 + 1e-9) / 200
    return math.ceil(value * 100 - 1e-9) / 100


def first_step(curve: list, value: float, direction: str) -> int | None:
    """The first check's step that meets `value`, or `None`."""
    for step, seen in curve:
        if (seen >= value) if direction == "up" else (seen <= value):
            return int(step)
    return None


def measure(workload: Workload, optimizer: str, rate: float, seed: int) -> dict:
    record = train(workload, optimizer, rate, seed, stop_training=False)
    curve = [[int(step), float(value)] for step, value in record.curve]
    return {
        "workload": workload.name,
        "optimizer": optimizer,
        "rate": rate,
        "seed": seed,
        "best": best_within_budget(curve, workload.target.direction),
        "curve": curve,
        "seconds": record.seconds,
        "budget": workload.budget,
    }


def load_runs() -> list[dict]:
    return json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []


def save(runs: list[dict], targets: dict[str, dict]) -> None:
    document = {
        "how": __doc__.split("\n\n")[1].strip(),
        "grid": {name: list(rates) for name, rates in GRID.items()},
        "seeds": "seed 0 for every configuration, seeds 0-4 for the best one",
        "batch_sizes": "the workload's own only (a reduced grid: no second batch size)",
        "keras_backend": keras.backend.backend(),
        "keras": keras.__version__,
        "targets": targets,
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    temporary = RESULTS.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n")
    temporary.replace(RESULTS)


def target_of(workload: Workload, runs: list[dict], seeds: int) -> dict | None:
    """The target and how it was found, or `None` while the best configuration lacks seeds."""
    direction = workload.target.direction
    mine = [r for r in runs if r["workload"] == workload.name]
    first = [r for r in mine if r["seed"] == 0]
    if len(first) < sum(len(rates) for rates in GRID.values()):
        return None
    pick = max if direction == "up" else min
    best = pick(first, key=lambda r: r["best"])
    seeded = [
        r for r in mine if (r["optimizer"], r["rate"]) == (best["optimizer"], best["rate"])
    ]
    if len(seeded) < seeds:
        return None
    value = rounded(reached_by([r["best"] for r in seeded], direction, k=seeds - 1), direction)
    steps = [first_step(r["curve"], value, direction) for r in seeded]
    return {
        "metric": workload.target.metric,
        "value": value,
        "mode": "max" if direction == "up" else "min",
        "from": {"optimizer": best["optimizer"], "rate": best["rate"]},
        "seed_bests": [r["best"] for r in seeded],
        "steps_to_target": steps,
    }


def write_targets(targets: dict[str, dict]) -> None:
    document = json.loads(TARGETS.read_text())
    for name, target in targets.items():
        document["targets"][name] = {key: target[key] for key in ("metric", "value", "mode")}
    document["note"] = (
        "set by benchmarks/suite_targets.py (grid, seeds and per-run results in "
        "benchmarks/results/suite_targets.json)"
    )
    TARGETS.write_text(json.dumps(document, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the best configuration")
    parser.add_argument("--table-only", action="store_true", help="only use stored results")
    args = parser.parse_args()
    runs = load_runs()
    targets = json.loads(RESULTS.read_text()).get("targets", {}) if RESULTS.exists() else {}

    def run_once(workload: Workload, optimizer: str, rate: float, seed: int) -> None:
        nonlocal runs
        key = (workload.name, optimizer, rate, seed)
        if any((r["workload"], r["optimizer"], r["rate"], r["seed"]) == key for r in runs):
            return
        if args.table_only:
            return
        record = measure(workload, optimizer, rate, seed)
        print(
            f"{workload.name:20s} {optimizer:13s} {rate:<7g} seed {seed}: best "
            f"{record['best']:.4f} ({record['seconds']:.0f} s)",
            flush=True,
        )
        runs = [*load_runs(), record]
        save(runs, targets)

    for name in args.workloads:
        workload = WORKLOADS[name]
        for optimizer, rates in GRID.items():
            for rate in rates:
                run_once(workload, optimizer, rate, 0)
        first = [r for r in runs if r["workload"] == name and r["seed"] == 0]
        if not first:
            continue
        pick = max if workload.target.direction == "up" else min
        best = pick(first, key=lambda r: r["best"])
        for seed in range(1, args.seeds):
            run_once(workload, best["optimizer"], best["rate"], seed)
        target = target_of(workload, runs, args.seeds)
        if target is not None:
            targets[name] = target
            save(runs, targets)
            write_targets({name: target})
            print(f"{name}: target {target['metric']} {target['value']} from {target['from']}")
    for name, target in targets.items():
        print(
            f"{name:20s} {target['metric']:13s} {target['mode']} {target['value']:<7g} "
            f"{target['from']['optimizer']} {target['from']['rate']:g}: steps "
            f"{target['steps_to_target']}"
        )


if __name__ == "__main__":
    main()
