"""ActiveLR's defaults on the learning-rate robustness protocol of lr_robustness.py (MNIST-1D MLP).

Protocol: MNIST-1D (validation = its test split), MLP 40 -> Dense(100, relu) -> Dense(100, relu)
-> Dense(10) logits, batch 100, 40 epochs = 1,600 steps, seeds 0, 1, 2, initial learning rates
1e-5 ... 1; a run succeeds when validation accuracy, checked at epoch ends, reaches 60%.

Each variant is ActiveLR around Keras AdamW (weight decay 0, epsilon 1e-8: the reference
`ActiveAdam`'s defaults) with one period per epoch; variants differ in ActiveLR's `increase` and
`decrease` and in the network's initialisation: Keras' (Glorot uniform weights, zero biases) or
PyTorch's `nn.Linear` default (weights and biases uniform in +-1/sqrt(fan_in)), which is what the
PyTorch reference code trains.

Run (a few minutes per variant on one core):

    nice python benchmarks/activelr_defaults.py                    # every variant
    nice python benchmarks/activelr_defaults.py --variants increase-2.0 --rates 1e-4

Prints a table (runs reaching 60% of 18, rates with a success of 6, median steps) and writes
benchmarks/results/activelr_defaults.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from keras_effort.datasets import load_mnist1d
from keras_effort.optimizers import ActiveLR, ActiveLREpochEnd

RESULTS = Path(__file__).parent / "results" / "activelr_defaults.json"
RATES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SEEDS = (0, 1, 2)
EPOCHS, BATCH, TARGET = 40, 100, 0.60

# name -> (increase, decrease, initialisation)
VARIANTS = {
    "increase-0.2": (0.2, 0.5, "keras"),
    "increase-0.2-torch-init": (0.2, 0.5, "torch"),
    "increase-2.0": (2.0, 0.5, "keras"),
    "increase-2.0-torch-init": (2.0, 0.5, "torch"),
}


def make_model(init: str) -> keras.Model:
    layers = [keras.Input((40,))]
    fan_in = 40
    for units, activation in ((100, "relu"), (100, "relu"), (10, None)):
        if init == "torch":
            bound = 1.0 / np.sqrt(fan_in)
            kwargs = {
                "kernel_initializer": keras.initializers.RandomUniform(-bound, bound),
                "bias_initializer": keras.initializers.RandomUniform(-bound, bound),
            }
        else:
            kwargs = {}
        layers.append(keras.layers.Dense(units, activation=activation, **kwargs))
        fan_in = units
    return keras.Sequential(layers)


class StepsToTarget(keras.callbacks.Callback):
    """Records the first epoch end at which validation accuracy reaches the target."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: int | None = None
        self.best = 0.0
        self.multiplier_mean: float | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        accuracy = float(logs["val_accuracy"])
        self.best = max(self.best, accuracy if np.isfinite(accuracy) else 0.0)
        if self.steps is None and accuracy >= TARGET:
            self.steps = int(self.model.optimizer.iterations)


def run(variant: str, rate: float, seed: int, data) -> dict:
    increase, decrease, init = VARIANTS[variant]
    (x, y), (x_val, y_val) = data
    keras.utils.set_random_seed(seed)
    model = make_model(init)
    inner = keras.optimizers.AdamW(rate, weight_decay=0.0, epsilon=1e-8)
    optimizer = ActiveLR(inner, increase=increase, decrease=decrease)
    model.compile(
        optimizer,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    record = StepsToTarget()
    model.fit(
        x, y, batch_size=BATCH, epochs=EPOCHS, validation_data=(x_val, y_val), verbose=0,
        callbacks=[ActiveLREpochEnd(), record],
    )  # fmt: skip
    learned = optimizer.learned_hyperparameters.values()
    multipliers = np.concatenate([np.ravel(keras.ops.convert_to_numpy(m)) for m in learned])
    return {
        "variant": variant,
        "rate": rate,
        "seed": seed,
        "steps": record.steps,
        "best_accuracy": record.best,
        "median_multiplier": float(np.median(multipliers)),
    }


def summarise(runs: list[dict]) -> dict:
    successes = [r for r in runs if r["steps"] is not None]
    rates = {r["rate"] for r in successes}
    return {
        "reached": len(successes),
        "runs": len(runs),
        "rates_with_success": len(rates),
        "median_steps": statistics.median(r["steps"] for r in successes) if successes else None,
        "successes_per_rate": {
            str(rate): sum(r["rate"] == rate for r in successes)
            for rate in sorted({r["rate"] for r in runs})
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--rates", nargs="+", type=float, default=list(RATES))
    args = parser.parse_args()
    data = load_mnist1d()
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = dict(previous.get("variants", {}))
    for variant in args.variants:
        start = time.perf_counter()
        runs = [run(variant, rate, seed, data) for rate in args.rates for seed in SEEDS]
        results[variant] = {"summary": summarise(runs), "runs": runs}
        summary = results[variant]["summary"]
        print(
            f"{variant:28s} reached {summary['reached']:2d}/{summary['runs']}, "
            f"rates {summary['rates_with_success']}/{len(args.rates)}, "
            f"median steps {summary['median_steps']}, per rate {summary['successes_per_rate']} "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    payload = {
        "protocol": "MNIST-1D MLP 40-100-100-10, batch 100, 1,600 steps, seeds 0-2, 60% target",
        "backend": keras.backend.backend(),
        "command": "nice python benchmarks/activelr_defaults.py",
        "variants": results,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    temporary = RESULTS.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=1))
    temporary.replace(RESULTS)


if __name__ == "__main__":
    main()
