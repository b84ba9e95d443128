"""DivergenceGuard against far too large learning rates: guarded and unguarded SGD compared.

Protocol: the MLP of benchmarks/lr_robustness.py (inputs -> Dense(100, relu) -> Dense(100,
relu) -> Dense(10) logits, sparse cross-entropy), batch 100, 40 epochs, one compiled call per
epoch (`steps_per_execution` = steps per epoch, so the guard sees one loss per epoch: the mean
of 15 steps on the digits, 40 on MNIST-1D), `keras.utils.set_random_seed(seed)`. Cases: plain
SGD at 50 on scikit-learn's digits (80/20 split), and at 1e3 on the digits and on MNIST-1D
(its test split as validation). Each case runs with `DivergenceGuard()` (its defaults) and
without. Recorded per run: the validation accuracy after the last epoch, whether the final
training loss is finite, the rollbacks and the final learning rate. Chance is 10%.

    nice -n 10 python benchmarks/divergence_guard.py             # 3 cases x 2 x seeds 0, 1, 2
    python benchmarks/divergence_guard.py --seeds 0 --cases digits_sgd50

`--suite` runs instead SGD at 1e3 on every workload of the effort suite (its model, data,
batch size and budget, one compiled call per check), guarded and unguarded, and compares the
final validation value with chance: the most frequent class's share for an accuracy, the
entropy of the validation labels for a cross-entropy (the loss of predicting their
frequencies), their variance for a mean squared error (the loss of predicting their mean).

    nice -n 10 python benchmarks/divergence_guard.py --suite --seeds 0

Results go to benchmarks/results/divergence_guard.json (or divergence_guard_suite.json with
`--suite`; the whole run, replaced).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from keras_effort import datasets
from keras_effort.callbacks import DivergenceGuard
from keras_effort.workloads import WORKLOADS, Workload

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "divergence_guard.json"
SUITE_RESULTS = ROOT / "benchmarks" / "results" / "divergence_guard_suite.json"
SUITE_RATE = 1e3
EPOCHS = 40
BATCH = 100
CASES = {  # name -> (task, SGD learning rate)
    "digits_sgd50": ("digits", 50.0),
    "digits_sgd1e3": ("digits", 1e3),
    "mnist1d_sgd1e3": ("mnist1d", 1e3),
}


def load(task: str):
    if task == "mnist1d":
        return datasets.load_mnist1d()
    return datasets.load_digits(test_fraction=0.2, seed=0)


def run(case: str, guarded: bool, seed: int) -> dict:
    task, rate = CASES[case]
    (x, y), (x_val, y_val) = load(task)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=-(-len(x) // BATCH),
    )
    guard = DivergenceGuard(verbose=0)
    start = time.perf_counter()
    model.fit(
        x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[guard] if guarded else []
    )
    seconds = time.perf_counter() - start
    logits = model.predict(x_val, batch_size=1000, verbose=0)
    finite = bool(np.all(np.isfinite(logits)))
    loss = float(model.evaluate(x, y, batch_size=1000, verbose=0))
    return {
        "case": case,
        "guarded": guarded,
        "seed": seed,
        "accuracy": float(np.mean(np.argmax(logits, axis=-1) == y_val)) if finite else 0.0,
        "final_loss_finite": bool(np.isfinite(loss)),
        "rollbacks": [f"{e.reason}@{e.step}" for e in guard.events],
        "final_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
        "seconds": seconds,
    }


def chance(workload: Workload, y_val: np.ndarray) -> float:
    """The validation value of the best constant prediction (see the module docstring)."""
    if workload.target.metric == "val_accuracy":
        return float(np.max(np.bincount(y_val.ravel())) / y_val.size)
    if np.issubdtype(y_val.dtype, np.integer):
        shares = np.bincount(y_val.ravel()) / y_val.size
        shares = shares[shares > 0]
        return float(-np.sum(shares * np.log(shares)))
    return float(np.var(y_val))


def run_workload(name: str, guarded: bool, seed: int) -> dict:
    """SGD at `SUITE_RATE` on a workload of the suite for its whole budget."""
    workload = WORKLOADS[name]
    (x, y), (x_val, y_val) = workload.data()
    keras.utils.set_random_seed(seed)
    model = workload.compile(
        workload.build_model(),
        keras.optimizers.SGD(SUITE_RATE),
        steps_per_execution=workload.check_every,
    )
    guard = DivergenceGuard(verbose=0)
    start = time.perf_counter()
    model.fit(
        x,
        y,
        batch_size=workload.batch_size,
        epochs=-(-workload.budget // workload.epoch_steps),
        verbose=0,
        callbacks=[guard] if guarded else [],
    )
    seconds = time.perf_counter() - start
    logs = model.evaluate(x_val, y_val, batch_size=1000, verbose=0, return_dict=True)
    value = float(logs[workload.target.metric.removeprefix("val_")])
    level = chance(workload, y_val)
    up = workload.target.direction == "up"
    return {
        "workload": name,
        "guarded": guarded,
        "seed": seed,
        "metric": workload.target.metric,
        "value": value,
        "chance": level,
        "finite": bool(np.isfinite(value)),
        "above_chance": bool(np.isfinite(value) and (value > level if up else value < level)),
        "rollbacks": [f"{e.reason}@{e.step}" for e in guard.events],
        "final_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
        "seconds": seconds,
    }


def print_suite_table(runs: list[dict]) -> None:
    print(
        f"\n{'workload':20s} {'guard':6s} {'seed':>4s} {'metric':13s} {'value':>9s} "
        f"{'chance':>8s} {'above':>6s} {'rollbacks':>9s} {'final rate':>11s}"
    )
    for r in runs:
        print(
            f"{r['workload']:20s} {'yes' if r['guarded'] else 'no':6s} {r['seed']:>4d} "
            f"{r['metric']:13s} {r['value']:>9.4g} {r['chance']:>8.4g} "
            f"{'yes' if r['above_chance'] else 'no':>6s} {len(r['rollbacks']):>9d} "
            f"{r['final_rate']:>11.4g}"
        )


def print_table(runs: list[dict]) -> None:
    print(
        f"\n{'case':16s} {'guard':6s} {'seed':>4s} {'val acc':>8s} {'finite':>7s} "
        f"{'rollbacks':>9s} {'final rate':>11s}  kinds"
    )
    for r in runs:
        kinds = sorted({k.split("@")[0] for k in r["rollbacks"]})
        print(
            f"{r['case']:16s} {'yes' if r['guarded'] else 'no':6s} {r['seed']:>4d} "
            f"{r['accuracy']:>8.1%} {r['final_loss_finite']!s:>7s} "
            f"{len(r['rollbacks']):>9d} {r['final_rate']:>11.4g}  {', '.join(kinds)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--suite", action="store_true", help="SGD 1e3 on every suite workload")
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    args = parser.parse_args()
    if args.suite:
        runs = [
            run_workload(name, guarded, seed)
            for name in args.workloads
            for guarded in (True, False)
            for seed in args.seeds
        ]
        print_suite_table(runs)
        payload = {"backend": keras.backend.backend(), "rate": SUITE_RATE, "runs": runs}
        SUITE_RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {SUITE_RESULTS.relative_to(ROOT)}")
        return
    runs = [
        run(case, guarded, seed)
        for case in args.cases
        for guarded in (True, False)
        for seed in args.seeds
    ]
    print_table(runs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {"backend": keras.backend.backend(), "epochs": EPOCHS, "batch": BATCH, "runs": runs}
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
