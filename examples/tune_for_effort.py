"""Tune an MLP on MNIST-1D for effort: EffortOracle against RandomSearch and Hyperband.

The search space: learning rate (log), batch size, width, depth and optimizer. Each tuner gets
about the same total number of gradient steps:

- EffortSearch (staged): screens, an anchor, then one-seed probes raced against the best
  configuration measured in full; ranks by the expected steps to the target (`l(c*)` from
  `keras_effort.effort`).
- RandomSearch: `val_accuracy` as objective, each trial trained for `--max-steps` steps,
  until it has spent the steps EffortSearch spent.
- Hyperband: `val_accuracy`, an "epoch" of `--unit` steps, `max_epochs = max_steps / unit`,
  until it has spent the steps EffortSearch spent (the trial running then stops there).

Then the best configuration of each is re-measured with fresh seeds: its success rate within
`2 * max_steps`, and its expected steps to the target `l(c*)` with a bootstrap interval.

    python examples/tune_for_effort.py              # under 3 minutes on 2 CPU cores
    python examples/tune_for_effort.py --max-steps 2000 --target 0.7 --seeds 10
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import keras_tuner
import numpy as np
import tensorflow as tf

from keras_effort.callbacks import TargetStopping
from keras_effort.datasets import load_mnist1d
from keras_effort.effort import RuntimeDistribution
from keras_effort.tuners import EffortSearch

# Steps run in one call between batch hooks; checks and budgets are multiples of it.
STEPS_PER_EXECUTION = 25


class MLP(keras_tuner.HyperModel):
    """An MLP for MNIST-1D whose training data pipeline follows the `batch_size` hyperparameter.

    The training set is repeated forever, so `fit` length is set in steps alone: by the
    effort tuner's budget, or by `steps_per_epoch` for the baselines.
    """

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        learning_rate = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
        width = hp.Choice("width", [64, 128, 256, 512])
        depth = hp.Int("depth", 1, 3)
        optimizer = hp.Choice("optimizer", ["adam", "sgd"])
        hp.Choice("batch_size", [32, 64, 128, 256])
        layers = [keras.Input((40,))]
        layers += [keras.layers.Dense(width, activation="relu") for _ in range(depth)]
        model = keras.Sequential([*layers, keras.layers.Dense(10)])
        model.compile(
            optimizer=(
                keras.optimizers.Adam(learning_rate)
                if optimizer == "adam"
                else keras.optimizers.SGD(learning_rate, momentum=0.9)
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            steps_per_execution=STEPS_PER_EXECUTION,
        )
        return model

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, x, y, **kwargs: Any):
        batch_size = hp.get("batch_size")
        data = (
            tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(len(x), seed=0)
            .repeat()
            .batch(batch_size, drop_remainder=True)
            .prefetch(2)
        )
        kwargs.setdefault("steps_per_epoch", math.ceil(len(x) / batch_size))
        return model.fit(data, **kwargs)


class BudgetSpent(keras_tuner.errors.FatalError):
    """Raised to end a baseline search once it has spent its step budget."""


class StepBudget(keras.callbacks.Callback):
    """Counts the steps of every `fit` of a search and ends the search at `limit` steps.

    The `fit` running when the budget runs out stops there (its trial completes with what it
    has); the next trial does not start. Deep copies share the count, since KerasTuner copies
    callbacks for every execution.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.total = 0
        self._start = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> StepBudget:
        return self

    def _steps(self) -> int:
        return int(self.model.optimizer.iterations.numpy()) - self._start

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.total >= self.limit:
            raise BudgetSpent(f"the search spent its budget of {self.limit} steps")
        self._start = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.total + self._steps() >= self.limit:
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.total += self._steps()


class StopAtStep(keras.callbacks.Callback):
    """Stops a baseline trial after a number of gradient steps."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if int(self.model.optimizer.iterations.numpy()) >= self.steps:
            self.model.stop_training = True


def remeasure(
    hp: keras_tuner.HyperParameters,
    data: tuple,
    target: float,
    budget: int,
    seeds: int,
    first_seed: int,
) -> RuntimeDistribution:
    """Steps to the target of `seeds` fresh runs of a configuration, each up to `budget`."""
    (x, y), (x_val, y_val) = data
    hypermodel = MLP()
    steps: list[int | None] = []
    for seed in range(first_seed, first_seed + seeds):
        keras.utils.set_random_seed(seed)
        keras.backend.clear_session()
        model = hypermodel.build(hp)
        stop = TargetStopping(
            "val_accuracy", target, check_every=STEPS_PER_EXECUTION, validation_data=(x_val, y_val)
        )
        limit = StopAtStep(budget)
        hypermodel.fit(hp, model, x, y, epochs=budget, callbacks=[stop, limit], verbose=0)
        steps.append(stop.steps_to_target if stop.reached else None)
    return RuntimeDistribution(steps, budgets=budget)


def search_within_budget(tuner: keras_tuner.Tuner, *args: Any, **kwargs: Any) -> None:
    """Run a baseline's search until its `StepBudget` callback ends it."""
    with contextlib.suppress(BudgetSpent):
        tuner.search(*args, verbose=0, **kwargs)


def describe(hp: keras_tuner.HyperParameters) -> str:
    values = hp.values
    return (
        f"{values['optimizer']} lr={values['learning_rate']:.2g} bs={values['batch_size']} "
        f"{values['width']}x{values['depth']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.6, help="val accuracy (0.6)")
    parser.add_argument("--max-steps", type=int, default=1000, help="full budget (1000)")
    parser.add_argument("--max-trials", type=int, default=20, help="EffortSearch trials (20)")
    parser.add_argument("--executions", type=int, default=3, help="seeds per trial (3)")
    parser.add_argument("--unit", type=int, default=125, help="Hyperband epoch, steps (125)")
    parser.add_argument("--seeds", type=int, default=5, help="fresh seeds to re-measure (5)")
    parser.add_argument("--seed", type=int, default=0, help="search seed (0)")
    parser.add_argument("--directory", type=Path, default=Path("tuning/tune_for_effort"))
    args = parser.parse_args()

    data = load_mnist1d()
    (x, y), (x_val, y_val) = data
    shutil.rmtree(args.directory, ignore_errors=True)
    rows = []

    started = time.perf_counter()
    effort = EffortSearch(
        MLP(),
        target=("val_accuracy", args.target),
        max_trials=args.max_trials,
        max_steps=args.max_steps,
        executions_per_trial=args.executions,
        seed=args.seed,
        check_every=STEPS_PER_EXECUTION,
        directory=str(args.directory),
        project_name="effort",
    )
    effort.search(x, y, validation_data=(x_val, y_val), verbose=0)
    budget = effort.total_steps
    rows.append(("EffortSearch (staged)", effort, budget, time.perf_counter() - started))
    effort.results_summary(3)
    print("main effects on screen ranks:", effort.oracle.main_effects)
    print("EffortSearch's trials, in order:")
    for trial_id in effort.oracle.start_order:
        trial = effort.oracle.trials[trial_id]
        attempts = effort.oracle.attempts_of(trial)
        values = trial.hyperparameters.values
        print(
            f"  {values['effort/stage']:<7} {describe(trial.hyperparameters):<38} "
            f"{len(attempts)} x {values['effort/max_steps']} steps, "
            f"{sum(a.reached for a in attempts)} reached, effort {trial.score:.0f}"
        )

    started = time.perf_counter()
    counter = StepBudget(budget)
    random = keras_tuner.RandomSearch(
        MLP(),
        objective="val_accuracy",
        max_trials=1000,  # the step budget ends the search
        seed=args.seed,
        directory=str(args.directory),
        project_name="random",
    )
    search_within_budget(
        random,
        x,
        y,
        validation_data=(x_val, y_val),
        epochs=args.max_steps,
        callbacks=[counter, StopAtStep(args.max_steps)],
    )
    rows.append(("RandomSearch", random, counter.total, time.perf_counter() - started))

    started = time.perf_counter()
    counter = StepBudget(budget)
    hyperband = keras_tuner.Hyperband(
        MLP(),
        objective="val_accuracy",
        max_epochs=max(1, args.max_steps // args.unit),
        factor=3,
        hyperband_iterations=1000,  # the step budget ends the search
        seed=args.seed,
        directory=str(args.directory),
        project_name="hyperband",
    )
    search_within_budget(
        hyperband,
        x,
        y,
        validation_data=(x_val, y_val),
        steps_per_epoch=args.unit,
        callbacks=[counter],
    )
    rows.append(("Hyperband", hyperband, counter.total, time.perf_counter() - started))

    print()
    header = (
        f"| tuner | completed trials | tuning steps | best configuration | reached within "
        f"{2 * args.max_steps} | l(c*) steps [90% CI] | tuning s |"
    )
    print(header)
    print("|---|---:|---:|---|---:|---:|---:|")
    for index, (name, tuner, steps, seconds) in enumerate(rows):
        hp = tuner.get_best_hyperparameters(1)[0]
        distribution = remeasure(
            hp, data, args.target, 2 * args.max_steps, args.seeds, 10_000 * (index + 1)
        )
        low, high = distribution.confidence_interval("expected", level=0.9, n_boot=1000, seed=0)
        expected = distribution.expected_steps()
        completed = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
        print(
            f"| {name} | {completed} | {steps} | {describe(hp)} | "
            f"{distribution.successes}/{distribution.runs} | {_steps(expected)} "
            f"[{_steps(low)}, {_steps(high)}] | {seconds:.0f} |"
        )


def _steps(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.0f}"


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
