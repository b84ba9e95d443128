"""Draw the figures of docs/plots.md from a ledger written by real training runs.

Trains the demo's MLP on MNIST-1D with Adam at two learning rates (8 seeded runs each, as
`keras-effort demo` does), records every run's attempt at each validation-accuracy target from
0.50 to 0.70 in a ledger, then draws each figure of `keras_effort.report` from that ledger.

    python docs/figures/make_figures.py            # trains (about 10 minutes on 2 CPUs), draws
    python docs/figures/make_figures.py --ledger docs/figures/figures.sqlite   # draws again

The ledger is kept (`docs/figures/figures.sqlite`, not committed), so drawing again does not
train again; delete it to retrain. The runs are seeded and deterministic, so a retrain records
the same attempts.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
TARGETS = np.round(np.arange(0.50, 0.705, 0.01), 2).tolist()
EXPERIMENTS = {"adam-3e-3": 3e-3, "adam-1e-3": 1e-3}


def train(ledger_path: Path, runs: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from keras_effort import Ledger
    from keras_effort.demo import run_demo

    ledger = Ledger(ledger_path)
    for experiment, learning_rate in EXPERIMENTS.items():
        result = run_demo(
            runs=runs,
            targets=TARGETS,
            learning_rate=learning_rate,
            ledger=ledger,
            experiment=experiment,
            on_run_end=lambda run, _, name=experiment: print(f"{name}: run {run + 1}/{runs}"),
        )
        print(f"{experiment}: {runs} runs in {result.seconds:.0f} s", flush=True)


def draw(ledger_path: Path) -> None:
    from keras_effort import Ledger
    from keras_effort.report.plots import (
        plot_ecdf_comparison,
        plot_effort_against_target,
        plot_performance_profile,
        plot_restart_cost,
        plot_success_curve,
    )

    attempts = Ledger(ledger_path).attempts()
    adam = [a for a in attempts if a.experiment == "adam-3e-3"]

    def at(experiment: str, target: float) -> list:
        return [a for a in attempts if a.experiment == experiment and a.target_value == target]

    figures = {
        "effort-against-target": plot_effort_against_target(
            adam, title="Effort against target: MLP on MNIST-1D, Adam(3e-3), 8 runs per target"
        ),
        "success-curve": plot_success_curve(at("adam-3e-3", 0.69)),
        "restart-cost": plot_restart_cost(at("adam-3e-3", 0.69)),
        "ecdf-comparison": plot_ecdf_comparison(
            {name: at(name, 0.66) for name in EXPERIMENTS},
        ),
        "performance-profile": plot_performance_profile(
            attempts, title="Performance profile over the targets 0.50 to 0.70"
        ),
    }
    for name, figure in figures.items():
        path = HERE / f"{name}.png"
        figure.savefig(path, dpi=110)
        print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, default=HERE / "figures.sqlite")
    parser.add_argument("--runs", type=int, default=8, help="runs per learning rate (8)")
    args = parser.parse_args()
    if not args.ledger.exists():
        train(args.ledger, args.runs)
    draw(args.ledger)


if __name__ == "__main__":
    main()
