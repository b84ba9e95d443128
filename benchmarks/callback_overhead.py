"""Overhead of TargetStopping and EffortTensorBoard over a bare `fit`.

Goal (callbacks issue): with `check_every="epoch"`, under 3% over a bare `fit`. Each
configuration trains the same MNIST-1D MLP for the same epochs with a target it never
reaches, so every run does identical work; configurations are interleaved and repeated, and
the median wall and CPU times (all threads; steadier on a shared machine) are compared with
the bare run's. Prints a table and writes
benchmarks/results/callback_overhead.json.

    python benchmarks/callback_overhead.py [--repeats 5] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from rich.console import Console
from rich.table import Table

from keras_effort.callbacks import EffortTensorBoard, TargetStopping
from keras_effort.datasets import load_mnist1d
from keras_effort.demo import build_mlp

RESULTS = Path(__file__).parent / "results" / "callback_overhead.json"


def callbacks_for(name: str, validation: tuple, log_dir: str) -> list:
    if name == "bare fit":
        return []
    if name == "TargetStopping(epoch)":
        return [TargetStopping("val_accuracy", 1.0)]
    if name == "TargetStopping(epoch) + EffortTensorBoard":
        stop = TargetStopping("val_accuracy", 1.0)
        return [stop, EffortTensorBoard(log_dir, stop)]
    if name == "TargetStopping(every 50 steps, val)":
        return [TargetStopping("val_accuracy", 1.0, check_every=50, validation_data=validation)]
    raise ValueError(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    (x, y), validation = load_mnist1d()
    names = [
        "bare fit",
        "TargetStopping(epoch)",
        "TargetStopping(epoch) + EffortTensorBoard",
        "TargetStopping(every 50 steps, val)",
    ]
    seconds: dict[str, list[float]] = {name: [] for name in names}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as log_root:
        for repeat in range(args.repeats + 1):
            for name in names:
                model = build_mlp(seed=0)
                callbacks = callbacks_for(name, validation, f"{log_root}/{repeat}-{len(name)}")
                started, cpu_started = time.perf_counter(), time.process_time()
                model.fit(
                    x,
                    y,
                    epochs=args.epochs,
                    batch_size=64,
                    validation_data=validation,
                    verbose=0,
                    callbacks=callbacks,
                )
                if repeat > 0:  # the first round warms up
                    seconds[name].append(time.perf_counter() - started)
                    cpu_seconds[name].append(time.process_time() - cpu_started)
    rows = [
        {
            "configuration": name,
            "median_seconds": statistics.median(seconds[name]),
            "overhead": _overhead(seconds, name),
            "median_cpu_seconds": statistics.median(cpu_seconds[name]),
            "cpu_overhead": _overhead(cpu_seconds, name),
            "seconds": seconds[name],
            "cpu_seconds": cpu_seconds[name],
        }
        for name in names
    ]
    table = Table(
        title=f"fit, MNIST-1D 256x2 MLP, {args.epochs} epochs with validation, "
        f"median of {args.repeats}"
    )
    for column in ("configuration", "median s", "overhead", "median CPU s", "CPU overhead"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["configuration"],
            f"{row['median_seconds']:.2f}",
            f"{row['overhead']:+.1%}",
            f"{row['median_cpu_seconds']:.2f}",
            f"{row['cpu_overhead']:+.1%}",
        )
    Console(width=120).print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"machine": platform.platform(), "epochs": args.epochs, "rows": rows}, indent=2)
    )


def _overhead(times: dict[str, list[float]], name: str) -> float:
    return statistics.median(times[name]) / statistics.median(times["bare fit"]) - 1.0


if __name__ == "__main__":
    main()
