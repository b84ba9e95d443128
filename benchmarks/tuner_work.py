"""Searches' seconds against steady-state step costs: the work in a search, and its choice.

Reads searches (`tuner_comparison.py` runs, or the lines `tuner_profile.py --out` appends) and
measures the steady-state seconds per step of every configuration they trained or chose (batch
size, width, depth and optimizer; a warm-up `fit` traces the model, then one `fit` of `--steps`
steps is timed, no callbacks). Two tables follow.

The chosen configurations in seconds: each search's chosen `l(c*)`, re-measured in steps, times
its configuration's cost per step, the expected seconds to the target of the choice on this
machine (checks and tracing left out), per tuner.

The work in a search, for searches that recorded their `fit`s: each search's wall seconds split
into:

- work: the steps of each `fit` times its configuration's steady-state cost, the time the same
  steps would take in one long run;
- the rest of the fits: their wall seconds beyond that work (tracing a new model, the start of
  `fit`, the validation checks of `TargetStopping`, short runs' first steps);
- outside the fits: building models, the tuner's bookkeeping, checkpoints, garbage collection.

Prints a table of medians per tuner and writes JSON beside the input (`_work.json`). Run it on an
otherwise idle machine, with the threads the searches had:

    export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1
    python benchmarks/tuner_work.py benchmarks/results/tuner_comparison_digits_seconds30.json
    python benchmarks/tuner_work.py fits.jsonl --task digits
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import keras
import tensorflow as tf
import tuner_comparison as tc

GRAPH = ("batch_size", "width", "depth", "optimizer")


def searches(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """The task's name and the searches saved in `path`."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return rows[0]["task"], rows
    result = json.loads(path.read_text())
    return result["task"]["name"], result["runs"]


def step_cost(task: tc.Task, data: tuple, config: dict[str, Any], steps: int) -> float:
    """Steady-state seconds per training step of `config` on `task` (traced, no callbacks)."""
    (x, y), _ = data
    keras.backend.clear_session()
    model = tc.make_model(task, config, x.shape[1])
    stream = tc.stream(x, y, config["batch_size"])
    model.fit(stream, steps_per_epoch=2 * tc.STEPS_PER_EXECUTION, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - started) / steps


def graph(config: dict[str, Any]) -> tuple:
    """What a step's cost depends on: everything in the configuration but the learning rate."""
    return tuple(config[k] for k in GRAPH)


def split(run: dict[str, Any], costs: dict[tuple, float]) -> dict[str, float]:
    """A search's wall seconds as work, the rest of its fits, and the time outside them."""
    work = sum(fit["steps"] * costs[graph(fit)] for fit in run["fits"])
    in_fits = sum(fit["seconds"] for fit in run["fits"])
    return {
        "seconds": run["seconds"],
        "work": work,
        "fits_rest": in_fits - work,
        "outside_fits": run["seconds"] - in_fits,
        "fits": len(run["fits"]),
        "steps": sum(fit["steps"] for fit in run["fits"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("searches", type=Path, help="a tuner_comparison JSON or a .jsonl of fits")
    parser.add_argument("--task", default=None, help="the task, if the file does not name it")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per configuration")
    args = parser.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(1)
    name, runs = searches(args.searches)
    task = tc.TASKS[args.task or name]
    data = tc.load(task)
    trained = [fit for run in runs for fit in run.get("fits", ())]
    chosen = [run["chosen"] for run in runs if run.get("chosen")]
    graphs = {graph(config): config for config in [*trained, *chosen]}
    costs = {}
    for index, (key, config) in enumerate(sorted(graphs.items(), key=str)):
        costs[key] = step_cost(task, data, tc.configuration(config), args.steps)
        print(f"[{index + 1}/{len(graphs)}] {key}: {1e3 * costs[key]:.2f} ms/step", flush=True)
    tuners = list(dict.fromkeys(run["tuner"] for run in runs))
    choices = [
        {
            "tuner": run["tuner"],
            "seed": run["seed"],
            "chosen_l": run.get("chosen_l", math.inf),
            "chosen_l_seconds": (
                run.get("chosen_l", math.inf) * costs[graph(run["chosen"])]
                if run.get("chosen")
                else math.inf
            ),
        }
        for run in runs
        if "chosen_l" in run
    ]
    if choices:
        print(
            f"\n### {task.name}: the chosen configurations' l(c*) in steps, and in seconds "
            "(l(c*) x seconds per step)\n\n"
            "| tuner | searches | median l(c*), steps [min, max] | median l(c*), s [min, max] |"
            "\n|---|---:|---:|---:|"
        )
        for tuner in tuners:
            mine = [c for c in choices if c["tuner"] == tuner]
            steps = [c["chosen_l"] for c in mine]
            seconds = [c["chosen_l_seconds"] for c in mine]
            print(
                f"| {tuner} | {len(mine)} | {_range(steps, '.0f')} | {_range(seconds, '.2f')} |"
            )
    rows = [
        {"tuner": run["tuner"], "seed": run["seed"], **split(run, costs)}
        for run in runs
        if "fits" in run
    ]
    if rows:
        print(
            f"\n### {task.name}: medians per search (seconds; work = steps x steady-state cost)\n\n"
            "| tuner | searches | wall | work | rest of the fits | outside the fits | fits "
            "| steps |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        )
    for tuner in tuners:
        mine = [row for row in rows if row["tuner"] == tuner]
        if not mine:
            continue
        cells = [
            statistics.median(row[key] for row in mine)
            for key in ("seconds", "work", "fits_rest", "outside_fits", "fits", "steps")
        ]
        print(
            f"| {tuner} | {len(mine)} | "
            + " | ".join(f"{cell:,.1f}" for cell in cells[:4])
            + f" | {cells[4]:.0f} | {cells[5]:,.0f} |"
        )
    out = args.searches.with_name(args.searches.stem + "_work.json")
    out.write_text(
        json.dumps(
            {
                "task": task.name,
                "source": str(args.searches),
                "command": "python benchmarks/tuner_work.py " + " ".join(sys.argv[1:]),
                "timed_steps": args.steps,
                "costs": [
                    {**dict(zip(GRAPH, graph, strict=True)), "seconds_per_step": cost}
                    for graph, cost in costs.items()
                ],
                "choices": choices,
                "searches": rows,
            },
            indent=1,
        )
    )
    print(f"\nwrote {out}")


def _range(values: list[float], spec: str) -> str:
    """`median [min, max]` of `values`, "never" for an infinite one."""

    def cell(value: float) -> str:
        return "never" if math.isinf(value) else format(value, spec)

    return f"{cell(statistics.median(values))} [{cell(min(values))}, {cell(max(values))}]"


if __name__ == "__main__":
    main()
