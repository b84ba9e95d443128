"""Time per training step of keras-effort's optimizers against their Keras counterparts.

Goals: at most 1.10x for the hypergradient optimizers with a global rate and for ActiveLR.

Every case pairs an optimizer with the Keras optimizer it extends. Both train the same MLP
(about 1M and 10M parameters) in one process; their timings are interleaved (one block of
steps each, in turn, for every repeat) so that load on a shared machine hits both alike. The
reported ratio is the median over repeats of the ratio of their per-step times; the best-of
ratio compares their fastest blocks, the least disturbed by other processes.

Run by hand:

    python benchmarks/optimizer_overhead.py            # all cases, both sizes, jit off and on
    python benchmarks/optimizer_overhead.py --sizes 1M --repeats 3
    python benchmarks/optimizer_overhead.py --sizes 1M --repeats 5 --backend jax

`--backend` picks the Keras backend (default: `KERAS_BACKEND`, else TensorFlow). JAX runs
jit-compiled only (Keras' default there) and PyTorch eagerly only, unless `--jit` says otherwise.

Writes benchmarks/results/optimizer_overhead.json (TensorFlow) or
optimizer_overhead_<backend>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The backend is fixed when Keras is imported: read `--backend` (checked by argparse) first.
os.environ["KERAS_BACKEND"] = (
    sys.argv[sys.argv.index("--backend") + 1]
    if "--backend" in sys.argv[:-1]
    else os.environ.get("KERAS_BACKEND", "tensorflow")
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from rich.console import Console
from rich.table import Table

from keras_effort.optimizers import (
    ActiveLR,
    AdaBelief,
    HypergradientAdam,
    HypergradientRMSprop,
    HypergradientSGD,
    RAdam,
)

RESULTS = Path(__file__).parent / "results"
BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_JIT = {"tensorflow": ["off", "on"], "jax": ["on"], "torch": ["off"]}

# Hidden layer widths of the MLPs (input width first); about 1M and 10M parameters.
SIZES = {"1M": (512, 1024, 512), "10M": (1024, 2560, 2560, 512)}
CLASSES = 10


@dataclass(frozen=True)
class Case:
    """An optimizer and the Keras optimizer it is compared with."""

    name: str
    factory: Callable[[], keras.optimizers.Optimizer]
    baseline: Callable[[], keras.optimizers.Optimizer]


CASES = [
    Case(
        "HypergradientSGD (global)",
        lambda: HypergradientSGD(0.01, momentum=0.9),
        lambda: keras.optimizers.SGD(0.01, momentum=0.9),
    ),
    Case("HypergradientAdam (global)", HypergradientAdam, keras.optimizers.Adam),
    Case("HypergradientRMSprop (global)", HypergradientRMSprop, keras.optimizers.RMSprop),
    Case(
        "HypergradientAdam (element)",
        lambda: HypergradientAdam(scope="element"),
        keras.optimizers.Adam,
    ),
    Case(
        "Adam / SGD / SGD tower, learns beta_1, beta_2",
        lambda: HypergradientAdam(
            learn=["learning_rate", "beta_1", "beta_2"],
            hyper_optimizer=HypergradientSGD(1e-5, hypergradient_lr=1e-3),
        ),
        keras.optimizers.Adam,
    ),
    Case(
        "ActiveLR(AdamW), period 100 steps",
        lambda: ActiveLR(keras.optimizers.AdamW(1e-3), period=100),
        lambda: keras.optimizers.AdamW(1e-3),
    ),
    Case(
        # Without an `ActiveLREpochEnd` callback the period never ends: the per-step cost of
        # summing gradients, which is all an epoch period adds to a step.
        "ActiveLR(AdamW), period 'epoch'",
        lambda: ActiveLR(keras.optimizers.AdamW(1e-3), period="epoch"),
        lambda: keras.optimizers.AdamW(1e-3),
    ),
    Case("RAdam", RAdam, keras.optimizers.Adam),
    Case("AdaBelief", AdaBelief, keras.optimizers.Adam),
]


def make_model(widths: tuple[int, ...], optimizer, jit_compile: bool) -> keras.Model:
    keras.utils.set_random_seed(0)
    layers = [keras.Input((widths[0],))]
    layers += [keras.layers.Dense(w, activation="relu") for w in widths[1:]]
    layers += [keras.layers.Dense(CLASSES)]
    model = keras.Sequential(layers)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def seconds_per_step(model: keras.Model, x, y, steps: int) -> float:
    model.train_on_batch(x, y)  # make sure nothing is pending
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    float(loss)
    return (time.perf_counter() - start) / steps


def measure(case: Case, size: str, jit_compile: bool, args) -> dict:
    widths = SIZES[size]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch_size, widths[0])).astype("float32")
    y = rng.integers(0, CLASSES, size=args.batch_size)
    models = {
        "ours": make_model(widths, case.factory(), jit_compile),
        "keras": make_model(widths, case.baseline(), jit_compile),
    }
    for model in models.values():  # compile and warm up
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
    times = {"ours": [], "keras": []}
    for repeat in range(args.repeats):
        order = ("ours", "keras") if repeat % 2 == 0 else ("keras", "ours")
        for key in order:
            times[key].append(seconds_per_step(models[key], x, y, args.steps))
    ratios = [a / b for a, b in zip(times["ours"], times["keras"], strict=True)]
    return {
        "case": case.name,
        "size": size,
        "parameters": models["ours"].count_params(),
        "jit_compile": jit_compile,
        "ms_per_step": statistics.median(times["ours"]) * 1e3,
        "keras_ms_per_step": statistics.median(times["keras"]) * 1e3,
        "ratio": statistics.median(ratios),
        "best_ratio": min(times["ours"]) / min(times["keras"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (see above)")
    parser.add_argument("--jit", nargs="+", choices=["off", "on"], help="default: per backend")
    parser.add_argument("--cases", nargs="+", type=int, help="indices into CASES (default all)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=4, help="steps per timed block")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    backend = keras.backend.backend()
    args.jit = args.jit or DEFAULT_JIT[backend]
    cases = [CASES[i] for i in args.cases] if args.cases else CASES
    rows = []
    for size in args.sizes:
        for jit in args.jit:
            for case in cases:
                rows.append(measure(case, size, jit == "on", args))
                print(json.dumps(rows[-1]), flush=True)

    table = Table(title=f"Time per step vs the Keras optimizer ({backend})")
    columns = ("optimizer", "MLP", "jit", "ms/step", "Keras ms/step", "ratio", "best-of ratio")
    for column in columns:
        table.add_column(column, justify="left" if column == "optimizer" else "right")
    for row in rows:
        table.add_row(
            row["case"],
            f"{row['parameters'] / 1e6:.1f}M",
            "on" if row["jit_compile"] else "off",
            f"{row['ms_per_step']:.2f}",
            f"{row['keras_ms_per_step']:.2f}",
            f"{row['ratio']:.3f}",
            f"{row['best_ratio']:.3f}",
        )
    Console().print(table)

    suffix = "" if backend == "tensorflow" else f"_{backend}"
    path = RESULTS / f"optimizer_overhead{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k not in ("cases", "backend")}
    meta = {
        "backend": backend,
        "keras": keras.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "settings": settings,
    }
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
