"""Effort-optimal learning rates are large: steps to a target across a learning-rate grid.

Poli & Yilmaz found that the hyperparameters that reach an accuracy target in the fewest gradient
steps (counting restarts) use unusually large learning rates. This example measures it on
MNIST-1D with a small MLP trained by SGD with momentum: for each rate on a grid, with a constant
rate and with `OneCycle` peaking at that rate, several seeded runs train until the validation
accuracy reaches the target (or the step budget runs out). Their steps-to-target go into
`keras_effort.effort.RuntimeDistribution`, which gives Koza's effort and the expected steps with
restarts at the best cutoff. The learning-rate range test (`find_learning_rate`) runs once on the
same setup, to show where the effort-optimal rate lies relative to its suggestions.

Run (about 3 minutes on 2 CPU cores with the defaults):

    python examples/large_learning_rates.py
    python examples/large_learning_rates.py --rates 0.01 0.03 0.1 0.3 1 3 --seeds 8 --target 0.65

It prints a table and writes a plot (`--plot`, default `large_learning_rates.png`).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from rich.console import Console
from rich.table import Table

from keras_effort.callbacks import TargetStopping, find_learning_rate
from keras_effort.datasets import load_mnist1d
from keras_effort.effort import RuntimeDistribution, summarize
from keras_effort.schedules import OneCycle

BATCH_SIZE = 128
SCHEDULES = ("constant", "one-cycle")


def build_model(learning_rate, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((40,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def budget_steps(args, x) -> int:
    """The run budget rounded up to whole epochs: what `fit` with that many epochs runs."""
    steps_per_epoch = math.ceil(len(x) / BATCH_SIZE)
    return math.ceil(args.budget / steps_per_epoch) * steps_per_epoch


def steps_to_target(schedule: str, rate: float, seed: int, data, args) -> int | None:
    """One run: the gradient step at which it first reached the target, or `None`."""
    (x, y), (x_val, y_val) = data
    budget = budget_steps(args, x)
    learning_rate = OneCycle(rate, total_steps=budget) if schedule == "one-cycle" else rate
    model = build_model(learning_rate, seed)
    stop = TargetStopping(
        "val_accuracy", args.target, check_every=args.check_every, validation_data=(x_val, y_val)
    )
    epochs = budget // math.ceil(len(x) / BATCH_SIZE)
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, callbacks=[stop], verbose=0)
    return stop.steps_to_target


def save_plot(rows, suggestion, path: str) -> None:
    from matplotlib.figure import Figure

    ax = Figure(figsize=(6.4, 4.0), layout="constrained").subplots()
    styles = zip(SCHEDULES, "os", ("C0", "C1"), (0.96, 0.91), strict=True)
    for schedule, marker, color, height in styles:
        points = [(r["rate"], r["summary"].koza_effort) for r in rows if r["schedule"] == schedule]
        rates, efforts = np.array(points).T
        reached = np.isfinite(efforts)
        ax.plot(rates[reached], efforts[reached], marker=marker, color=color, label=schedule)
        # Configurations that never reached the target: crosses along the top edge.
        ax.scatter(rates[~reached], np.full((~reached).sum(), height), marker="x",
                   color=color, transform=ax.get_xaxis_transform())  # fmt: skip
    edge = suggestion.edge_of_stability
    if edge is not None:
        for rate, label, style in (
            (edge, "finder: edge of stability", "--"),
            (edge * suggestion.safety_factor, "finder: lowest loss", ":"),
        ):
            ax.axvline(rate, color="C3", linestyle=style, label=f"{label} {rate:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate (peak rate for one-cycle)")
    ax.set_ylabel("Koza effort, z = 0.99 (gradient steps)")
    ax.set_title("x: never reached the target", fontsize="small", loc="right")
    ax.legend(fontsize="small", loc="center right")
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(suffix=".png", dir=directory)
    with os.fdopen(handle, "wb") as stream:
        ax.figure.savefig(stream, format="png", dpi=120)
    os.replace(temporary, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.03, 0.1, 0.3, 1.0])
    parser.add_argument("--seeds", type=int, default=4, help="runs per configuration")
    parser.add_argument("--target", type=float, default=0.6, help="validation accuracy")
    parser.add_argument("--budget", type=int, default=500, help="steps per run")
    parser.add_argument("--check-every", type=int, default=10, help="steps between checks")
    parser.add_argument("--plot", default="large_learning_rates.png")
    args = parser.parse_args()

    console = Console()
    data = load_mnist1d()
    (x, y), _ = data
    suggestion = find_learning_rate(
        build_model(0.01, seed=0), x, y, batch_size=BATCH_SIZE, min_lr=1e-4, max_lr=10.0
    )

    rows = []
    for schedule in SCHEDULES:
        for rate in args.rates:
            steps = [steps_to_target(schedule, rate, s, data, args) for s in range(args.seeds)]
            budget = budget_steps(args, x)
            summary = summarize(RuntimeDistribution(steps, budgets=budget), args.target)
            rows.append({"schedule": schedule, "rate": rate, "summary": summary})
            console.log(f"{schedule} rate={rate:g}: steps to target {steps}")

    table = Table(
        title=f"Steps to validation accuracy {args.target:g} on MNIST-1D",
        caption=f"MLP, SGD(momentum=0.9), batch {BATCH_SIZE}; {args.seeds} runs per row of at "
        f"most {budget_steps(args, x)} steps",
    )
    for column in ("schedule", "rate", "reached", "median", "Koza effort", "c*", "l(c*)"):
        table.add_column(column, justify="right")
    best = {}
    for row in rows:
        summary = row["summary"]
        table.add_row(
            row["schedule"],
            f"{row['rate']:g}",
            f"{round(summary.success_rate * summary.runs)}/{summary.runs}",
            f"{summary.median_steps:.0f}",
            f"{summary.koza_effort:.0f}",
            "-" if summary.optimal_cutoff is None else str(summary.optimal_cutoff),
            f"{summary.expected_steps_optimal:.0f}",
        )
        incumbent = best.get(row["schedule"])
        if incumbent is None or summary.koza_effort < incumbent["summary"].koza_effort:
            best[row["schedule"]] = row
    console.print(table)

    edge, steepest = suggestion.edge_of_stability, suggestion.steepest
    if edge is None:
        console.print("Learning-rate finder: no finite loss, so no suggestion")
    else:
        console.print(
            f"Learning-rate finder: edge of stability {edge:.3g} (lowest loss at "
            f"{edge * suggestion.safety_factor:.3g}, divided by {suggestion.safety_factor:g}), "
            + (f"steepest descent {steepest:.3g}" if steepest is not None else "no steep descent")
        )
        for schedule, row in best.items():
            if math.isfinite(row["summary"].koza_effort):
                console.print(
                    f"Effort-optimal {schedule} rate: {row['rate']:g} = "
                    f"{row['rate'] / edge:.3g} x the finder's edge-of-stability suggestion"
                )
    save_plot(rows, suggestion, args.plot)
    console.print(f"Plot written to {args.plot}")


if __name__ == "__main__":
    main()
