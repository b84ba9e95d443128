"""Time of one optimizer step alone (`optimizer.apply`), ours against the Keras counterpart.

`optimizer_overhead.py` times whole training steps, whose forward and backward passes dwarf the
optimizer and, on a loaded machine, swamp its differences. This script times only the update
of the 1M-parameter MLP's weights (the same shapes) with fixed gradients, compiled as in `fit`
(a `tf.function` on TensorFlow, `jax.jit` on JAX, eager on PyTorch), and reports the fastest
of many runs, the least disturbed by other processes. On PyTorch both sides run under
`torch.no_grad()`, as `fit` runs `optimizer.apply`.

Run by hand (a few seconds per case):

    python benchmarks/optimizer_apply_time.py                      # TensorFlow
    python benchmarks/optimizer_apply_time.py --backend torch

Writes benchmarks/results/optimizer_apply_time_<backend>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# The backend is fixed when Keras is imported: read `--backend` (checked by argparse) first.
os.environ["KERAS_BACKEND"] = (
    sys.argv[sys.argv.index("--backend") + 1]
    if "--backend" in sys.argv[:-1]
    else os.environ.get("KERAS_BACKEND", "tensorflow")
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from keras_effort.optimizers import (
    ActiveLR,
    HypergradientAdam,
    HypergradientRMSprop,
    HypergradientSGD,
)

RESULTS = Path(__file__).parent / "results"
SHAPES = [(512, 1024), (1024,), (1024, 512), (512,), (512, 10), (10,)]  # the 1M MLP's weights

# name: (ours, the Keras optimizer it extends)
CASES = {
    "HypergradientSGD (global)": (
        lambda: HypergradientSGD(0.01, momentum=0.9),
        lambda: keras.optimizers.SGD(0.01, momentum=0.9),
    ),
    "HypergradientAdam (global)": (HypergradientAdam, keras.optimizers.Adam),
    "HypergradientRMSprop (global)": (HypergradientRMSprop, keras.optimizers.RMSprop),
    "HypergradientAdam (element)": (
        lambda: HypergradientAdam(scope="element"),
        keras.optimizers.Adam,
    ),
    "Adam / SGD / SGD tower, learns beta_1, beta_2": (
        lambda: HypergradientAdam(
            learn=["learning_rate", "beta_1", "beta_2"],
            hyper_optimizer=HypergradientSGD(1e-5, hypergradient_lr=1e-3),
        ),
        keras.optimizers.Adam,
    ),
    "ActiveLR(AdamW), period 100 steps": (
        lambda: ActiveLR(keras.optimizers.AdamW(1e-3), period=100),
        lambda: keras.optimizers.AdamW(1e-3),
    ),
}


def compiled_step(optimizer, grads, variables, jit: bool):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda: optimizer.apply(grads, variables), jit_compile=jit)
    if backend == "jax":
        # A stateless step, as Keras' JAX trainer runs it.
        import jax

        stateless = jax.jit(optimizer.stateless_apply)
        state = {"optimizer": [v.value for v in optimizer.variables]}
        state["weights"] = [v.value for v in variables]

        def step():
            state["weights"], state["optimizer"] = stateless(
                state["optimizer"], grads, state["weights"]
            )
            return state["weights"][-1]

        return step
    import torch

    def step():
        with torch.no_grad():  # as Keras' PyTorch trainer runs `apply`
            optimizer.apply(grads, variables)

    return step


def fastest(make, repeats: int, jit: bool) -> float:
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]
    grads = [keras.ops.convert_to_tensor(rng.normal(size=s).astype("float32")) for s in SHAPES]
    optimizer = make()
    optimizer.build(variables)
    step = compiled_step(optimizer, grads, variables, jit)
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = step()
        keras.ops.convert_to_numpy(result if result is not None else variables[-1])
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"))
    parser.add_argument("--jit", action="store_true", help="XLA on TensorFlow")
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    backend = keras.backend.backend()
    rows = []
    for name, (ours, theirs) in CASES.items():
        # Interleaved twice, so that a burst of load hits both alike.
        times = {"ours": [], "keras": []}
        for _ in range(2):
            times["ours"].append(fastest(ours, args.repeats, args.jit))
            times["keras"].append(fastest(theirs, args.repeats, args.jit))
        row = {
            "case": name,
            "ms": min(times["ours"]) * 1e3,
            "keras_ms": min(times["keras"]) * 1e3,
        }
        row["ratio"] = row["ms"] / row["keras_ms"]
        rows.append(row)
        print(
            f"{name:48s} {row['ms']:7.2f} ms  Keras {row['keras_ms']:7.2f} ms  {row['ratio']:.2f}x",
            flush=True,
        )
    jit = "_xla" if args.jit and backend == "tensorflow" else ""
    path = RESULTS / f"optimizer_apply_time_{backend}{jit}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "backend": backend,
        "keras": keras.__version__,
        "cpus": os.cpu_count(),
        "jit": args.jit,
        "repeats": args.repeats,
        "loadavg": os.getloadavg(),
    }
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
