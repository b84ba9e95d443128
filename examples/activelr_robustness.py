"""Is ActiveLR robust to the initial learning rate? AdamW vs ActiveAdamW, SGD vs ActiveSGD.

Trains a small MLP on MNIST-1D (generated offline) from initial learning rates 1e-6 .. 1e-1
with several seeds, checks the test accuracy after every epoch and records the first gradient
step at which it reached the target, and the best accuracy within the budget. Effort numbers
come from `keras_effort.effort.RuntimeDistribution`:

- P(reach): the fraction of runs that reached the target within the budget,
- l(c*): expected steps to reach the target when restarting at the best cutoff,
- Koza E: steps of independent runs needed to reach the target with 99% probability.

    python examples/activelr_robustness.py        # 48 runs, about 4 CPU-minutes
    python examples/activelr_robustness.py --seeds 5 --epochs 40 --target 0.6

ActiveLR runs use `period="epoch"` (as in the paper's scripts) and the `ActiveLREpochEnd`
callback; `--period N` ends a period every N steps instead, `--increase` sets the additive
increase (the paper's CIFAR and ImageNet scripts used 2.0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from rich.console import Console
from rich.table import Table

from keras_effort.callbacks import TargetStopping
from keras_effort.datasets import load_mnist1d
from keras_effort.effort import RuntimeDistribution
from keras_effort.optimizers import ActiveLREpochEnd, active_adamw, active_sgd

# name -> factory(learning_rate, ActiveLR keyword arguments)
OPTIMIZERS = {
    "AdamW": lambda lr, active: keras.optimizers.AdamW(lr),
    "ActiveAdamW": lambda lr, active: active_adamw(lr, **active),
    "SGD": lambda lr, active: keras.optimizers.SGD(lr, momentum=0.9),
    "ActiveSGD": lambda lr, active: active_sgd(lr, **active),
}


def train_once(name, learning_rate, seed, data, args) -> TargetStopping:
    (x, y), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    active = {"period": args.period}
    if args.increase is not None:
        active["increase"] = args.increase
    optimizer = OPTIMIZERS[name](learning_rate, active)
    steps_per_epoch = -(-len(x) // args.batch_size)
    model.compile(
        optimizer,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=steps_per_epoch,  # one compiled call per epoch: fast on CPU
    )
    # Keep training after the target to also measure the best accuracy within the budget.
    recorder = TargetStopping("val_accuracy", args.target, stop_training=False)
    callbacks = [recorder]
    if name.startswith("Active") and args.period == "epoch":
        callbacks.append(ActiveLREpochEnd())
    model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(x_test, y_test),
        callbacks=callbacks,
        verbose=0,
    )
    return recorder


def period_argument(value: str) -> int | str:
    return value if value == "epoch" else int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learning-rates", type=float, nargs="+",
                        default=[1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1])  # fmt: skip
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=OPTIMIZERS)
    parser.add_argument("--seeds", type=int, default=2, help="runs per configuration")
    parser.add_argument("--epochs", type=int, default=20, help="budget in epochs")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--target", type=float, default=0.5, help="test accuracy to reach")
    parser.add_argument("--period", type=period_argument, default="epoch",
                        help="ActiveLR period: 'epoch' or a number of steps")  # fmt: skip
    parser.add_argument("--increase", type=float, default=None,
                        help="ActiveLR increase (default: 0.2 for AdamW, 0.1 for SGD)")  # fmt: skip
    args = parser.parse_args()

    data = load_mnist1d()
    budget = args.epochs * -(-len(data[0][0]) // args.batch_size)
    table = Table(
        title=f"MNIST-1D MLP, target test accuracy {args.target}, budget {budget} steps, "
        f"{args.seeds} seeds per row"
    )
    for column in ("optimizer", "initial lr", "P(reach)", "l(c*) steps", "Koza E steps",
                   "best acc (mean)"):  # fmt: skip
        table.add_column(column, justify="left" if column == "optimizer" else "right")
    started = time.perf_counter()
    for name in args.optimizers:
        for learning_rate in args.learning_rates:
            runs = [train_once(name, learning_rate, seed, data, args) for seed in range(args.seeds)]
            distribution = RuntimeDistribution(
                steps=[run.steps_to_target for run in runs], budgets=budget
            )
            table.add_row(
                name,
                f"{learning_rate:g}",
                f"{distribution.success_probability(budget):.2f}",
                f"{distribution.expected_steps():.0f}",
                f"{distribution.koza_effort(z=0.99).steps:.0f}",
                f"{statistics.mean(run.best_value for run in runs):.3f}",
            )
        table.add_section()
    Console().print(table)
    print(
        f"{time.perf_counter() - started:.0f} s, keras {keras.__version__}, numpy {np.__version__}"
    )


if __name__ == "__main__":
    main()
