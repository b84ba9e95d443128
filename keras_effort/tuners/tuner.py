"""`EffortTuner` runs the oracle's trials as independent restarts; `EffortSearch` builds both."""

from __future__ import annotations

import contextlib
import gc
import inspect
import json
import math
import os
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import keras
import keras_tuner
from keras_tuner.engine.trial import Trial, TrialStatus

from keras_effort import arguments as check
from keras_effort.callbacks import EffortTensorBoard, Restarts, TargetStopping
from keras_effort.callbacks.target_stopping import as_ledger
from keras_effort.effort import Target
from keras_effort.ledger import Attempt, Ledger
from keras_effort.tuners import checks, metrics, space
from keras_effort.tuners.display import SearchDisplay
from keras_effort.tuners.oracle import EffortOracle
from keras_effort.tuners.plan import EXECUTIONS, MAX_SECONDS, MAX_STEPS, SEED

# Checks of the target per execution when `check_every` is not given.
_CHECKS_PER_EXECUTION = 20
# Seconds a worker waits before asking again when the chief answers IDLE.
_IDLE_WAIT = 1.0
# Built models kept for reuse, each with its traced functions: a staged search's probes move
# mostly the learning rate, so a few models of recent graphs serve most of its configurations.
_KEPT_MODELS = 4


class EffortTuner(keras_tuner.Tuner):
    """Runs each trial as independent restarts, stopped at the target or at the trial's budget.

    Every execution builds a fresh model under its own seed (`effort/seed + execution`), trains
    it with a `TargetStopping` that checks the target every `check_every` steps and a stop at
    the trial's step budget (`effort/max_steps`), writes the attempt to the `Ledger`, and
    reports its steps, outcome, budget and best value to the oracle as numeric metrics
    (`execution_<i>_steps`, `_reached`, `_budget`, `_best`, `_seconds`, `_outcome`), which is all a
    distributed oracle sees. `epochs` given to `search` is replaced: the budget decides when
    training ends. With step-wise checks of a `val_` metric the tuner evaluates
    `validation_data` itself, so it is not also passed to `fit`.

    An `EffortTensorBoard` among the callbacks is bound to each execution's `TargetStopping`
    (whatever `source` it was given) and writes to `<log_dir>/<trial_id>/execution<i>`, with
    the trial's hyperparameters in its HParams session.

    Args:
        hypermodel: a `keras_tuner.HyperModel` or a function building a compiled model from
            `hp`.
        oracle: an `EffortOracle`.
        ledger: where every execution is recorded: a `Ledger`, a path or a database URL
            (`postgresql://...`, shared by every process of a distributed search); default
            `<project_dir>/ledger.sqlite`. Rows go to the experiment
            `<project_name>-<search_id>/trial_<id>`, run `trial_<id>/execution_<i>`, writer
            `search-<search_id>`, `search_id` being 8 hex digits of a hash of the project
            folder's absolute path: searches in other folders never touch each other's rows,
            and every process of one distributed search must give the same `directory`.
        check_every: gradient steps between checks of the target; default a twentieth of
            the trial's budget. The budget is rounded up to a multiple of it, so the last check
            falls on the budget.
        validation_batch_size: batch size of the step-wise evaluations.
        **kwargs: arguments of `keras_tuner.Tuner` (`directory`, `project_name`,
            `overwrite`, `distribution_strategy`, ...).

    Raises:
        TypeError: if `oracle` is not an `EffortOracle`.
        ValueError: on a bad argument or search space, naming it.
    """

    def __init__(
        self,
        hypermodel: keras_tuner.HyperModel | Any = None,
        oracle: EffortOracle | None = None,
        ledger: Ledger | str | os.PathLike[str] | None = None,
        check_every: int | None = None,
        validation_batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(oracle, EffortOracle):
            raise TypeError(f"`oracle` must be an EffortOracle, got {type(oracle).__name__}")
        if "executions_per_trial" in kwargs:
            raise ValueError(
                "`executions_per_trial` belongs to the EffortOracle, which also sets it per stage"
            )
        check_every = check.optional(check.positive_int, "check_every", check_every)
        ledger = as_ledger(ledger)
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        # On a worker `self.oracle` becomes a gRPC client; the target and measure are read from
        # this local copy, which the same script built identically on every process.
        self.effort_oracle = oracle
        if not self._is_worker():
            oracle.check_search_space()
        else:
            self.oracle = _PatientOracleClient(self.oracle)
        self.ledger = ledger if ledger is not None else Ledger(self._ledger_path())
        # Searches sharing a ledger are told apart by their project folder: its absolute path
        # names the search's experiments and is the writer of its rows, so that a resumed
        # search (or another worker re-running a trial) replaces its own rows and no other's.
        self._search_ledger = self.ledger.as_writer(f"search-{self.search_id}")
        self.check_every = check_every
        self.validation_batch_size = validation_batch_size
        self._target_checked = False
        # The last configuration, its model and its optimizer's initial state.
        self._last_model: tuple[dict[str, Any], keras.Model, list[Any]] | None = None
        # Models by `_graph_key`, the most recently used last.
        self._kept_models: OrderedDict[str, keras.Model] = OrderedDict()

    @property
    def search_id(self) -> str:
        """8 hex digits of a hash of the project folder's path (`metrics.search_id`)."""
        return self.effort_oracle.search_id

    @property
    def search_name(self) -> str:
        """`<project_name>-<search_id>`, which names the search's experiments in the ledger."""
        return self.effort_oracle.scoring.search

    @property
    def target(self) -> Target:
        """The target every execution must reach."""
        return self.effort_oracle.target

    @property
    def total_seconds(self) -> float:
        """Wall-clock seconds of training of all executions of the search so far."""
        return self.effort_oracle.scoring.total_seconds(self._all_trials())

    @property
    def total_steps(self) -> int:
        """Gradient steps run by all executions of all trials of the search so far."""
        return self.effort_oracle.scoring.total_steps(self._all_trials())

    def _all_trials(self) -> list[Trial]:
        # On a worker the trials are the chief's, which its gRPC client hands out ranked.
        if isinstance(self.oracle, EffortOracle):
            return list(self.oracle.trials.values())
        return self.oracle.get_best_trials(2**31 - 1)

    def _ledger_path(self) -> str:
        return os.path.join(self.project_dir, "ledger.sqlite")

    # ---------------------------------------------------------------- trials

    def run_trial(self, trial: Trial, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Run the trial's executions as attempts; return what the oracle scores them by.

        Each execution is one attempt of a `Restarts` whose policy is the trial's budget, so
        the tuner, the callbacks and the ledger share one record of every attempt.
        """
        hp = trial.hyperparameters
        budget = int(hp.values[MAX_STEPS])
        executions = int(hp.values[EXECUTIONS])
        base_seed = int(hp.values[SEED])
        max_seconds = hp.values.get(MAX_SECONDS)  # set only when the budget is in seconds
        check_every = self.check_every or max(1, budget // _CHECKS_PER_EXECUTION)
        budget = math.ceil(budget / check_every) * check_every
        validation_data = kwargs.get("validation_data")
        if self.target.metric.startswith("val_"):
            kwargs.pop("validation_data", None)  # evaluated step-wise by TargetStopping
        original_callbacks = kwargs.pop("callbacks", [])
        # Every epoch has at least one step, so `budget` epochs hold the whole budget whatever
        # batch size or steps per epoch the hypermodel's `fit` picks; the budget ends training.
        kwargs["epochs"] = budget
        # The oracle prints one line per trial; Keras' bars would count epochs of one step.
        kwargs["verbose"] = 0

        attempts: list[Attempt] = []
        best_key: tuple[float, float] | None = None
        # With budgets in seconds a new configuration's first call of its train and test
        # functions, which traces them, would count against its first execution.
        warm_up = max_seconds is not None and not self._holds_model_of(hp)
        for execution in range(executions):
            seed = base_seed + execution
            keras.utils.set_random_seed(seed)
            model = self._model_of(hp)
            if not self._target_checked:
                self._check_target(model, validation_data, args, kwargs)
            if warm_up and execution == 0:
                self._warm_up(hp, model, validation_data, args, kwargs)
            stopping = TargetStopping(
                self.target.metric,
                self.target.value,
                mode=self.target.mode,
                check_every=check_every,
                validation_data=validation_data,
                ledger=self._search_ledger,
                experiment=metrics.experiment_of(self.search_name, trial.trial_id),
                config=_scalar_values(hp.values),
                validation_batch_size=self.validation_batch_size,
            )
            # A re-run trial writes its execution under the same key and writer: one row.
            restarts = Restarts(
                stopping,
                policy=[budget],
                max_total_steps=budget,
                seed=seed,
                run=metrics.run_of(trial.trial_id, execution),
                verbose=0,
            )
            callbacks = self._deepcopy_callbacks(original_callbacks)
            self._configure_tensorboard_dir(callbacks, trial, execution)
            self._bind_effort_tensorboards(callbacks, restarts, trial, execution)
            callbacks += [restarts, _TunerHooks(self, trial)]
            if max_seconds is not None:
                callbacks.append(_WallClockBudget(max_seconds))
            with restarts:  # an interrupted execution's attempt is recorded as "stopped"
                self.hypermodel.fit(hp, model, *args, **dict(kwargs, callbacks=callbacks))

            attempt = restarts.attempts[-1]
            attempts.append(attempt)
            key = self.effort_oracle.scoring.attempt_key(attempt)
            if best_key is None or key < best_key:
                best_key = key
                self._save_best_model(trial.trial_id, model)
        return self.effort_oracle.trial_results(attempts)

    def _holds_model_of(self, hp: keras_tuner.HyperParameters) -> bool:
        """Whether the last model `_model_of` returned is of `hp`'s configuration (traced)."""
        return self._last_model is not None and self._last_model[0] == space.configuration(
            hp.values
        )

    def _warm_up(
        self,
        hp: keras_tuner.HyperParameters,
        model: keras.Model,
        validation_data: Any,
        args: tuple,
        kwargs: Mapping[str, Any],
    ) -> None:
        """Trace `model`'s train and test functions before an execution's clock starts.

        With budgets in seconds an execution is cut, and scored, by its wall-clock seconds.
        The first call of a model's train and test functions traces them (for a new batch
        shape too): a one-off cost, most of a short screen's seconds on a small network, that
        says nothing about the configuration and that one long run pays once. So one call of
        the hypermodel's `fit` (one execution of `steps_per_execution` steps) and one check of
        the target run first, uncounted, and the optimizer's state is then restored: the
        execution starts, as every execution does, from that state and fresh weights under its
        seed (`Restarts`). The warm-up draws from the random state, so the order of the batches
        may differ from the same search's in steps; a search in seconds stays reproducible.
        """
        check_target = TargetStopping(
            self.target.metric,
            self.target.value,
            mode=self.target.mode,
            check_every=1,
            validation_data=validation_data,
            validation_batch_size=self.validation_batch_size,
        )
        callbacks = [check_target, _StopAfterFirstBatch()]
        self.hypermodel.fit(hp, model, *args, **dict(kwargs, epochs=1, callbacks=callbacks))
        _, _, initial_state = self._last_model  # as `_model_of` set it for this model
        with self._strategy_scope():
            _assign_optimizer_state(model, initial_state)

    def _model_of(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """A model of `hp`'s configuration, its weights and optimizer as freshly built.

        Tracing the train and test functions is most of a short trial's time, so built models
        are reused. The last configuration's model serves every execution of a trial and the
        next trial of the same configuration (a probe's confirmation, an anchor's bridge)
        without a build: `Restarts` gives each execution fresh weights from its own seed. A
        new configuration is built, and if one of the last few models kept has the same graph
        (`_graph_key`: the configurations differ only in the learning rate, or in what only
        `fit` reads, such as the batch size), that model takes the new one's weights,
        learning rate and optimizer state, and is used instead, its traced functions with it.
        The hypermodel's `build` is taken to depend on the configuration, not on the
        oracle's `effort/*` budget values.
        """
        configuration = space.configuration(hp.values)
        if self._holds_model_of(hp):
            _, model, initial_state = self._last_model
            with self._strategy_scope():
                _assign_optimizer_state(model, initial_state)
            return model
        unkept = self._last_model is not None and all(
            kept is not self._last_model[1] for kept in self._kept_models.values()
        )
        self._last_model = None
        if unkept:
            gc.collect()  # the last model, traced and not kept, is let go: free it first
        built = self._try_build(hp)
        key = _graph_key(built)
        model = self._kept_models.pop(key, built) if key is not None else built
        with self._strategy_scope():
            initial_state = [keras.ops.convert_to_numpy(v) for v in _optimizer_variables(built)]
            if model is not built:
                model.set_weights(built.get_weights())
                rate = built.optimizer.learning_rate
                if isinstance(rate, keras.Variable):
                    # Through the setter, as a learning-rate callback would: an optimizer that
                    # keeps state derived from the rate (HypergradientAdam) follows it.
                    model.optimizer.learning_rate = keras.ops.convert_to_numpy(rate)
                _assign_optimizer_state(model, initial_state)
        if key is not None:
            self._kept_models[key] = model
            if len(self._kept_models) > _KEPT_MODELS:
                self._kept_models.popitem(last=False)
                gc.collect()  # the least recently used model, traced, is let go
        self._last_model = (configuration, model, initial_state)
        return model

    def _strategy_scope(self) -> contextlib.AbstractContextManager:
        strategy = self.distribution_strategy
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    def _try_build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """KerasTuner's model build and checks, without its full garbage collections.

        KerasTuner runs `gc.collect()` before every model and clears the session, which runs
        another; on a TensorFlow heap each full collection takes a share of a short trial (see
        docs/tuner.md). The session is cleared without one (its layer names start afresh, so
        two builds of one graph have equal configs); `_model_of` collects when it lets a
        traced model go, which is when there is much to free.
        """
        keras.backend.clear_session(free_memory=False)
        model = self._build_hypermodel(hp)
        if not isinstance(model, keras.Model):
            raise keras_tuner.errors.FatalTypeError(
                "Expected the model-building function, or HyperModel.build() to return a valid "
                f"Keras Model instance. Received: {model} of type {type(model)}."
            )
        size = sum(math.prod(w.shape) for w in model.trainable_weights) if model.built else 0
        if self.max_model_size and size > self.max_model_size:
            raise keras_tuner.errors.FailedTrialError(
                f"Oversized model: {size} parameters. Skip model."
            )
        return model

    def _check_target(
        self, model: keras.Model, validation_data: Any, args: tuple, kwargs: Mapping[str, Any]
    ) -> None:
        """Fail before training when the model cannot produce the target metric."""
        metric = self.target.metric
        if metric.startswith("val_") and validation_data is None:
            raise keras_tuner.errors.FatalValueError(
                f"`target` metric {metric!r} is a validation metric: pass `validation_data` to "
                "`search`"
            )
        if validation_data is not None:
            data = validation_data
        elif len(args) >= 2:
            data = (args[0], args[1])
        elif args:
            data = args[0]
        else:
            data = kwargs.get("x") if kwargs.get("y") is None else (kwargs["x"], kwargs["y"])
        logged = _metric_names(model, data)
        if metric.removeprefix("val_") not in logged:
            produced = sorted(("val_" if metric.startswith("val_") else "") + n for n in logged)
            raise keras_tuner.errors.FatalValueError(
                f"`target` metric {metric!r} is not produced by the model; it logs {produced}"
            )
        self._target_checked = True

    def _bind_effort_tensorboards(
        self, callbacks: list[Any], restarts: Restarts, trial: Trial, execution: int
    ) -> None:
        for callback in callbacks:
            if isinstance(callback, EffortTensorBoard):
                callback.source = restarts
                restarts.add_listener(callback)
                callback.log_dir = os.path.join(
                    callback.log_dir, str(trial.trial_id), f"execution{execution}"
                )
                callback.hparams = {
                    **_scalar_values(trial.hyperparameters.values),
                    **callback.hparams,
                }

    def get_best_hyperparameters(self, num_trials: int = 1) -> list[keras_tuner.HyperParameters]:
        """The best trials' configurations, without the oracle's `effort/*` budget values."""
        best = []
        for hp in super().get_best_hyperparameters(num_trials):
            hp = hp.copy()
            hp.values = space.configuration(hp.values)
            best.append(hp)
        return best

    def load_model(self, trial: Trial) -> keras.Model:
        """The trial's best execution's model, its optimizer's state included."""
        model = self._try_build(trial.hyperparameters)
        if not model.built:
            with open(self._get_build_config_fname(trial.trial_id)) as file:
                model.build_from_config(json.load(file))
        with self._strategy_scope():
            # Built, the optimizer has the variables the checkpoint holds, and takes them.
            _optimizer_variables(model)
            model.load_weights(self._get_checkpoint_fname(trial.trial_id))
        return model

    def _save_best_model(self, trial_id: str, model: keras.Model) -> None:
        model.save_weights(self._get_checkpoint_fname(trial_id))
        with open(self._get_build_config_fname(trial_id), "w") as file:
            json.dump(model.get_build_config(), file)

    # --------------------------------------------------------------- summary

    def results_summary(self, num_trials: int = 10) -> None:
        """Print the best trials by effort, their stages and budgets, and the search's cost."""
        print("Results summary")
        print(f"Results in {self.project_dir}")
        unit = "seconds" if self.effort_oracle.budget_unit == "seconds" else "gradient steps"
        measure = "l(c*)" if self.effort_oracle.measure == "expected" else "Koza's effort"
        print(
            f"Target: {self.target.metric} -> {self.target.value:g}; score: {measure} in "
            f"{unit}, lower is better"
        )
        print(f"Total gradient steps of the search: {self.total_steps}")
        print(f"Total seconds of training of the search: {self.total_seconds:.1f}")
        seeds = self.effort_oracle.executions_per_trial
        print(
            f"Trials measured with fewer than {seeds} seeds (screens, probes) rank after those "
            "measured with all"
        )
        trials = self.oracle.get_best_trials(num_trials)
        print(f"Showing the {len(trials)} best {'trial' if len(trials) == 1 else 'trials'}")
        display = SearchDisplay(self.effort_oracle)
        # Trials measured in full rank first: the first, if measured in full, is the incumbent.
        full = trials and len(self.effort_oracle.attempts_of(trials[0])) >= seeds
        for trial in trials:
            print(display.summary(trial, trials[0] if full else None))


class EffortSearch(EffortTuner):
    """`EffortOracle` and `EffortTuner` in one, shaped like `keras_tuner.RandomSearch`.

    Example:
        ```python
        tuner = EffortSearch(build_model, target=("val_accuracy", 0.9), max_trials=20,
                             max_steps=2000, directory="tuning", project_name="mlp")
        tuner.search(x, y, validation_data=(x_val, y_val))
        best_hp = tuner.get_best_hyperparameters()[0]
        ```

    Args:
        hypermodel: a `keras_tuner.HyperModel` or a function building a compiled model.
        target: the metric value to reach, e.g. `("val_accuracy", 0.9)` (required).
        oracle_options: deprecated: `EffortOracle` arguments are keyword arguments here too.
        **kwargs: the arguments of `EffortOracle` (`max_trials`, `max_steps`,
            `executions_per_trial`, `measure`, `strategy`, `screen_share`, `seed`, ...), each
            going to the oracle, and those of `EffortTuner` and `keras_tuner.Tuner`.

    Raises:
        ValueError: without a `target`, or for a bad argument, naming it.
    """

    @check.renamed(**checks.RENAMED)
    def __init__(
        self,
        hypermodel: keras_tuner.HyperModel | Any = None,
        target: Target | tuple[Any, ...] | None = None,
        *,
        oracle_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if target is None:
            raise ValueError("`target` is required, e.g. target=('val_accuracy', 0.9)")
        if oracle_options is not None:
            warnings.warn(
                "`oracle_options` is deprecated: pass EffortOracle's arguments as keywords",
                DeprecationWarning,
                stacklevel=3,
            )
            kwargs.update(oracle_options)
        oracle = {name: kwargs.pop(name) for name in _ORACLE_ARGUMENTS if name in kwargs}
        super().__init__(hypermodel, EffortOracle(target, **oracle), **kwargs)


# The keyword arguments `EffortSearch` hands to the oracle (all but `target`).
_ORACLE_ARGUMENTS = tuple(inspect.signature(EffortOracle.__init__).parameters)[2:]


class _WallClockBudget(keras.callbacks.Callback):
    """Stops `fit` when the execution's budget in wall-clock seconds is spent."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self._started = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if time.perf_counter() - self._started >= self.seconds:
            self.model.stop_training = True


class _StopAfterFirstBatch(keras.callbacks.Callback):
    """Stops `fit` after its first batch (one call of the train function)."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.stop_training = True


class _TunerHooks(keras.callbacks.Callback):
    """Forwards `fit`'s epoch and batch hooks to the tuner's, as `keras_tuner.Tuner` does.

    KerasTuner's own forwarding callback lives in a private module; these few lines are its
    public-API equivalent.
    """

    def __init__(self, tuner: keras_tuner.Tuner, trial: Trial) -> None:
        super().__init__()
        self.tuner = tuner
        self.trial = trial

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.tuner.on_epoch_begin(self.trial, self.model, epoch, logs=logs)

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.tuner.on_batch_begin(self.trial, self.model, batch, logs)

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.tuner.on_batch_end(self.trial, self.model, batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.tuner.on_epoch_end(self.trial, self.model, epoch, logs=logs)


class _PatientOracleClient:
    """A worker's gRPC oracle client that pauses before asking again after an IDLE answer.

    KerasTuner's search loop asks again at once; while a stage waits for other workers'
    trials that would flood the chief with requests.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def create_trial(self, tuner_id: str) -> Trial:
        trial = self._client.create_trial(tuner_id)
        if trial.status == TrialStatus.IDLE:
            time.sleep(_IDLE_WAIT)
        return trial


def _optimizer_variables(model: keras.Model) -> list[Any]:
    """The variables of the model's optimizer, built if it was not (none if not compiled)."""
    optimizer = model.optimizer
    if optimizer is None:
        return []
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    return list(optimizer.variables)


def _assign_optimizer_state(model: keras.Model, state: list[Any]) -> None:
    """Set `model`'s optimizer variables (`_optimizer_variables`) to `state`."""
    for variable, value in zip(_optimizer_variables(model), state, strict=True):
        variable.assign(value)


def _graph_key(model: keras.Model) -> str | None:
    """What a compiled model's traced functions depend on besides its variables' values.

    Its class, config, build config, weights' paths, shapes and dtypes, and compile config
    (loss, metrics, optimizer and its hyperparameters, steps per execution), less the
    optimizer's learning rate when that is a variable, which traced steps read as one (Keras'
    learning-rate callbacks assign it mid-training). As in Keras' saving, a model is taken to
    be what its config and weights say. `None` when the model has no config, is not built
    (its weights are made by its first `fit`) or is not compiled: such a model is not reused
    across configurations.
    """
    compiled = model.get_compile_config()
    if not compiled or model.optimizer is None or not model.built:
        return None
    try:
        architecture = model.get_config()
    except NotImplementedError:
        return None
    optimizer = compiled.get("optimizer")
    if isinstance(optimizer, dict) and isinstance(model.optimizer.learning_rate, keras.Variable):
        optimizer.get("config", {}).pop("learning_rate", None)
    weights = [(w.path, tuple(w.shape), str(w.dtype)) for w in model.weights]
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    # `repr` of an object JSON cannot write: at worst two equal graphs are told apart.
    return json.dumps(
        [kind, architecture, model.get_build_config(), compiled, weights],
        sort_keys=True,
        default=repr,
    )


def _metric_names(model: keras.Model, data: Any) -> set[str]:
    """The metric names the model logs, from evaluating one small batch of `data`."""
    if isinstance(data, (tuple, list)):
        x, y, *weights = data
        results = model.evaluate(
            x[:2],
            y[:2],
            sample_weight=weights[0][:2] if weights else None,
            verbose=0,
            return_dict=True,
        )
    else:
        results = model.evaluate(data, steps=1, verbose=0, return_dict=True)
    return set(results)


def _scalar_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, (str, bool, int, float))}
