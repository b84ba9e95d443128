"""How much does the initial learning rate matter? Adam against Adam-HD and a hypergradient tower.

An MLP learns MNIST-1D (generated offline) from initial learning rates 1e-5 ... 1 (a log grid),
a few seeds each. Every run trains until its validation accuracy first reaches the target, or
until the step budget; the gradient step at which it got there is its steps-to-target. The
runs of one optimizer and one rate form a runtime distribution (`keras_effort.effort`), from
which the table reports successes, the expected steps with the best restart cutoff, and Koza's
effort; the last rows pool every rate, the effort when the rate is not tuned at all.

    python examples/hypergradient_robustness.py    # default grid: about 5 min on 2 cores
    python examples/hypergradient_robustness.py --seeds 5 --rates 13 --budget 4000
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from keras_effort.callbacks import TargetStopping
from keras_effort.datasets import load_mnist1d
from keras_effort.effort import RuntimeDistribution
from keras_effort.optimizers import HypergradientAdam, HypergradientSGD

OPTIMIZERS = {
    "Adam": lambda rate: keras.optimizers.Adam(rate),
    "Adam-HD": lambda rate: HypergradientAdam(rate, hypergradient_lr=1e-4),
    # Adam / SGD / SGD: the hyper-step of Adam-HD is itself learned, from a 10x smaller start.
    "Adam/SGD/SGD": lambda rate: HypergradientAdam(
        rate, hyper_optimizer=HypergradientSGD(1e-5, hypergradient_lr=1e-9)
    ),
}


def steps_to_target(name: str, rate: float, seed: int, data, args) -> int | None:
    (x, y), (x_val, y_val) = data
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(args.width, activation="relu"),
            keras.layers.Dense(args.width, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=OPTIMIZERS[name](rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    stopper = TargetStopping(
        "val_accuracy", args.target, check_every=args.check_every, validation_data=(x_val, y_val)
    )
    steps_per_epoch = len(x) // args.batch_size
    model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=-(-args.budget // steps_per_epoch),
        steps_per_epoch=steps_per_epoch,
        callbacks=[stopper],
        verbose=0,
    )
    step = stopper.steps_to_target
    return step if step is not None and step <= args.budget else None


def describe(steps: list[int | None], budget: int) -> tuple[str, str, str]:
    distribution = RuntimeDistribution(steps=steps, budgets=budget)
    expected = distribution.expected_steps()
    effort = distribution.koza_effort(z=0.99).steps
    return (
        f"{distribution.successes}/{distribution.runs}",
        "inf" if not np.isfinite(expected) else f"{expected:,.0f}",
        "inf" if not np.isfinite(effort) else f"{effort:,.0f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=int, default=6, help="log grid points in [1e-5, 1]")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--target", type=float, default=0.55, help="validation accuracy")
    parser.add_argument("--budget", type=int, default=1500, help="gradient steps per run")
    parser.add_argument("--check-every", type=int, default=25, help="steps between checks")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=OPTIMIZERS)
    args = parser.parse_args()

    (x, y), (x_test, y_test) = load_mnist1d()
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    data = ((x - mean) / std, y), ((x_test - mean) / std, y_test)
    rates = np.logspace(-5, 0, args.rates)

    start = time.perf_counter()
    results: dict[str, dict[float, list[int | None]]] = {}
    for name in args.optimizers:
        results[name] = {}
        for rate in rates:
            results[name][rate] = [
                steps_to_target(name, float(rate), seed, data, args) for seed in range(args.seeds)
            ]
            print(f"{name:>14} lr={rate:.0e} steps={results[name][rate]}", flush=True)

    print(
        f"\nMNIST-1D MLP, validation accuracy >= {args.target}, budget {args.budget} steps, "
        f"{args.seeds} seeds per rate ({time.perf_counter() - start:.0f} s)\n"
    )
    header = "| initial rate | " + " | ".join(
        f"{name}: reached | {name}: E[steps] | {name}: effort" for name in args.optimizers
    )
    print(header + " |")
    print("|---" * (1 + 3 * len(args.optimizers)) + "|")
    for rate in [*rates, None]:
        cells = []
        for name in args.optimizers:
            steps = (
                results[name][rate]
                if rate is not None
                else [s for runs in results[name].values() for s in runs]
            )
            cells.extend(describe(steps, args.budget))
        label = f"{rate:.0e}" if rate is not None else "**all rates pooled**"
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
