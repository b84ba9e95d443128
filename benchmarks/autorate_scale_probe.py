"""Where AutoRate's learned scale settles, per workload of the effort suite (issue: any rate).

Trains `AutoRate(Adam(1e-3))` for each workload's whole step budget (no target stopping), with
the given AutoRate options, and prints the best validation value beside the target and the
effective learning rate it ends at (`scale * 1e-3`); tuned Adam's best rate on the suite is 1e-2.
Writes the table as JSON.

    python benchmarks/autorate_scale_probe.py --workloads mnist1d_gru digits_conv_gap \
        --options '{"target_cosine": 0.1}' --json autorate_probe.json
"""

from __future__ import annotations

import argparse
import json
import time

import keras
from rich.console import Console
from rich.table import Table

from keras_effort.optimizers import AutoRate
from keras_effort.workloads import WORKLOADS


def probe(name: str, options: dict, inner_lr: float, seed: int) -> dict:
    """One full-budget run of `AutoRate(Adam(inner_lr), **options)` on workload `name`."""
    workload = WORKLOADS[name]
    (x, y), validation = workload.data()
    keras.utils.set_random_seed(seed)
    optimizer = AutoRate(keras.optimizers.Adam(inner_lr), **options)
    model = workload.compile(workload.build_model(), optimizer)
    start = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=workload.batch_size,
        epochs=workload.budget // workload.epoch_steps,
        validation_data=validation,
        verbose=0,
    )
    values = history.history[workload.target.metric]
    best = max(values) if workload.target.direction == "up" else min(values)
    return {
        "workload": name,
        "options": options,
        "seed": seed,
        "best": best,
        "target": workload.target.value,
        "reached": workload.target.reached(best),
        "effective_lr_end": float(optimizer.scale) * inner_lr,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=sorted(WORKLOADS))
    parser.add_argument("--options", default="{}", help="AutoRate options, as JSON")
    parser.add_argument("--lr", type=float, default=1e-3, help="the inner Adam's rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="autorate_probe.json")
    args = parser.parse_args()
    rows = [probe(n, json.loads(args.options), args.lr, args.seed) for n in args.workloads]
    table = Table(title=f"AutoRate(Adam({args.lr:g})) {args.options}")
    for column in ("workload", "best", "target", "effective lr at the end", "seconds"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for row in rows:
        table.add_row(
            row["workload"],
            f"{row['best']:.4f}",
            f"{row['target']:g}",
            f"{row['effective_lr_end']:.2e}",
            f"{row['seconds']:.0f}",
        )
    Console().print(table)
    with open(args.json, "w") as file:
        json.dump(rows, file, indent=1)


if __name__ == "__main__":
    main()
