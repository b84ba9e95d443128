"""EffortSearch against KerasTuner and Optuna at equal gradient-step (or wall-clock) budgets.

Every tuner searches the same five-dimensional space (learning rate, batch size, width, depth,
optimizer, including keras-effort's `HypergradientAdam`) on the same task, and every one of them
is stopped once it has spent the task's tuning budget in gradient steps. A shared callback counts
every optimizer step of every `fit` the tuner runs, whatever the tuner does with them; the
validation checks are not gradient steps and are not counted (every tuner makes them every
`CHECK_EVERY` steps). Each training run stops at the target through `TargetStopping`.

Tuners:

- EffortSearch (staged) and EffortSearch (random): rank by `l(c*)`, the expected steps to the
  target when restarting at the best cutoff.
- KerasTuner RandomSearch, Hyperband and BayesianOptimization, and Optuna's TPE sampler with its
  HyperbandPruner: the objective of a run is its steps to the target, or, if it missed,
  `max_steps * (1 + target - best)` (worse than any run that reached it, ordered by how close it
  came). Hyperband and the pruner use a unit of `max_steps / 10` steps.

Then each tuner's chosen configuration (and every configuration it held as its best during the
search) is re-measured from fresh seeds, each run up to `2 * max_steps` steps: `l(c*)` with a 90%
bootstrap interval, from `keras_effort.effort`. Reported per task: the median over search seeds
of the chosen configuration's `l(c*)`, and the tuning steps a tuner needed to first hold a
configuration within 1.25x of the best `l(c*)` any tuner found, and the tuning seconds (wall
clock from the search's start) it needed for that.

With `--budget-unit seconds` every tuner is stopped by the same wall-clock budget instead
(`SECONDS`, or `--tuning-seconds`): the search's clock starts with it and ends the `fit` running
when it runs out; EffortSearch then also budgets and ranks its runs in seconds
(`budget_unit="seconds"`, each run allowed the task's `max_seconds`, `max_steps` staying a cap).

    python benchmarks/tuner_comparison.py --quick           # smoke test, a few minutes
    python benchmarks/tuner_comparison.py --tasks digits --budget-unit seconds --seeds 0 1 2
    python benchmarks/tuner_comparison.py                   # the full comparison (hours)
    python benchmarks/tuner_comparison.py --tasks digits --seeds 0 1 2
    python benchmarks/tuner_comparison.py --report          # table and plot from saved JSON
    python benchmarks/tuner_comparison.py --tasks mnist1d --seeds 3 4 --merge  # add seeds
    python benchmarks/tuner_comparison.py --tasks mnist1d --tuning-steps 12800  # 4x budget

With `--merge` the runs and measurements already saved for the task are kept: only the asked
(tuner, seed) pairs are run again, configurations measured before are not re-measured (their
fresh seeds are the same), and several such processes may add to one task's file at once.

Writes `benchmarks/results/tuner_comparison_<task>.json` per task (`_quick` in quick mode,
`_tuning<N>` or `_max<N>` with a budget overridden, `_seconds<N>` with a budget in seconds) and
draws `docs/img/tuner_comparison.png` from every saved task at the standard step budgets.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import keras_tuner
import numpy as np
import tensorflow as tf

from keras_effort.callbacks import TargetStopping
from keras_effort.callbacks.monitor import optimizer_step
from keras_effort.datasets import load_digits, load_mnist1d
from keras_effort.effort import RuntimeDistribution
from keras_effort.optimizers import HypergradientAdam
from keras_effort.tuners import EffortSearch

RESULTS = Path(__file__).parent / "results"
FIGURE = Path(__file__).parent.parent / "docs" / "img" / "tuner_comparison.png"

# Steps run in one call between batch hooks; every budget and check is a multiple of it.
STEPS_PER_EXECUTION = 25
CHECK_EVERY = 25
# A configuration counts as found once the tuner holds one within this factor of the best known.
WITHIN = 1.25
# Bootstrap of the re-measured l(c*).
INTERVAL_LEVEL = 0.9
# Runs after which a configuration merely held along the way is dropped if none reached.
SCREEN_SEEDS = 3
N_BOOT = 1000

# In seconds, EffortSearch ranks by expected seconds (`budget_unit="seconds"`); this variant,
# run only by searches stopped by the clock, keeps ranking by steps, as the peers do.
RANKED_IN_STEPS = "EffortSearch (staged, ranked in steps)"
TUNERS = (
    "EffortSearch (staged)",
    "EffortSearch (random)",
    "RandomSearch",
    "Hyperband",
    "BayesianOptimization",
    "Optuna TPE+Hyperband",
    RANKED_IN_STEPS,
)

# Axis labels of the plot.
SHORT = dict(
    zip(
        TUNERS,
        (
            "EffortSearch\n(staged)",
            "EffortSearch\n(random)",
            "Random\nSearch",
            "Hyperband",
            "Bayesian\nOptimization",
            "Optuna TPE\n+Hyperband",
            "EffortSearch\n(staged, steps)",
        ),
        strict=True,
    )
)


@dataclass(frozen=True)
class Task:
    """One benchmark task: data, model family, target and budgets (all in gradient steps)."""

    name: str
    data: str  # "mnist1d" or "digits"
    model: str  # "mlp" or "conv"
    target: float  # validation accuracy to reach
    max_steps: int  # the full budget of one training run
    tuning_steps: int  # the total budget of one search, shared by every tuner

    @property
    def unit(self) -> int:
        """Hyperband's "epoch" and Optuna's smallest resource: a tenth of a run, in steps."""
        return max(STEPS_PER_EXECUTION, self.max_steps // 10 // 25 * 25)


TASKS = {
    "mnist1d": Task("mnist1d", "mnist1d", "mlp", 0.6, 400, 3_200),
    "digits": Task("digits", "digits", "mlp", 0.95, 100, 800),
    "mnist1d_conv": Task("mnist1d_conv", "mnist1d", "conv", 0.7, 1000, 10_000),
}
# Wall-clock budgets of `--budget-unit seconds`: (one search's seconds, one run's seconds), set
# so that a search fits about as many runs as its step budget does on one CPU core.
SECONDS = {"mnist1d": (60.0, 4.0), "digits": (30.0, 2.0), "mnist1d_conv": (150.0, 10.0)}

QUICK = {
    "mnist1d": Task("mnist1d", "mnist1d", "mlp", 0.5, 200, 600),
    "digits": Task("digits", "digits", "mlp", 0.95, 100, 400),
}


def load(task: Task) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    return load_mnist1d() if task.data == "mnist1d" else load_digits()


# ---------------------------------------------------------------------- the search space


def declare(hp: keras_tuner.HyperParameters) -> dict[str, Any]:
    """The search space, declared on `hp`; returns the configuration `hp` holds."""
    return {
        "learning_rate": hp.Float("learning_rate", 1e-4, 1e-1, sampling="log"),
        "batch_size": hp.Choice("batch_size", [32, 64, 128, 256]),
        "width": hp.Choice("width", [32, 64, 128, 256]),
        "depth": hp.Int("depth", 1, 3),
        # The ends of the list are the contrast the staged screens test.
        "optimizer": hp.Choice("optimizer", ["sgd", "adam", "hypergradient_adam"]),
    }


def suggest(trial: Any) -> dict[str, Any]:
    """The same search space for Optuna."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        "width": trial.suggest_categorical("width", [32, 64, 128, 256]),
        "depth": trial.suggest_int("depth", 1, 3),
        "optimizer": trial.suggest_categorical("optimizer", ["sgd", "adam", "hypergradient_adam"]),
    }


def configuration(values: dict[str, Any]) -> dict[str, Any]:
    keys = ("learning_rate", "batch_size", "width", "depth", "optimizer")
    config = {key: values[key] for key in keys}
    config["learning_rate"] = float(config["learning_rate"])
    config["batch_size"] = int(config["batch_size"])
    config["width"] = int(config["width"])
    config["depth"] = int(config["depth"])
    return config


def key_of(config: dict[str, Any]) -> str:
    return (
        f"{config['optimizer']} lr={config['learning_rate']:.3g} bs={config['batch_size']} "
        f"{config['width']}x{config['depth']}"
    )


def make_model(task: Task, config: dict[str, Any], features: int) -> keras.Model:
    if task.model == "conv":
        layers: list[Any] = [keras.Input((features,)), keras.layers.Reshape((features, 1))]
        layers += [
            keras.layers.Conv1D(config["width"] // 4, 5, padding="same", activation="relu")
            for _ in range(config["depth"])
        ]
        layers.append(keras.layers.GlobalAveragePooling1D())
    else:
        layers = [keras.Input((features,))]
        layers += [
            keras.layers.Dense(config["width"], activation="relu") for _ in range(config["depth"])
        ]
    model = keras.Sequential([*layers, keras.layers.Dense(10)])
    learning_rate = config["learning_rate"]
    optimizer = {
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9),
        "adam": lambda: keras.optimizers.Adam(learning_rate),
        "hypergradient_adam": lambda: HypergradientAdam(learning_rate),
    }[config["optimizer"]]()
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def stream(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """The training set shuffled and repeated forever: a run's length is set in steps alone."""
    return (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=0)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .prefetch(2)
    )


# ---------------------------------------------------------------------- budget accounting


class BudgetSpent(keras_tuner.errors.FatalError):
    """Ends a search once it has spent its step budget (KerasTuner re-raises fatal errors)."""


class StepCounter(keras.callbacks.Callback):
    """Counts the gradient steps of every `fit` of one search; stops the search at `limit`.

    The `fit` running when the budget runs out stops there; the next `fit` does not start.
    Deep copies are the same object, so the count survives KerasTuner's copies of callbacks.

    `fits` records every `fit`: the configuration it trained (set by the caller as `config`
    before the `fit`), its steps and its wall seconds, to tell training work from the rest.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.total = 0
        self.config: dict[str, Any] | None = None
        self.fits: list[dict[str, Any]] = []
        self._start = 0
        self._fit_started = 0.0
        self._fitting: keras.Model | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> StepCounter:
        return self

    def running(self) -> int:
        """Steps of the `fit` now running (0 between fits)."""
        if self._fitting is None:
            return 0
        return optimizer_step(self._fitting) - self._start

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.total >= self.limit:
            raise BudgetSpent(f"the search spent its budget of {self.limit} steps")
        self._fitting = self.model
        self._start = optimizer_step(self.model)
        self._fit_started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.total + self.running() >= self.limit:
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        steps = self.running()
        self.total += steps
        self._fitting = None
        self.fits.append(
            {
                **(self.config or {}),
                "steps": steps,
                "seconds": round(time.perf_counter() - self._fit_started, 4),
            }
        )


class Clock(StepCounter):
    """A `StepCounter` whose search budget is wall-clock seconds from its creation.

    It still counts steps; the `fit` running when the time runs out stops at its next batch
    end, and the next `fit` does not start.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(limit=2**62)
        self.seconds = seconds
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.elapsed() >= self.seconds:
            raise BudgetSpent(f"the search spent its budget of {self.seconds:g} s")
        super().on_train_begin(logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.elapsed() >= self.seconds:
            self.model.stop_training = True


class StopAt(keras.callbacks.Callback):
    """Stops a run after `steps` gradient steps of this `fit`."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self._start = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start = optimizer_step(self.model)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if optimizer_step(self.model) - self._start >= self.steps:
            self.model.stop_training = True


def run_score(stop: TargetStopping, task: Task, steps_before: int = 0) -> float:
    """A baseline run's objective: its steps to the target, or past `max_steps` if missed."""
    if stop.reached:
        return float(steps_before + stop.steps_to_target)
    best = 0.0 if stop.best_value is None else float(stop.best_value)
    return task.max_steps * (1.0 + max(0.0, task.target - best))


# ---------------------------------------------------------------------- the tuners


class HyperModel(keras_tuner.HyperModel):
    """The task's model; with `baseline=True` `fit` returns the run's score as `effort`."""

    def __init__(self, task: Task, features: int, baseline: bool) -> None:
        super().__init__()
        self.task = task
        self.features = features
        self.baseline = baseline

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        return make_model(self.task, declare(hp), self.features)

    def fit(self, hp, model, x, y, validation_data=None, callbacks=(), **kwargs):
        kwargs.setdefault("steps_per_epoch", self.task.unit)
        kwargs["verbose"] = 0
        for callback in callbacks:
            if isinstance(callback, StepCounter):
                callback.config = configuration(hp.values)
        data = stream(x, y, hp.get("batch_size"))
        if not self.baseline:  # EffortTuner measures the runs itself
            return model.fit(data, callbacks=callbacks, **kwargs)
        stop = TargetStopping(
            "val_accuracy",
            self.task.target,
            check_every=CHECK_EVERY,
            validation_data=validation_data,
        )
        model.fit(data, callbacks=[*callbacks, stop], **kwargs)
        # A Hyperband trial resumed from an earlier round already ran `initial_epoch` units.
        before = kwargs.get("initial_epoch", 0) * self.task.unit
        return {"effort": run_score(stop, self.task, before)}


class Trajectory:
    """The configuration a tuner held as its best after each trial, and the steps spent then.

    `seconds` holds, for each point, the wall-clock seconds since the search started.
    """

    def __init__(self, counter: StepCounter) -> None:
        self.counter = counter
        self.points: list[tuple[int, dict[str, Any]]] = []
        self.seconds: list[float] = []
        self._started = time.perf_counter()

    def hold(self, config: dict[str, Any] | None) -> None:
        if config is not None:
            self.points.append((self.counter.total + self.counter.running(), config))
            self.seconds.append(time.perf_counter() - self._started)


def tracked(cls: type, trajectory: Trajectory) -> keras_tuner.Tuner:
    """`cls` (a KerasTuner tuner) that records its best configuration after every trial."""

    class Tracked(cls):
        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            best = [t for t in self.oracle.get_best_trials(1) if t.status == "COMPLETED"]
            trajectory.hold(configuration(best[0].hyperparameters.values) if best else None)

    Tracked.__name__ = cls.__name__
    return Tracked


def run_keras_tuner(
    name: str,
    task: Task,
    data: tuple,
    seed: int,
    directory: str,
    trajectory: Trajectory,
    max_seconds: float | None = None,
) -> dict[str, Any] | None:
    """One KerasTuner search; with `max_seconds`, EffortSearch budgets its runs in seconds
    (but `RANKED_IN_STEPS`, which keeps its budgets and ranking in steps)."""
    (x, y), validation = data
    counter = trajectory.counter
    common = {"directory": directory, "project_name": "search", "overwrite": True}
    features = x.shape[1]
    if name.startswith("EffortSearch"):
        in_steps = max_seconds is None or name == RANKED_IN_STEPS
        tuner = tracked(EffortSearch, trajectory)(
            HyperModel(task, features, baseline=False),
            target=("val_accuracy", task.target),
            max_trials=10_000,  # the step budget ends the search
            max_steps=task.max_steps,
            executions_per_trial=3,
            strategy="random" if "random" in name else "staged",
            seed=seed,
            check_every=CHECK_EVERY,
            budget_unit="steps" if in_steps else "seconds",
            max_seconds=None if in_steps else max_seconds,
            **common,
        )
        kwargs: dict[str, Any] = {}
    else:
        objective = keras_tuner.Objective("effort", direction="min")
        hypermodel = HyperModel(task, features, baseline=True)
        if name == "Hyperband":
            tuner = tracked(keras_tuner.Hyperband, trajectory)(
                hypermodel,
                objective=objective,
                max_epochs=task.max_steps // task.unit,
                factor=3,
                hyperband_iterations=10_000,
                seed=seed,
                **common,
            )
            kwargs = {}
        else:
            cls = (
                keras_tuner.RandomSearch
                if name == "RandomSearch"
                else (keras_tuner.BayesianOptimization)
            )
            tuner = tracked(cls, trajectory)(
                hypermodel, objective=objective, max_trials=10_000, seed=seed, **common
            )
            kwargs = {"epochs": task.max_steps // task.unit}
    with contextlib.suppress(BudgetSpent):
        tuner.search(x, y, validation_data=validation, callbacks=[counter], verbose=0, **kwargs)
    best = [t for t in tuner.oracle.get_best_trials(1) if t.status == "COMPLETED"]
    return configuration(best[0].hyperparameters.values) if best else None


class PruningListener:
    """Reports each check of `TargetStopping` to an Optuna trial and stops pruned runs."""

    def __init__(self, trial: Any, task: Task) -> None:
        self.trial = trial
        self.task = task
        self.pruned = False

    def on_check(self, source: TargetStopping, value: float) -> None:
        step = source.total_steps
        if source.reached:
            return  # the run ends at this check with its steps as the final value
        best = 0.0 if source.best_value is None else float(source.best_value)
        self.trial.report(self.task.max_steps * (1.0 + max(0.0, self.task.target - best)), step)
        if self.trial.should_prune():
            self.pruned = True
            source.model.stop_training = True

    def on_attempt_end(self, source: TargetStopping, attempt: Any) -> None:
        pass

    def on_training_end(self, source: TargetStopping) -> None:
        pass


def run_optuna(task: Task, data: tuple, seed: int, trajectory: Trajectory) -> dict | None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    (x, y), validation = data
    counter = trajectory.counter

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial)
        keras.utils.set_random_seed(seed * 1000 + trial.number)
        model = make_model(task, config, x.shape[1])
        stop = TargetStopping(
            "val_accuracy", task.target, check_every=CHECK_EVERY, validation_data=validation
        )
        listener = PruningListener(trial, task)
        stop.add_listener(listener)
        counter.config = config
        model.fit(
            stream(x, y, config["batch_size"]),
            steps_per_epoch=task.unit,
            epochs=task.max_steps // task.unit,
            callbacks=[counter, stop],
            verbose=0,
        )
        if listener.pruned:
            raise optuna.TrialPruned()
        return run_score(stop, task)

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if complete:
            trajectory.hold(configuration(study.best_trial.params))

    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=task.unit, max_resource=task.max_steps, reduction_factor=3
        ),
    )
    with contextlib.suppress(BudgetSpent):
        study.optimize(objective, n_trials=10_000, callbacks=[record])
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return configuration(study.best_trial.params) if complete else None


# ---------------------------------------------------------------------- re-measurement


class Remeasurer:
    """`l(c*)` of configurations from fresh seeds, each run up to `2 * max_steps`; cached."""

    def __init__(
        self, task: Task, data: tuple, seeds: int, measured: list[dict[str, Any]] = ()
    ) -> None:
        self.task = task
        self.data = data
        self.seeds = seeds
        # Measurements saved by an earlier run: the same fresh seeds would give the same ones.
        self.cache: dict[str, dict[str, Any]] = {key_of(m["config"]): m for m in measured}

    def __call__(self, config: dict[str, Any], screen: bool = False) -> dict[str, Any]:
        """The measurement of `config`.

        With `screen=True` (a configuration a tuner held during its search but did not
        choose), the measurement ends after `SCREEN_SEEDS` runs if all of them missed the target
        within `2 * max_steps`: its `l(c*)` is then recorded as `inf`, as such a configuration
        is far from the best. A configuration measured that way and later chosen is measured
        again in full.
        """
        key = key_of(config)
        cached = self.cache.get(key)
        if cached is None or (cached["screened_out"] and not screen):
            self.cache[key] = self._measure(config, screen)
        return self.cache[key]

    def _measure(self, config: dict[str, Any], screen: bool) -> dict[str, Any]:
        (x, y), validation = self.data
        budget = 2 * self.task.max_steps
        keras.backend.clear_session()
        # One model per configuration: every seed starts it from fresh weights and the
        # optimizer's initial state, and reuses its traced train and test functions.
        model = make_model(self.task, config, x.shape[1])
        model.optimizer.build(model.trainable_variables)
        initial_state = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
        steps: list[int | None] = []
        for seed in range(100_000, 100_000 + self.seeds):
            keras.utils.set_random_seed(seed)
            model.set_weights(make_model(self.task, config, x.shape[1]).get_weights())
            for variable, value in zip(model.optimizer.variables, initial_state, strict=True):
                variable.assign(value)
            stop = TargetStopping(
                "val_accuracy",
                self.task.target,
                check_every=CHECK_EVERY,
                validation_data=validation,
            )
            model.fit(
                stream(x, y, config["batch_size"]),
                steps_per_epoch=self.task.unit,
                epochs=budget // self.task.unit,
                callbacks=[stop, StopAt(budget)],
                verbose=0,
            )
            steps.append(stop.steps_to_target if stop.reached else None)
            if screen and len(steps) == SCREEN_SEEDS and not any(steps):
                return {
                    "config": config,
                    "steps": steps,
                    "budget": budget,
                    "l": math.inf,
                    "interval": [math.inf, math.inf],
                    "screened_out": True,
                }
        distribution = RuntimeDistribution(steps, budgets=budget)
        low, high = distribution.confidence_interval(
            "expected", level=INTERVAL_LEVEL, n_boot=N_BOOT, seed=0
        )
        return {
            "config": config,
            "steps": steps,
            "budget": budget,
            "l": distribution.expected_steps(),
            "interval": [low, high],
            "screened_out": False,
        }


# ---------------------------------------------------------------------- one task


def run_task(
    task: Task,
    tuners: list[str],
    seeds: list[int],
    remeasure_seeds: int,
    save: Callable[[dict], dict],
    measured: list[dict[str, Any]] = (),
    wall_budget: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Every tuner at every seed (seed by seed, so a cut-short run stays balanced).

    With `wall_budget`, `(search seconds, run seconds)`, searches are stopped by the wall clock.

    After each search its chosen configuration and every configuration it held are re-measured
    and the result so far is passed to `save`, which returns the result as saved (merged with
    what other runs saved, under `--merge`). `measured` are measurements saved before.
    """
    data = load(task)
    remeasure = Remeasurer(task, data, remeasure_seeds, measured)
    result: dict[str, Any] = {
        "task": asdict(task),
        "remeasure_seeds": remeasure_seeds,
        "runs": [],
        "machine": platform.platform(),
        "measured": list(remeasure.cache.values()),
        "budget_unit": "steps" if wall_budget is None else "seconds",
    }
    if wall_budget is not None:
        result["tuning_seconds"], result["max_seconds"] = wall_budget
    saved = result
    for seed in seeds:
        for name in tuners:
            keras.backend.clear_session()
            counter = (
                StepCounter(task.tuning_steps) if wall_budget is None else Clock(wall_budget[0])
            )
            trajectory = Trajectory(counter)
            started = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="tuner_comparison_") as directory:
                if name.startswith("Optuna"):
                    chosen = run_optuna(task, data, seed, trajectory)
                else:
                    chosen = run_keras_tuner(
                        name,
                        task,
                        data,
                        seed,
                        directory,
                        trajectory,
                        None if wall_budget is None else wall_budget[1],
                    )
            seconds = time.perf_counter() - started
            run = {
                "tuner": name,
                "seed": seed,
                "steps_spent": counter.total,
                "seconds": seconds,
                "chosen": chosen,
                "chosen_l": remeasure(chosen)["l"] if chosen else math.inf,
                "fits": counter.fits,
                "trajectory": [
                    [steps, config, round(elapsed, 2)]
                    for (steps, config), elapsed in zip(
                        trajectory.points, trajectory.seconds, strict=True
                    )
                ],
            }
            for _, config in trajectory.points:
                remeasure(config, screen=True)
            result["runs"].append(run)
            print(
                f"[{task.name}] {name} seed {seed}: {counter.total} steps, {seconds:.0f} s, "
                f"chose {key_of(chosen) if chosen else None}, l(c*) {run['chosen_l']:.0f}",
                flush=True,
            )
            result["measured"] = list(remeasure.cache.values())
            saved = save(result)
    return saved


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new`'s runs and measurements added to `old`'s: a (tuner, seed) run in both is `new`'s.

    Raises:
        ValueError: when the two were run on different tasks or re-measured differently.
    """
    for field in ("task", "remeasure_seeds", "budget_unit", "tuning_seconds"):
        if old.get(field) != new.get(field):
            raise ValueError(
                f"cannot merge: the saved result has {field} {old[field]!r}, this run "
                f"{new[field]!r}; drop --merge to start the task afresh"
            )
    rerun = {(r["tuner"], r["seed"]) for r in new["runs"]}
    runs = [r for r in old["runs"] if (r["tuner"], r["seed"]) not in rerun] + new["runs"]
    measured = {key_of(m["config"]): m for m in old["measured"]}
    for m in new["measured"]:
        kept = measured.get(key_of(m["config"]))
        if kept is None or (kept["screened_out"] and not m["screened_out"]):
            measured[key_of(m["config"])] = m
    return {**new, "runs": runs, "measured": list(measured.values())}


def score_trajectories(result: dict[str, Any], best: float | None = None) -> None:
    """The tuning steps (and seconds) each run needed to first hold a configuration within
    1.25x of the best.

    The best is the best `l(c*)` measured in `result`, unless a better one is given. A run saved
    before trajectories held seconds gets `seconds_to_within` None.
    """
    l_of = {key_of(m["config"]): m["l"] for m in result["measured"]}
    best = min([*l_of.values(), math.inf if best is None else best])
    result["best_known_l"] = best
    for run in result["runs"]:
        first = next(
            (
                point
                for point in run["trajectory"]
                if math.isfinite(best) and l_of[key_of(point[1])] <= WITHIN * best
            ),
            None,
        )
        run["steps_to_within"] = None if first is None else first[0]
        run["seconds_to_within"] = None if first is None or len(first) < 3 else first[2]


def saver(path: Path, command: str, merge: bool) -> Callable[[dict], dict]:
    """A `save` for `run_task`: writes `path` whole (a reader never sees half of it).

    With `merge`, under an exclusive lock, the result is first merged into what `path` holds.
    """

    def save(result: dict[str, Any]) -> dict[str, Any]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            commands = [command]
            if merge and path.exists():
                old = json.loads(path.read_text())
                result = merged(old, result)
                commands = [c for c in old.get("commands") or [old["command"]] if c != command]
                commands.append(command)
            result = {**result, "commands": commands}
            result["seeds"] = len({r["seed"] for r in result["runs"]})
            result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            score_trajectories(result)
            partial = path.with_suffix(".json.partial")
            partial.write_text(json.dumps(result, indent=1, default=_json_default))
            shutil.move(partial, path)
        return result

    return save


# ---------------------------------------------------------------------- report


def summarize(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per tuner: median chosen l(c*), median steps to within 1.25x, how many runs got there."""
    task = result["task"]
    rows = []
    for name in TUNERS:
        runs = [r for r in result["runs"] if r["tuner"] == name]
        if not runs:
            continue
        ls = [r.get("chosen_l", math.inf) for r in runs]
        # A run that never held a good configuration is censored at the whole budget.
        within = [
            r["steps_to_within"] if r["steps_to_within"] is not None else math.inf for r in runs
        ]
        # Runs saved before trajectories held seconds have none to count.
        timed = [r for r in runs if all(len(point) > 2 for point in r["trajectory"])]
        seconds_within = [
            math.inf if r["seconds_to_within"] is None else r["seconds_to_within"] for r in timed
        ]
        rows.append(
            {
                "tuner": name,
                "runs": len(runs),
                "median_l": statistics.median(ls),
                "l_range": [min(ls), max(ls)],
                "median_steps_to_within": statistics.median(within),
                "found": sum(math.isfinite(w) for w in within),
                "budget": task["tuning_steps"],
                "median_seconds": statistics.median(r["seconds"] for r in runs),
                "median_seconds_to_within": (
                    statistics.median(seconds_within) if seconds_within else None
                ),
            }
        )
    return rows


def print_table(result: dict[str, Any]) -> None:
    task = result["task"]
    done = [r["seed"] for r in result["runs"]]
    print()
    print(
        f"### {task['name']} ({task['model']}, val accuracy {task['target']}, runs of "
        f"{task['max_steps']} steps, tuning budget {_budget(result)}, search seeds "
        f"run: {len(set(done))}; re-measured from "
        f"{result['remeasure_seeds']} fresh seeds; best known l(c*) = "
        f"{result['best_known_l']:.0f})"
    )
    print()
    print(
        "| tuner | median l(c*) of chosen [min, max] | median steps to within 1.25x "
        "| median tuning s to within 1.25x | runs that got there | median tuning s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for row in summarize(result):
        low, high = row["l_range"]
        print(
            f"| {row['tuner']} | {_fmt(row['median_l'])} [{_fmt(low)}, {_fmt(high)}] | "
            f"{_fmt(row['median_steps_to_within'])} | "
            f"{_fmt(row['median_seconds_to_within'], missing='-')} | "
            f"{row['found']}/{row['runs']} | {row['median_seconds']:.0f} |"
        )


def _budget(result: dict[str, Any]) -> str:
    """A result's tuning budget, in its unit."""
    if result.get("budget_unit") == "seconds":
        return f"{result['tuning_seconds']:g} s (runs of at most {result['max_seconds']:g} s)"
    return f"{result['task']['tuning_steps']} steps"


def _fmt(value: float | None, missing: str = "never") -> str:
    if value is None:
        return missing
    return "never" if math.isinf(value) else f"{value:.0f}"


def plot(
    results: list[dict[str, Any]], path: Path, longer: dict[str, list[dict[str, Any]]]
) -> None:
    """The figure: one column per task; `longer` holds, per task, searches at larger budgets,
    whose median steps to within 1.25x are noted under the steps panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(7 * len(results), 7.5), squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for column, result in enumerate(results):
        task = result["task"]
        names = [n for n in TUNERS if any(r["tuner"] == n for r in result["runs"])]
        for row, (field, label, cap) in enumerate(
            (
                ("chosen_l", "l(c*) of the chosen configuration (steps)", 2 * task["max_steps"]),
                (
                    "steps_to_within",
                    f"tuning steps to hold one within {WITHIN}x best",
                    task["tuning_steps"],
                ),
            )
        ):
            ax = axes[row][column]
            for i, name in enumerate(names):
                values = [r.get(field) for r in result["runs"] if r["tuner"] == name]
                values = [math.inf if v is None else v for v in values]
                shown = [min(v, cap * 1.1) for v in values]
                jitter = np.linspace(-0.15, 0.15, len(shown)) if len(shown) > 1 else [0.0]
                ax.scatter(
                    [i + j for j in jitter],
                    shown,
                    color=colors[i],
                    alpha=0.8,
                    zorder=3,
                    marker="o",
                )
                median = statistics.median(values)
                ax.hlines(min(median, cap * 1.1), i - 0.3, i + 0.3, color="black", zorder=4)
            ax.axhline(cap * 1.1, color="grey", linestyle=":", linewidth=1)
            ax.text(
                -0.45,
                cap * 1.1,
                "never / inf",
                ha="left",
                va="bottom",
                fontsize=8,
                color="grey",
            )
            if row == 0:
                ax.axhline(
                    result["best_known_l"] * WITHIN,
                    color="grey",
                    linestyle="--",
                    linewidth=1,
                    label=f"{WITHIN}x the best l(c*) known",
                )
                # Wherever the dots leave room: a task's dots may sit anywhere along the line.
                ax.legend(loc="best", fontsize=8, framealpha=0.9)
                ax.set_title(
                    f"{task['name']} ({task['model']}): target {task['target']}, "
                    f"budget {task['tuning_steps']} steps"
                )
            ax.set_ylabel(label)
            ax.set_ylim(0, cap * 1.2)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels([SHORT[n] for n in names], fontsize=8)
            ax.grid(axis="y", alpha=0.3)
            if row == 1:
                notes = [
                    f"{row_['tuner']} given {row_['budget']:,} steps: median "
                    f"{_fmt(row_['median_steps_to_within'])} ({row_['found']}/{row_['runs']} "
                    "got there)"
                    for other in longer.get(task["name"], [])
                    for row_ in summarize(other)
                ]
                if notes:
                    ax.text(
                        0.98,
                        0.55,
                        "\n".join(notes),
                        transform=ax.transAxes,
                        ha="right",
                        fontsize=8,
                        bbox={"facecolor": "white", "edgecolor": "grey", "alpha": 0.9},
                    )
    fig.suptitle("Each dot one search seed; bar: median; lower is better")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def result_path(task: str, quick: bool, overrides: str = "") -> Path:
    """Where a task's result is saved; a run with overridden budgets gets a file of its own."""
    return RESULTS / f"tuner_comparison_{task}{'_quick' if quick else ''}{overrides}.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets, 1 seed: a smoke test")
    parser.add_argument("--tasks", nargs="+", default=None, help="mnist1d digits [mnist1d_conv]")
    parser.add_argument("--tuners", nargs="+", default=None, help="a subset of the tuners, by name")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="the search seeds (0 1 2 3 4)"
    )
    parser.add_argument(
        "--merge", action="store_true", help="add to the task's saved runs instead of replacing"
    )
    parser.add_argument("--remeasure-seeds", type=int, default=None, help="fresh seeds (10)")
    parser.add_argument("--tuning-steps", type=int, default=None, help="override the budget")
    parser.add_argument("--max-steps", type=int, default=None, help="override a run's budget")
    parser.add_argument(
        "--budget-unit",
        choices=("steps", "seconds"),
        default="steps",
        help="stop every search at the step budget, or at a wall-clock budget (SECONDS)",
    )
    parser.add_argument(
        "--tuning-seconds", type=float, default=None, help="override the budget in seconds"
    )
    parser.add_argument("--report", action="store_true", help="table and plot from saved JSON")
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args(argv)

    tasks = QUICK if args.quick else TASKS
    names = args.tasks or (["digits"] if args.quick else ["mnist1d", "digits"])
    overrides = "".join(
        f"_{name}{value}"
        for name, value in (("tuning", args.tuning_steps), ("max", args.max_steps))
        if value
    )
    in_seconds = args.budget_unit == "seconds"
    if not args.report:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        # KerasTuner and the re-measurement clear the Keras session before every model, and
        # each clear runs a full garbage collection: leave the libraries' own objects out of it.
        gc.freeze()
        tuners = args.tuners or [t for t in TUNERS if in_seconds or t != RANKED_IN_STEPS]
        seeds = args.seeds or list(range(1 if args.quick else 5))
        remeasure_seeds = args.remeasure_seeds or (3 if args.quick else 10)
        for name in names:
            task = tasks[name]
            if args.tuning_steps:
                task = Task(**{**asdict(task), "tuning_steps": args.tuning_steps})
            if args.max_steps:
                task = Task(**{**asdict(task), "max_steps": args.max_steps})
            command = "python benchmarks/tuner_comparison.py " + shlex.join(
                sys.argv[1:] if argv is None else argv
            )
            seconds = None
            if in_seconds:
                tuning, run = SECONDS[name]
                seconds = (args.tuning_seconds or tuning, run)
            path = result_path(name, args.quick, overrides + _seconds_suffix(seconds))
            measured = []
            if args.merge and path.exists():
                measured = json.loads(path.read_text())["measured"]
            save = saver(path, command, args.merge)
            print_table(run_task(task, tuners, seeds, remeasure_seeds, save, measured, seconds))
    results = []
    longer: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        seconds = None
        if in_seconds:
            seconds = (args.tuning_seconds or SECONDS[name][0], SECONDS[name][1])
        path = result_path(name, args.quick, overrides + _seconds_suffix(seconds))
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        # Searches of the same task at other tuning budgets may have found a better
        # configuration: "within 1.25x of the best known" is measured against all of them.
        same_runs = re.compile(
            rf"tuner_comparison_{re.escape(name)}{'_quick' if args.quick else ''}"
            r"(_tuning\d+)?(_seconds[\dp]+)?\.json"
        )
        related = [result] + [
            json.loads(other.read_text())
            for other in sorted(RESULTS.glob("tuner_comparison_*.json"))
            if other != path and same_runs.fullmatch(other.name)
        ]
        best = min(m["l"] for r in related for m in r["measured"])
        for each in related:
            score_trajectories(each, best)
            if args.report:
                print_table(each)
        longer[result["task"]["name"]] = [
            r
            for r in related[1:]
            if r.get("budget_unit", "steps") == "steps"
            and r["task"]["tuning_steps"] > result["task"]["tuning_steps"]
        ]
        results.append(result)
    if results and not overrides and not in_seconds and not args.quick:  # standard budgets only
        plot(results, args.figure, longer)


def _seconds_suffix(seconds: tuple[float, float] | None) -> str:
    return "" if seconds is None else f"_seconds{seconds[0]:g}".replace(".", "p")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


if __name__ == "__main__":
    main()
