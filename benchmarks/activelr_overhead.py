"""Step-time overhead of ActiveLR, RAdam and AdaBelief against the Keras optimizers they extend.

Trains a ~1M-parameter MLP on random data with every optimizer, with and without
`jit_compile`, in one process. Timing rounds are interleaved across optimizers; in every round
each optimizer's step time is divided by its baseline's from the same round (so drift in machine
load cancels), and the table shows the median of these ratios over rounds, for wall-clock time
and for process CPU time (which waiting for a busy machine does not inflate).

    python benchmarks/activelr_overhead.py [--steps 20] [--repeats 15] [--batch-size 128]

Prints a table and writes benchmarks/results/activelr_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from rich.console import Console
from rich.table import Table

from keras_effort.optimizers.active_lr import ActiveLR
from keras_effort.optimizers.adabelief import AdaBelief
from keras_effort.optimizers.radam import RAdam

RESULTS = Path(__file__).parent / "results" / "activelr_overhead.json"

# name -> (factory, baseline name); a baseline is its own baseline.
OPTIMIZERS = {
    "Adam": (lambda: keras.optimizers.Adam(1e-3), "Adam"),
    "AdamW": (lambda: keras.optimizers.AdamW(1e-3), "AdamW"),
    "ActiveLR(AdamW, period=100 steps)": (
        lambda: ActiveLR(keras.optimizers.AdamW(1e-3), period=100),
        "AdamW",
    ),
    "ActiveLR(AdamW, epoch)": (
        lambda: ActiveLR(keras.optimizers.AdamW(1e-3), period="epoch"),
        "AdamW",
    ),
    "RAdam": (lambda: RAdam(1e-3), "Adam"),
    "AdaBelief": (lambda: AdaBelief(1e-3), "Adam"),
}


def make_model(optimizer: keras.optimizers.Optimizer, jit_compile: bool) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def seconds_per_step(model: keras.Model, x: np.ndarray, y: np.ndarray, steps: int):
    """Wall-clock and process CPU seconds per training step."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timing round")
    parser.add_argument("--repeats", type=int, default=15, help="interleaved timing rounds")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    warnings.filterwarnings("ignore", message="ActiveLR")  # no fit, so no epoch callback here
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch_size, 784)).astype("float32")
    y = rng.integers(0, 10, size=args.batch_size)

    rows = []
    for jit_compile in (False, True):
        models = {
            name: make_model(factory(), jit_compile) for name, (factory, _) in OPTIMIZERS.items()
        }
        for model in models.values():
            seconds_per_step(model, x, y, 3)  # trace / compile
        rounds = []
        for _ in range(args.repeats):
            rounds.append(
                {name: seconds_per_step(model, x, y, args.steps) for name, model in models.items()}
            )
        for name, (_, baseline) in OPTIMIZERS.items():
            # Ratios are paired within a round, so that load drifting between rounds cancels.
            rows.append(
                {
                    "optimizer": name,
                    "jit_compile": jit_compile,
                    "baseline": baseline,
                    "median_ms_per_step": 1000 * statistics.median(r[name][0] for r in rounds),
                    "wall_ratio": statistics.median(r[name][0] / r[baseline][0] for r in rounds),
                    "cpu_ratio": statistics.median(r[name][1] / r[baseline][1] for r in rounds),
                }
            )

    parameters = make_model(keras.optimizers.Adam(), False).count_params()
    table = Table(title=f"Step time, MLP with {parameters:,} parameters, batch {args.batch_size}")
    for column in ("optimizer", "jit_compile", "ms / step", "baseline", "wall ratio", "CPU ratio"):
        table.add_column(column, justify="left" if column == "optimizer" else "right")
    for row in rows:
        if row["optimizer"] != row["baseline"]:
            table.add_row(
                row["optimizer"],
                str(row["jit_compile"]),
                f"{row['median_ms_per_step']:.2f}",
                row["baseline"],
                f"{row['wall_ratio']:.3f}",
                f"{row['cpu_ratio']:.3f}",
            )
    Console(width=120).print(table)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "parameters": parameters,
                "batch_size": args.batch_size,
                "steps_per_round": args.steps,
                "rounds": args.repeats,
                "keras": keras.__version__,
                "backend": keras.backend.backend(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
