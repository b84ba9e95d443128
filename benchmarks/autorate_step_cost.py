"""Seconds per training step of `AutoRate(Adam)` against Adam's, on every workload of the suite.

Goal (issue "Any learning rate on every architecture"): at most 1.10x on every workload, on
each backend. Each workload's model is built twice from the same seed, one compiled with
`Adam(1e-3)`, one with `AutoRate(Adam(1e-3))`, both as `keras-effort bench` compiles them (one
compiled call per check on TensorFlow and JAX). Both train in one process, in interleaved
blocks of about `--steps` steps (one `fit` call of whole epochs each, after a warm-up epoch
that traces), so that load on a shared machine hits both alike. Reported per workload: the
median over repeats of the per-step ratio, and the ratio of the fastest blocks (the least
disturbed).

    python benchmarks/autorate_step_cost.py                       # every workload, 5 repeats
    KERAS_BACKEND=jax python benchmarks/autorate_step_cost.py --workloads mnist1d_mlp

Writes benchmarks/results/autorate_step_cost_<backend>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
from rich.console import Console
from rich.table import Table

from keras_effort.optimizers import AutoRate
from keras_effort.workloads import WORKLOADS, Workload

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZERS = {
    "adam": lambda: keras.optimizers.Adam(1e-3),
    "autorate_adam": lambda: AutoRate(keras.optimizers.Adam(1e-3)),
}


def compiled(workload: Workload, name: str):
    keras.utils.set_random_seed(0)
    per_call = 1 if keras.backend.backend() == "torch" else workload.check_every
    return workload.compile(workload.build_model(), OPTIMIZERS[name](), per_call)


def block(model, workload: Workload, x, y, epochs: int) -> float:
    """Seconds per step of one `fit` call of `epochs` epochs."""
    start = time.perf_counter()
    model.fit(x, y, batch_size=workload.batch_size, epochs=epochs, verbose=0)
    return (time.perf_counter() - start) / (epochs * workload.epoch_steps)


def measure(name: str, steps: int, repeats: int) -> dict:
    workload = WORKLOADS[name]
    (x, y), _ = workload.data()
    epochs = max(1, round(steps / workload.epoch_steps))
    models = {optimizer: compiled(workload, optimizer) for optimizer in OPTIMIZERS}
    for model in models.values():
        block(model, workload, x, y, 1)  # traces
    times: dict[str, list[float]] = {optimizer: [] for optimizer in OPTIMIZERS}
    for repeat in range(repeats):
        order = list(models) if repeat % 2 == 0 else list(models)[::-1]  # no order effect
        for optimizer in order:
            times[optimizer].append(block(models[optimizer], workload, x, y, epochs))
    ratios = [a / b for a, b in zip(times["autorate_adam"], times["adam"], strict=True)]
    return {
        "workload": name,
        "steps_per_block": epochs * workload.epoch_steps,
        "adam_ms_per_step": 1e3 * min(times["adam"]),
        "autorate_ms_per_step": 1e3 * min(times["autorate_adam"]),
        "ratio_median": statistics.median(ratios),
        "ratio_best": min(times["autorate_adam"]) / min(times["adam"]),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--steps", type=int, default=200, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = [measure(name, args.steps, args.repeats) for name in args.workloads]
    backend = keras.backend.backend()
    table = Table(title=f"AutoRate(Adam) against Adam, seconds per training step ({backend})")
    for column in ("workload", "Adam ms/step", "AutoRate ms/step", "ratio (median)", "best"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for row in rows:
        table.add_row(
            row["workload"],
            f"{row['adam_ms_per_step']:.2f}",
            f"{row['autorate_ms_per_step']:.2f}",
            f"{row['ratio_median']:.2f}x",
            f"{row['ratio_best']:.2f}x",
        )
    Console().print(table)
    path = ROOT / "benchmarks" / "results" / f"autorate_step_cost_{backend}.json"
    meta = {"backend": backend, "keras": keras.__version__, "cpus": os.cpu_count(), **vars(args)}
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
