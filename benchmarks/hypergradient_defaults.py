"""Do the hypergradient optimizers' defaults reach the target from any initial rate?

The protocol of lr_robustness.py, for the hypergradient optimizers only: an MLP 40 ->
Dense(100, relu) -> Dense(100, relu) -> Dense(10) logits on MNIST-1D
(`mnist1d.data.make_dataset(get_dataset_args())`, validation = its test split), batch 100,
40 epochs = 1,600 steps,
`keras.utils.set_random_seed(seed)` for seeds 0, 1, 2 and initial rates 1e-5 ... 1. Recorded per
run: the steps to 60% validation accuracy (checked at epoch ends), the best validation accuracy
and the learned rate at the end (a rate of exactly 0 is a run that froze).

Run by hand (slow: several seconds per run, 18 runs per optimizer), e.g. in the background:

    nice python benchmarks/hypergradient_defaults.py
    nice python benchmarks/hypergradient_defaults.py --optimizers sgd_momentum --seeds 0

Results accumulate in benchmarks/results/hypergradient_defaults.json (one entry per optimizer,
rate and seed; a rerun replaces its entries); `--label` keeps the runs of different code apart
(e.g. `--label before` on an older checkout).
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
from lr_robustness import EpochAccuracy, load, mlp  # the same protocol, run from this folder

from keras_effort.optimizers import HypergradientAdam, HypergradientSGD

RESULTS = Path(__file__).resolve().parent / "results" / "hypergradient_defaults.json"
RATES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SEEDS = (0, 1, 2)
EPOCHS = 40
BATCH = 100
TARGET = 0.6

OPTIMIZERS: dict[str, Callable[[float], keras.optimizers.Optimizer]] = {
    "adam": lambda rate: HypergradientAdam(rate),
    "adam_hd_1e-4": lambda rate: HypergradientAdam(rate, hypergradient_lr=1e-4),
    "adam_multiplicative": lambda rate: HypergradientAdam(rate, rule="multiplicative"),
    "adam_multiplicative_0.01": lambda rate: HypergradientAdam(
        rate, rule="multiplicative", hypergradient_lr=0.01
    ),
    "adam_multiplicative_0.03": lambda rate: HypergradientAdam(
        rate, rule="multiplicative", hypergradient_lr=0.03
    ),
    "adam_multiplicative_0.1": lambda rate: HypergradientAdam(
        rate, rule="multiplicative", hypergradient_lr=0.1
    ),
    "sgd_momentum": lambda rate: HypergradientSGD(rate, momentum=0.9),
    # The Adam/SGD/SGD tower of the docs' robustness example: Adam's rate learned by SGD, whose
    # step size (from 1e-5) is learned by SGD(1e-9).
    "tower_rate": lambda rate: HypergradientAdam(
        rate, hyper_optimizer=HypergradientSGD(1e-5, hypergradient_lr=1e-9)
    ),
    "tower": lambda rate: HypergradientAdam(
        rate,
        learn=["learning_rate", "beta_1", "beta_2"],
        hyper_optimizer=HypergradientSGD(1e-5, hypergradient_lr=1e-3),
    ),
}


def run(data, name: str, rate: float, seed: int) -> dict:
    (x, y), (x_val, y_val) = data
    keras.utils.set_random_seed(seed)
    model = mlp(x.shape[1])
    model.compile(
        optimizer=OPTIMIZERS[name](rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    accuracy = EpochAccuracy(x_val, y_val)
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, callbacks=[accuracy], verbose=0)
    steps_per_epoch = -(-len(x) // BATCH)
    reached = [i for i, a in enumerate(accuracy.accuracies) if a >= TARGET]
    final_rate = float(
        keras.ops.convert_to_numpy(model.optimizer.learned_hyperparameters["learning_rate"])
    )
    return {
        "optimizer": name,
        "rate": rate,
        "seed": seed,
        "steps": (reached[0] + 1) * steps_per_epoch if reached else None,
        "best_accuracy": max(accuracy.accuracies),
        "final_rate": final_rate,
        "seconds": time.perf_counter() - start,
    }


def summary(entries: list[dict]) -> str:
    reached = [e for e in entries if e["steps"] is not None]
    rates = {e["rate"] for e in reached}
    frozen = sum(e["final_rate"] == 0.0 for e in entries)
    median = statistics.median(e["steps"] for e in reached) if reached else None
    return (
        f"{len(reached):2d}/{len(entries)} runs, {len(rates)}/{len({e['rate'] for e in entries})} "
        f"rates, median steps {median}, {frozen} end at rate 0"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=OPTIMIZERS)
    parser.add_argument("--rates", nargs="+", type=float, default=list(RATES))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--label", default="current", help="which code ran, e.g. before/after")
    args = parser.parse_args()

    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": []}
    data = load("mnist1d")
    for name in args.optimizers:
        for rate in args.rates:
            for seed in args.seeds:
                entry = {"label": args.label, **run(data, name, rate, seed)}
                print(json.dumps(entry), flush=True)
                key = (entry["label"], name, rate, seed)
                stored["runs"] = [
                    e
                    for e in stored["runs"]
                    if (e["label"], e["optimizer"], e["rate"], e["seed"]) != key
                ]
                stored["runs"].append(entry)
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                temporary = RESULTS.with_suffix(".tmp")
                temporary.write_text(json.dumps(stored, indent=1) + "\n")
                temporary.replace(RESULTS)

    print(f"{'label':8} {'optimizer':26} runs reaching {TARGET:.0%}")
    groups: dict[tuple[str, str], list[dict]] = {}
    for entry in stored["runs"]:
        groups.setdefault((entry["label"], entry["optimizer"]), []).append(entry)
    for (label, name), entries in sorted(groups.items()):
        print(f"{label:8} {name:26} {summary(entries)}")


if __name__ == "__main__":
    main()
