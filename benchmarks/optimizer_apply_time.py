"""Time of one optimizer step alone (`optimizer.apply`), ours against the Keras counterpart.

`optimizer_overhead.py` times whole training steps, whose forward and backward passes dwarf the
optimizer and, on a loaded machine, swamp its differences. This script times only the update
of the 1M-parameter MLP's weights (the same shapes) with fixed gradients, compiled as in `fit`
(a `tf.function` on TensorFlow, `jax.jit` on JAX, eager on PyTorch), and reports the fastest
step of each side (by default of 10 blocks of 20 steps, ours and Keras' blocks interleaved), the
least disturbed by other processes. On PyTorch both sides run under
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
from pathlib import Path

# The backend is fixed when Keras is imported: read `--backend` (checked by argparse) first.
os.environ["KERAS_BACKEND"] = (
    sys.argv[sys.argv.index("--backend") + 1]
    if "--backend" in sys.argv[:-1]
    else os.environ.get("KERAS_BACKEND", "tensorflow")
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from keras_effort.optimizers import (
    ActiveLR,
    HypergradientAdam,
    HypergradientRMSprop,
    HypergradientSGD,
)
from keras_effort.workloads.step_time import fastest_steps

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"))
    parser.add_argument("--jit", action="store_true", help="XLA on TensorFlow")
    parser.add_argument("--repeats", type=int, default=20, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=10, help="blocks per optimizer")
    args = parser.parse_args()
    backend = keras.backend.backend()
    rows = []
    for name, (ours, theirs) in CASES.items():
        # Blocks of steps interleaved, so that a burst of load hits both alike; the fastest step.
        best = fastest_steps(
            {"ours": ours, "keras": theirs}, SHAPES, args.rounds, args.repeats, args.jit
        )
        row = {"case": name, "ms": best["ours"] * 1e3, "keras_ms": best["keras"] * 1e3}
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
        "rounds": args.rounds,
        "loadavg": os.getloadavg(),
    }
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
