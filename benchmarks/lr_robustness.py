"""Reach 60% validation accuracy from any initial learning rate: optimizers compared.

Protocol (the same for every optimizer): an MLP 40 -> Dense(100, relu) -> Dense(100, relu) ->
Dense(10) logits on MNIST-1D (`mnist1d.data.make_dataset(get_dataset_args())`, validation = its
test split), batch 100, 40 epochs = 1,600 steps, `keras.utils.set_random_seed(seed)` for seeds
0, 1, 2 and initial rates 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1. Recorded per run: the steps to 60%
validation accuracy (checked at epoch ends) and the best validation accuracy.
`--task digits` runs the same protocol on scikit-learn's 8x8 digits (64 inputs, 80/20 split,
15 steps per epoch, 40 epochs = 600 steps, target 95%).

The rate is the optimizer's `learning_rate`, except for Prodigy, whose learning rate stays at
its default 1.0 and whose initial distance estimate `d0` takes the rate (the quantity Prodigy
claims to be free of). ScheduleFreeAdamW is validated on its averaged weights, as its authors
require: the weights are swapped for the evaluation and back.

Run by hand (slow: about 10 s per run on a free core, 18 runs per optimizer):

    python benchmarks/lr_robustness.py                           # every optimizer, MNIST-1D
    python benchmarks/lr_robustness.py --optimizers autorate_adam adam --seeds 0
    python benchmarks/lr_robustness.py --task digits --optimizers autorate_adam adam
    python benchmarks/lr_robustness.py --table-only               # print the stored results

Results accumulate in benchmarks/results/lr_robustness_<task>.json (one entry per optimizer,
rate and seed; a rerun replaces its entries) and the heat map in
docs/images/lr_robustness_<task>.png.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from keras_effort import datasets
from keras_effort.callbacks.schedule_free import averaged_weights
from keras_effort.optimizers import (
    ActiveLREpochEnd,
    AutoRate,
    HypergradientAdam,
    HypergradientSGD,
    Prodigy,
    active_adamw,
    active_sgd,
)

ROOT = Path(__file__).resolve().parent.parent
RATES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SEEDS = (0, 1, 2)
EPOCHS = 40
BATCH = 100
TASKS = {"mnist1d": 0.6, "digits": 0.95}  # task -> validation accuracy target

OPTIMIZERS: dict[str, Callable[[float], keras.optimizers.Optimizer]] = {
    "autorate_adam": lambda rate: AutoRate(keras.optimizers.Adam(rate)),
    "autorate_sgd": lambda rate: AutoRate(keras.optimizers.SGD(rate, momentum=0.9)),
    "adam": lambda rate: keras.optimizers.Adam(rate),
    "sgd_momentum": lambda rate: keras.optimizers.SGD(rate, momentum=0.9),
    "schedule_free_adamw": lambda rate: keras.optimizers.ScheduleFreeAdamW(rate),
    "prodigy": lambda rate: Prodigy(d0=rate),
    "hypergradient_sgd": lambda rate: HypergradientSGD(rate, momentum=0.9),
    "hypergradient_adam": lambda rate: HypergradientAdam(rate),
    "active_adamw": lambda rate: active_adamw(rate),
    "active_sgd": lambda rate: active_sgd(rate),
}
LABELS = {
    "autorate_adam": "AutoRate(Adam)",
    "autorate_sgd": "AutoRate(SGD m0.9)",
    "adam": "Adam",
    "sgd_momentum": "SGD m0.9",
    "schedule_free_adamw": "ScheduleFreeAdamW",
    "prodigy": "Prodigy (d0 = rate)",
    "hypergradient_sgd": "HypergradientSGD m0.9",
    "hypergradient_adam": "HypergradientAdam",
    "active_adamw": "ActiveAdamW",
    "active_sgd": "ActiveSGD",
}


def load(task: str):
    if task == "mnist1d":
        return datasets.load_mnist1d()
    return datasets.load_digits(test_fraction=0.2, seed=0)


class EpochAccuracy(keras.callbacks.Callback):
    """Validation accuracy at every epoch end (on averaged weights for ScheduleFreeAdamW)."""

    def __init__(self, x_val: np.ndarray, y_val: np.ndarray) -> None:
        super().__init__()
        self.x_val, self.y_val = x_val, y_val
        self.accuracies: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        with averaged_weights(self.model):
            logits = self.model.predict_on_batch(self.x_val)
        accuracy = float(np.mean(np.argmax(logits, axis=-1) == self.y_val))
        self.accuracies.append(accuracy if np.all(np.isfinite(logits)) else 0.0)


def mlp(features: int) -> keras.Model:
    """The protocol's network: features -> Dense(100, relu) -> Dense(100, relu) -> 10 logits."""
    return keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def run(task: str, name: str, rate: float, seed: int) -> dict:
    (x, y), (x_val, y_val) = load(task)
    keras.utils.set_random_seed(seed)
    model = mlp(x.shape[1])
    steps_per_epoch = -(-len(x) // BATCH)
    model.compile(
        optimizer=OPTIMIZERS[name](rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # One compiled call per epoch: the same steps, far less Python per step.
        steps_per_execution=steps_per_epoch,
    )
    accuracy = EpochAccuracy(x_val, y_val)
    callbacks = [accuracy] + ([ActiveLREpochEnd()] if name.startswith("active") else [])
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, callbacks=callbacks, verbose=0)
    reached = [i for i, a in enumerate(accuracy.accuracies) if a >= TASKS[task]]
    return {
        "optimizer": name,
        "rate": rate,
        "seed": seed,
        "steps": (reached[0] + 1) * steps_per_epoch if reached else None,
        "best_accuracy": max(accuracy.accuracies),
        "accuracies": accuracy.accuracies,
        "budget": EPOCHS * steps_per_epoch,
        "seconds": time.perf_counter() - start,
    }


def summarize(runs: list[dict], names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        mine = [r for r in runs if r["optimizer"] == name]
        if not mine:
            continue
        successes = [r["steps"] for r in mine if r["steps"] is not None]
        rates = {r["rate"] for r in mine if r["steps"] is not None}
        rows.append(
            {
                "optimizer": name,
                "reached": len(successes),
                "runs": len(mine),
                "rates_reached": len(rates),
                "rates": len({r["rate"] for r in mine}),
                "median_steps": statistics.median(successes) if successes else None,
                "best_accuracy": max(r["best_accuracy"] for r in mine),
            }
        )
    return rows


def print_table(rows: list[dict], task: str) -> None:
    print(
        f"\nTask {task}: runs reaching {TASKS[task]:.0%} | rates with a success | "
        "median steps of successful runs | best accuracy"
    )
    print(f"{'optimizer':24s} {'reached':>9s} {'rates':>7s} {'median':>8s} {'best':>6s}")
    for row in rows:
        median = "-" if row["median_steps"] is None else f"{row['median_steps']:.0f}"
        print(
            f"{LABELS[row['optimizer']]:24s} {row['reached']:>4d}/{row['runs']:<4d} "
            f"{row['rates_reached']:>3d}/{row['rates']:<3d} {median:>8s} "
            f"{row['best_accuracy']:>6.3f}"
        )


def markdown_table(rows: list[dict], task: str) -> str:
    """The table of `print_table` in Markdown, for the docs."""
    lines = [
        f"| optimizer | runs reaching {TASKS[task]:.0%} | rates with a success | "
        "median steps (successful runs) | best accuracy |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        median = "-" if row["median_steps"] is None else f"{row['median_steps']:.0f}"
        lines.append(
            f"| {LABELS[row['optimizer']]} | {row['reached']}/{row['runs']} | "
            f"{row['rates_reached']}/{row['rates']} | {median} | {row['best_accuracy']:.3f} |"
        )
    return "\n".join(lines)


def heat_map(runs: list[dict], names: list[str], task: str, path: Path) -> None:
    """Rates x optimizers: successful runs of the seeds (colour) and their median steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in names if any(r["optimizer"] == n for r in runs)]
    counts = np.full((len(names), len(RATES)), np.nan)
    labels = [["" for _ in RATES] for _ in names]
    for i, name in enumerate(names):
        for j, rate in enumerate(RATES):
            cell = [r for r in runs if r["optimizer"] == name and r["rate"] == rate]
            if not cell:
                continue
            steps = [r["steps"] for r in cell if r["steps"] is not None]
            counts[i, j] = len(steps) / len(cell)
            median = f"\n{statistics.median(steps):.0f}" if steps else ""
            labels[i][j] = f"{len(steps)}/{len(cell)}{median}"
    figure, axes = plt.subplots(figsize=(8.5, 0.55 * len(names) + 1.6))
    image = axes.imshow(counts, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i in range(len(names)):
        for j in range(len(RATES)):
            axes.text(j, i, labels[i][j], ha="center", va="center", fontsize=8)
    axes.set_xticks(range(len(RATES)), [f"{r:g}" for r in RATES])
    axes.set_yticks(range(len(names)), [LABELS[n] for n in names])
    axes.set_xlabel("initial learning rate")
    axes.set_title(
        f"{task}: runs reaching {TASKS[task]:.0%} validation accuracy (and their median steps)",
        fontsize=10,
    )
    figure.colorbar(image, ax=axes, label="share of seeds reaching the target")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def store(results: Path, task: str, record: dict) -> list[dict]:
    """Add one run to the results file (replacing an earlier run of the same key); return all.

    The file is read again before every write, so several processes (each running a subset
    of the optimizers) can share it; the write goes through a temporary file and a rename.
    """
    runs = json.loads(results.read_text())["runs"] if results.exists() else []
    key = (record["optimizer"], record["rate"], record["seed"])
    runs = [r for r in runs if (r["optimizer"], r["rate"], r["seed"]) != key] + [record]
    results.parent.mkdir(parents=True, exist_ok=True)
    temporary = results.with_name(f"{results.name}.{os.getpid()}.tmp")
    document = {"task": task, "target": TASKS[task], "keras_backend": keras.backend.backend()}
    temporary.write_text(json.dumps({**document, "runs": runs}, indent=1))
    temporary.replace(results)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="mnist1d")
    parser.add_argument(
        "--optimizers", nargs="+", choices=list(OPTIMIZERS), default=list(OPTIMIZERS)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--rates", nargs="+", type=float, default=list(RATES))
    parser.add_argument("--table-only", action="store_true", help="only print stored results")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args()

    results = ROOT / "benchmarks" / "results" / f"lr_robustness_{args.task}.json"
    stored = json.loads(results.read_text()) if results.exists() else {"runs": []}
    runs = stored["runs"]
    if not args.table_only:
        for name in args.optimizers:
            for rate in args.rates:
                for seed in args.seeds:
                    record = run(args.task, name, rate, seed)
                    print(json.dumps(record), flush=True)
                    runs = store(results, args.task, record)
    names = list(OPTIMIZERS)
    rows = summarize(runs, names)
    print_table(rows, args.task)
    if args.markdown:
        print(markdown_table(rows, args.task))
    heat_map(runs, names, args.task, ROOT / "docs" / "images" / f"lr_robustness_{args.task}.png")


if __name__ == "__main__":
    main()
