"""Set the effort suite's targets the AlgoPerf way, from tuned Adam and SGD with momentum.

For each workload of `keras_effort.workloads.WORKLOADS`:

1. every configuration of the grid (Adam at 1e-3 ... 3e-2 and SGD with momentum 0.9 at
   1e-2 ... 3e-1, at the workload's batch size) trains for the whole budget from seeds 0-4,
   checking the validation metric every `check_every` steps and never stopping early;
2. each configuration's reliable value is the best value within the budget that at least 4 of
   its 5 seeds reach (the second-worst seed's best value); the best configuration is the one
   whose reliable value is best;
3. the target is that value, rounded towards easier (down to 0.005 for an accuracy, up to 0.01
   for a loss);
4. the best rate of each optimizer trains again at twice the workload's batch size (5 seeds), to
   show whether the batch size was the binding choice. It does not set the target: the suite's
   protocol fixes each workload's batch size and step budget for every optimizer.

The targets go to keras_effort/workloads/targets.json (loaded by the package); everything
measured (grid, seeds, per-run best values and curves) to benchmarks/results/suite_targets.json.
Runs accumulate in the results file, so an interrupted script resumes where it stopped.

Run by hand (slow: 50 runs of 2-30 s per workload; `--jobs 2` runs two single-threaded
trainings at once, which on small models is faster than one two-threaded training):

    nice -n 10 python benchmarks/suite_targets.py --jobs 2
    python benchmarks/suite_targets.py --workloads digits_conv_gap
    python benchmarks/suite_targets.py --table-only     # the stored results, and write targets
    python benchmarks/suite_targets.py --table-only --markdown   # and the docs' table
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from keras_effort.workloads import WORKLOADS, Workload
from keras_effort.workloads.catalogue import TARGETS_FILE
from keras_effort.workloads.runner import train

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "suite_targets.json"
TARGETS = ROOT / "keras_effort" / "workloads" / TARGETS_FILE
GRID = {"adam": (1e-3, 3e-3, 1e-2, 3e-2), "sgd_momentum": (1e-2, 3e-2, 1e-1, 3e-1)}
SEEDS = 5
RELIABLE = 4  # seeds of `SEEDS` that must reach the target
BATCH_FACTOR = 2  # the second batch size, as a multiple of the workload's
# The environment of a worker when several train at once: one thread each.
SINGLE_THREADED = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}


def best_within_budget(curve: list, direction: str) -> float:
    """The best finite value of a run's checks (the worst possible when none is finite)."""
    values = [value for _, value in curve if math.isfinite(value)]
    if not values:
        return -math.inf if direction == "up" else math.inf
    return max(values) if direction == "up" else min(values)


def reached_by(values: list[float], direction: str, k: int = RELIABLE) -> float:
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


def key_of(run: dict) -> tuple:
    return run["workload"], run["optimizer"], run["rate"], run["seed"], run["batch_size"]


def measure(name: str, optimizer: str, rate: float, seed: int, batch_size: int) -> dict:
    """Train one configuration of the grid for the whole budget (in a worker process)."""
    workload = dataclasses.replace(WORKLOADS[name], batch_size=batch_size)
    record = train(workload, optimizer, rate, seed, stop_training=False)
    curve = [[int(step), float(value)] for step, value in record.curve]
    return {
        "workload": name,
        "optimizer": optimizer,
        "rate": rate,
        "seed": seed,
        "batch_size": batch_size,
        "best": best_within_budget(curve, workload.target.direction),
        "curve": curve,
        "seconds": record.seconds,
        "budget": workload.budget,
    }


def load_runs() -> list[dict]:
    if not RESULTS.exists():
        return []
    runs = json.loads(RESULTS.read_text())["runs"]
    for run in runs:  # runs of the first, reduced grid were all at the workload's batch size
        run.setdefault("batch_size", WORKLOADS[run["workload"]].batch_size)
    return runs


def save(runs: list[dict], targets: dict[str, dict]) -> None:
    document = {
        "how": __doc__.split("\n\n")[1].strip(),
        "grid": {name: list(rates) for name, rates in GRID.items()},
        "seeds": f"seeds 0-{SEEDS - 1} for every configuration",
        "batch_sizes": f"the workload's own, and {BATCH_FACTOR}x for each optimizer's best rate",
        "keras_backend": keras.backend.backend(),
        "keras": keras.__version__,
        "targets": targets,
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    temporary = RESULTS.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n")
    temporary.replace(RESULTS)


def configurations(runs: list[dict], workload: Workload, batch_size: int) -> dict[tuple, list]:
    """(optimizer, rate) -> its runs on `workload` at `batch_size`."""
    found: dict[tuple, list] = {}
    for run in runs:
        if run["workload"] == workload.name and run["batch_size"] == batch_size:
            found.setdefault((run["optimizer"], run["rate"]), []).append(run)
    return found


def reliable_value(seeded: list[dict], direction: str) -> float:
    return reached_by([r["best"] for r in seeded], direction)


def best_configuration(
    runs: list[dict], workload: Workload, optimizer: str | None = None
) -> tuple | None:
    """The (optimizer, rate) with the best reliable value, or `None` while seeds are missing."""
    direction = workload.target.direction
    found = configurations(runs, workload, workload.batch_size)
    grid = [(o, r) for o, rates in GRID.items() for r in rates if optimizer in (None, o)]
    if any(len(found.get(config, ())) < SEEDS for config in grid):
        return None
    pick = max if direction == "up" else min
    return pick(grid, key=lambda config: reliable_value(found[config], direction))


def target_of(workload: Workload, runs: list[dict]) -> dict | None:
    """The target and how it was found, or `None` while the grid lacks runs."""
    best = best_configuration(runs, workload)
    if best is None:
        return None
    direction = workload.target.direction
    seeded = configurations(runs, workload, workload.batch_size)[best]
    value = rounded(reliable_value(seeded, direction), direction)
    return {
        "metric": workload.target.metric,
        "value": value,
        "mode": "max" if direction == "up" else "min",
        "from": {"optimizer": best[0], "rate": best[1], "batch_size": workload.batch_size},
        "seed_bests": [r["best"] for r in seeded],
        "steps_to_target": [first_step(r["curve"], value, direction) for r in seeded],
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


def print_table(runs: list[dict], targets: dict[str, dict], names: list[str]) -> None:
    """Per workload and configuration: the reliable value, at each batch size measured."""
    for name in names:
        workload = WORKLOADS[name]
        direction = workload.target.direction
        target = targets.get(name)
        print(f"\n{name}: target {target['metric']} {target['value']}" if target else name)
        for batch_size in (workload.batch_size, workload.batch_size * BATCH_FACTOR):
            for (optimizer, rate), seeded in sorted(
                configurations(runs, workload, batch_size).items()
            ):
                bests = ", ".join(f"{r['best']:.4g}" for r in sorted(seeded, key=key_of))
                value = reliable_value(seeded, direction) if len(seeded) >= SEEDS else None
                steps = (
                    [first_step(r["curve"], target["value"], direction) for r in seeded]
                    if target
                    else []
                )
                shown = f"{value:.4g}" if value is not None else "-"
                print(
                    f"  {optimizer:13s} {rate:<6g} batch {batch_size:<4d} reliable {shown:7s}"
                    f" seeds [{bests}] steps to target {steps}"
                )


def markdown_table(runs: list[dict], targets: dict[str, dict], names: list[str]) -> str:
    """The docs' table: per workload its target, where it came from, and the batch-size check."""
    lines = [
        "| workload | target | best configuration | its 5 seeds' best values | seeds reaching "
        f"| median steps to it | best rates at {BATCH_FACTOR}x the batch: value {RELIABLE} of "
        f"{SEEDS} seeds reach |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        target = targets.get(name)
        if target is None:
            continue
        workload = WORKLOADS[name]
        direction = workload.target.direction
        steps = [s for s in target["steps_to_target"] if s is not None]
        median = statistics.median(steps) if steps else None
        source = target["from"]
        optimizer = "Adam" if source["optimizer"] == "adam" else "SGD m0.9"
        larger = []
        for (other, rate), seeded in sorted(
            configurations(runs, workload, workload.batch_size * BATCH_FACTOR).items()
        ):
            if len(seeded) >= SEEDS:
                label = "Adam" if other == "adam" else "SGD m0.9"
                larger.append(f"{label} {rate:g}: {reliable_value(seeded, direction):.4g}")
        sign = ">=" if target["mode"] == "max" else "<="
        lines.append(
            f"| `{name}` | {target['metric']} {sign} {target['value']:g} | {optimizer}, "
            f"{source['rate']:g} | {', '.join(f'{v:.4g}' for v in target['seed_bests'])} | "
            f"{len(steps)}/{len(target['steps_to_target'])} | "
            f"{'-' if median is None else f'{median:g}'} | {'; '.join(larger) or '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once (one thread each)")
    parser.add_argument("--table-only", action="store_true", help="only use stored results")
    parser.add_argument("--markdown", action="store_true", help="also print the docs' table")
    args = parser.parse_args()
    runs = load_runs()
    targets = json.loads(RESULTS.read_text()).get("targets", {}) if RESULTS.exists() else {}

    def run_all(wanted: list[tuple]) -> None:
        nonlocal runs
        done = {key_of(r) for r in runs}
        wanted = [job for job in wanted if job not in done]
        if args.table_only or not wanted:
            return
        if args.jobs > 1:
            os.environ.update(SINGLE_THREADED)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
            futures = [pool.submit(measure, *job) for job in wanted]
            for future in futures:
                record = future.result()
                print(
                    f"{record['workload']:20s} {record['optimizer']:13s} {record['rate']:<6g} "
                    f"batch {record['batch_size']:<4d} seed {record['seed']}: best "
                    f"{record['best']:.4f} ({record['seconds']:.0f} s)",
                    flush=True,
                )
                runs.append(record)
                save(runs, targets)

    run_all(
        [
            (name, optimizer, rate, seed, WORKLOADS[name].batch_size)
            for name in args.workloads
            for optimizer, rates in GRID.items()
            for rate in rates
            for seed in range(SEEDS)
        ]
    )
    larger = []
    for name in args.workloads:
        workload = WORKLOADS[name]
        for optimizer in GRID:
            best = best_configuration(runs, workload, optimizer)
            if best is not None:
                larger += [
                    (name, optimizer, best[1], seed, workload.batch_size * BATCH_FACTOR)
                    for seed in range(SEEDS)
                ]
    run_all(larger)
    for name in args.workloads:
        target = target_of(WORKLOADS[name], runs)
        if target is not None:
            targets[name] = target
    save(runs, targets)
    write_targets({name: targets[name] for name in args.workloads if name in targets})
    print_table(runs, targets, args.workloads)
    if args.markdown:
        print(markdown_table(runs, targets, args.workloads))


if __name__ == "__main__":
    main()
