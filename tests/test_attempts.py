"""One owner for an attempt: what Restarts and TargetStopping record, against independent logs.

Each regression test here failed before attempts had a single owner; the property test drives
`Restarts` through random cutoffs, check intervals, epoch lengths and divergence points and
compares the ledger with a reconstruction from a batch-level log.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_effort import Ledger
from keras_effort.callbacks import Restarts, TargetStopping
from keras_effort.callbacks.attempt import classify_outcome


def regression_data(samples: int = 64, nan_batch: int | None = None, batch_size: int = 8):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(samples, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 1.5], dtype="float32"))[:, None]
    if nan_batch is not None:
        x[nan_batch * batch_size] = np.nan  # every epoch's batch `nan_batch` diverges
    return x, y


def regression_model(learning_rate: float = 0.05) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate), "mse")
    return model


class Log(keras.callbacks.Callback):
    """Records every batch and epoch end (optimizer step, loss) before Restarts acts on it."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int, float, bool]] = []

    def on_train_batch_end(self, batch, logs=None):
        last = batch + 1 == self.params["steps"]
        self.events.append(("batch", self._step(), float(logs["loss"]), last))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch", self._step(), float(logs["loss"]), False))

    def _step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))


# ------------------------------------------------------------------ regressions


def test_an_epoch_end_cutoff_is_judged_on_the_weights_it_trained():
    # Cutoffs on epoch ends (8 steps an epoch): before, the cutoff re-initialised the weights
    # in the batch hook and Keras' epoch-end check of the fresh weights was credited to the
    # next attempt at step 0.
    x, y = regression_data()
    log = Log()
    stopping = TargetStopping("loss", 0.05, mode="min")
    restarts = Restarts(stopping, policy=8, max_total_steps=40, seed=0, verbose=0)
    regression_model(0.001).fit(x, y, epochs=10, batch_size=8, verbose=0,
                                callbacks=[log, restarts])
    assert restarts.attempts, "no attempt recorded"
    epoch_losses = [loss for kind, _, loss, _ in log.events if kind == "epoch"]
    for attempt, loss in zip(restarts.attempts, epoch_losses, strict=False):
        assert attempt.steps == 8 and attempt.outcome == "cutoff"
        assert attempt.curve == [(8, pytest.approx(loss))]  # its own epoch, its own weights


def test_attempts_that_diverge_before_their_cutoff_are_diverged_not_cutoff():
    x, y = regression_data()
    stopping = TargetStopping("loss", 1e-6, mode="min")
    restarts = Restarts(stopping, policy=5, max_total_steps=20, seed=0, verbose=0)
    regression_model(1e6).fit(x, y, epochs=10, batch_size=8, verbose=0, callbacks=[restarts])
    assert [a.outcome for a in restarts.attempts] == ["diverged"] * 4
    assert all(a.budget == 5 and not a.reached for a in restarts.attempts)


def test_a_finite_policy_that_runs_out_ends_training_cleanly(capsys):
    x, y = regression_data()
    model = regression_model(0.001)
    restarts = Restarts(TargetStopping("loss", 1e-6, mode="min"), [5], max_total_steps=40, seed=0)
    model.fit(x, y, epochs=10, batch_size=8, verbose=0, callbacks=[restarts])
    # Before, the StopIteration was swallowed as "input ran out of data" and training went on.
    assert len(restarts.attempts) == 1 and restarts.total_steps == 5
    assert restarts.attempts[0].outcome == "cutoff"
    out = capsys.readouterr().out
    assert "no cutoff left after 1 attempt;" in out
    # Cut at 5 steps, before its epoch's check: no best value to report.
    assert out.splitlines()[-1] == (
        "Restarts: loss <= 1e-06 not reached in 1 attempt (1 cutoff), 5 steps of 40. "
        "Try a policy with more cutoffs, longer cutoffs or an easier target."
    )


@pytest.mark.parametrize(
    ("policy", "message"),
    [([], "`policy` must be a non-empty iterable of cutoffs"), ("abc", "`policy` must be"),
     ([0, -1], "`policy cutoff`"), ([5, 2.5], "`policy cutoff`"), ({"a": 1}, "`policy` must be"),
     (True, "`policy` must be")],
)
def test_bad_policies_are_refused_at_construction(policy, message):
    with pytest.raises(ValueError, match=message):
        Restarts(TargetStopping("loss", 0.1), policy, max_total_steps=10)


def test_a_lazy_policy_is_checked_as_it_is_drawn():
    x, y = regression_data()
    restarts = Restarts(TargetStopping("loss", 1e-6, mode="min"), iter([3, 0]), 40, verbose=0)
    with pytest.raises(ValueError, match="`policy cutoff` must be an integer >= 1, got 0"):
        regression_model().fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[restarts])


def test_a_target_stopping_in_restarts_and_in_fit_is_refused(tmp_path):
    x, y = regression_data()
    ledger = Ledger(tmp_path / "l.sqlite")
    stopping = TargetStopping("loss", 1e-6, mode="min", ledger=ledger)
    restarts = Restarts(stopping, 4, max_total_steps=8, verbose=0)
    with pytest.raises(ValueError, match="driven by a Restarts: pass only the Restarts"):
        regression_model().fit(x, y, epochs=2, batch_size=8, verbose=0,
                               callbacks=[restarts, stopping])
    assert ledger.attempts() == []  # no spurious row
    with pytest.raises(ValueError, match="already driven by another Restarts"):
        Restarts(stopping, 4, max_total_steps=8)


def test_a_restarts_reused_for_a_second_fit_goes_on_with_its_seeds_and_policy():
    x, y = regression_data()
    model = regression_model(0.001)
    restarts = Restarts(TargetStopping("loss", 1e-6, mode="min"), [3, 4, 5, 6], 7, seed=3,
                        verbose=0)
    model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[restarts])
    first_run = restarts.run
    model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[restarts])
    numbers = [a.attempt for a in restarts.attempts]
    assert numbers == list(range(len(numbers))) and len(numbers) == 4
    assert [a.seed for a in restarts.attempts] == [restarts.attempt_seed(n) for n in numbers]
    assert len({a.seed for a in restarts.attempts}) == 4  # no initial weights repeated
    # Each fit spends at most `max_total_steps` = 7: 3 + 4, then 5 + the last cutoff cut to 2.
    assert [a.budget for a in restarts.attempts] == [3, 4, 5, 2]
    assert restarts.run != first_run
    assert {a.run for a in restarts.attempts} == {first_run, restarts.run}


def test_steps_to_target_counts_from_the_attempt_start_like_the_ledger(tmp_path):
    x, y = regression_data()
    model = regression_model(0.05)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # the optimizer is at step 8 now
    ledger = Ledger(tmp_path / "l.sqlite")
    stop = TargetStopping("loss", 5.0, mode="min", check_every=2, ledger=ledger, batch_size=8)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[stop])
    row = ledger.attempts()[0]
    assert stop.reached and stop.steps_to_target == row.steps <= 24
    assert stop.samples_to_target == row.samples == row.steps * 8


def test_each_attempt_end_is_reported_unless_silent(capsys):
    x, y = regression_data()
    stopping = TargetStopping("loss", 1e-6, mode="min", check_every=2)
    restarts = Restarts(stopping, 4, max_total_steps=8, seed=0)
    regression_model(0.001).fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[restarts])
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert lines[0].startswith("Restarts: attempt 0 cutoff after 4 steps, best loss ")
    assert lines[1].endswith("8 of 8 steps spent")
    best = min(a.best_value for a in restarts.attempts)
    assert lines[2:] == [
        f"Restarts: loss <= 1e-06 not reached in 2 attempts (2 cutoff), 8 steps of 8; best loss "
        f"{best:.4g}. Try a larger `max_total_steps`, longer cutoffs or an easier target."
    ]
    quiet = Restarts(TargetStopping("loss", 1e-6, mode="min"), 4, max_total_steps=8, verbose=0)
    regression_model(0.001).fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[quiet])
    assert capsys.readouterr().out == ""


def test_the_summary_names_what_ended_the_fit_and_is_not_printed_on_success(capsys):
    x, y = regression_data()
    # fit's 2 epochs of 8 steps end the second attempt before max_total_steps: "stopped".
    restarts = Restarts(TargetStopping("loss", 1e-6, mode="min"), 10, max_total_steps=100, seed=0)
    regression_model(0.001).fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[restarts])
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.startswith(
        "Restarts: loss <= 1e-06 not reached in 2 attempts (1 cutoff, 1 stopped), 16 steps of 100"
    )
    assert summary.endswith(
        "Try more epochs in `fit` (enough for `max_total_steps`), longer cutoffs or an easier "
        "target."
    )
    diverging = Restarts(TargetStopping("loss", 1e-6, mode="min"), 5, max_total_steps=10, seed=0)
    regression_model(1e6).fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[diverging])
    assert capsys.readouterr().out.splitlines()[-1].endswith(
        "Every attempt diverged: try a lower learning rate or a DivergenceGuard."
    )
    easy = Restarts(TargetStopping("loss", 1e6, mode="min", check_every=2), 4, max_total_steps=8)
    regression_model(0.001).fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[easy])
    assert easy.reached and "not reached" not in capsys.readouterr().out


# ------------------------------------------------------------ the property test


def reconstruct(events, check_every, cutoffs, max_steps, target):
    """The attempts (outcome, steps, budget, curve) the rules give on a batch-level log."""
    attempts, cutoffs, spent = [], iter(cutoffs), 0
    state = None

    def begin():
        cutoff = next(cutoffs, None)
        if cutoff is None:
            return None
        return {"n": 0, "cutoff": min(cutoff, max_steps - spent), "curve": [],
                "reached": None, "diverged": False}

    def end(attempt, stopped=False):
        reached, n = attempt["reached"], attempt["n"]
        outcome = classify_outcome(reached=reached is not None, diverged=attempt["diverged"],
                                   steps_run=n, budget=None if stopped else attempt["cutoff"])
        budget = {"reached": max(attempt["cutoff"], n), "diverged": max(attempt["cutoff"], n),
                  "cutoff": n, "stopped": None}[outcome]
        attempts.append((outcome, n if reached is None else reached, budget, attempt["curve"]))
        return n

    def check_at_end(attempt, loss):
        # A step-wise attempt is judged where it ends, when that is not a check step.
        over = attempt["reached"] is not None or attempt["diverged"]
        checked = attempt["curve"] and attempt["curve"][-1][0] == attempt["n"]
        if check_every != "epoch" and attempt["n"] > 0 and not over and not checked:
            check(attempt, loss)

    def check(attempt, loss):
        if not math.isfinite(loss):
            attempt["diverged"] = True
            return
        attempt["curve"].append((attempt["n"], loss))
        # Reaching is judged in float32, the precision of Keras' metrics.
        if attempt["reached"] is None and np.float32(loss) <= np.float32(target):
            attempt["reached"] = attempt["n"]

    state = begin()
    for kind, _, loss, last_batch in events:
        if state is None:
            break
        over = state["reached"] is not None or state["diverged"]
        if kind == "batch":
            state["n"] += 1
            if check_every != "epoch" and not over and state["n"] % check_every == 0:
                check(state, loss)
            if check_every == "epoch" and last_batch:
                continue  # the epoch's check comes first
        elif state["n"] > 0 and not over:
            if not math.isfinite(loss):
                state["diverged"] = True
            elif check_every == "epoch":
                check(state, loss)
        over = state["reached"] is not None or state["diverged"]
        if over or state["n"] >= state["cutoff"]:
            if not over and not math.isfinite(loss):
                state["diverged"] = True
            check_at_end(state, loss)
            spent += end(state)
            if attempts[-1][0] == "reached" or spent >= max_steps:
                state = None
                break
            state = begin()
    if state is not None:
        check_at_end(state, events[-1][2])  # fit's last logs: the last epoch's
        end(state, stopped=True)
    return attempts


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    check_every=st.sampled_from(["epoch", 1, 2, 3, 5]),
    cutoffs=st.lists(st.integers(1, 20), min_size=1, max_size=6),
    batches=st.sampled_from([3, 4, 8]),
    nan_batch=st.one_of(st.none(), st.integers(0, 2)),
    target=st.floats(0.5, 6.0),
    epochs=st.integers(2, 12),
)
def test_the_ledger_equals_a_reconstruction_from_a_batch_level_log(
    tmp_path_factory, check_every, cutoffs, batches, nan_batch, target, epochs
):
    x, y = regression_data(samples=batches * 8, nan_batch=nan_batch)
    ledger = Ledger(tmp_path_factory.mktemp("ledger") / "l.sqlite")
    stopping = TargetStopping("loss", target, mode="min", check_every=check_every, ledger=ledger)
    max_steps = max(1, sum(cutoffs) - 1)
    restarts = Restarts(stopping, list(cutoffs), max_total_steps=max_steps, seed=0, verbose=0)
    log = Log()
    regression_model(0.02).fit(x, y, epochs=epochs, batch_size=8, shuffle=False, verbose=0,
                               callbacks=[log, restarts])
    expected = reconstruct(log.events, check_every, cutoffs, max_steps, target)
    rows = ledger.attempts()
    assert [(r.outcome, r.steps, r.budget) for r in rows] == [e[:3] for e in expected]
    for row, (_, _, _, curve) in zip(rows, expected, strict=True):
        assert row.curve == [(s, pytest.approx(v, rel=1e-6)) for s, v in curve]
    assert [r.attempt for r in rows] == list(range(len(rows)))


@pytest.mark.tensorflow_only(reason="validation data as a tf.data pipeline")
def test_stepwise_validation_on_an_infinite_dataset_reads_validation_steps_batches():
    import tensorflow as tf

    x, y = regression_data()
    repeated = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat()
    stop = TargetStopping("val_loss", 1e-9, mode="min", check_every=4,
                          validation_data=repeated, validation_steps=2, stop_training=False)
    # Before, the first check evaluated the endless dataset and never returned.
    regression_model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[stop])
    assert [steps for steps, _ in stop.curve] == [4, 8, 12, 16]
    with pytest.raises(ValueError, match="pass `validation_steps`"):
        TargetStopping("val_loss", 0.1, check_every=4, validation_data=repeated)


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        # (steps run, reached at, allowed budget, diverged, bad data) -> (outcome, steps, budget)
        ((120, 80, 200, False, False), ("reached", 80, 200)),
        ((210, None, 200, False, False), ("cutoff", 210, 210)),
        ((30, None, 200, True, False), ("diverged", 30, 200)),
        ((50, None, 200, False, False), ("stopped", 50, None)),
        ((50, None, 200, False, True), ("bad_data", 50, None)),
        ((50, None, None, True, False), ("diverged", 50, 50)),
    ],
)
def test_from_run_is_the_one_outcome_and_censoring_rule(run, expected) -> None:
    from keras_effort.effort import Target
    from keras_effort.ledger import Attempt

    steps_run, reached_at, budget, diverged, bad_data = run
    record = Attempt.from_run(
        Target("val_accuracy", 0.9), steps_run=steps_run, reached_at=reached_at, budget=budget,
        diverged=diverged, bad_data=bad_data, batch_size=4, experiment="e",
    )
    assert (record.outcome, record.steps, record.budget) == expected
    assert record.reached == (expected[0] == "reached")
    assert record.samples == 4 * expected[1]
    assert (record.target_metric, record.target_value) == ("val_accuracy", 0.9)
