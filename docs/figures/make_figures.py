"""Draw the figures of docs/plots.md from a ledger written by real training runs.

Trains the demo's MLP on MNIST-1D with Adam at two learning rates (8 seeded runs each, as
`keras-effort demo` does), records every run's attempt at each validation-accuracy target from
0.50 to 0.70 in a ledger, then draws each figure of `keras_effort.report` from that ledger.

    python docs/figures/make_figures.py            # trains (about 10 minutes on 2 CPUs), draws
    python docs/figures/make_figures.py --ledger docs/figures/figures.sqlite   # draws again

The ledger is kept (`docs/figures/figures.sqlite`, not committed), so drawing again does not
train again; delete it to retrain. The runs are seeded and deterministic, so a retrain records
the same attempts.

`--grid` draws instead every figure kind for 1, 2 and 5 experiments and targets, from a
seeded synthetic ledger (lognormal steps-to-target, attempts cut at Luby cutoffs of 64 steps),
into docs/figures/grid/: the figures as a reader meets them with few or many curves.

    python docs/figures/make_figures.py --grid
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
    # The kernels `keras-effort demo` trains with, so that the figures are of the demo's runs.
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
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


GRID_TARGETS = (0.6, 0.7, 0.8, 0.85, 0.9)


def synthetic_attempts(experiments: int, targets: int, attempts: int = 40) -> list:
    """Seeded attempts: lognormal steps-to-target, harder for later targets and experiments."""
    from itertools import islice

    from keras_effort import Attempt
    from keras_effort.restarts import Luby

    rng = np.random.default_rng(0)
    cutoffs = list(islice(Luby(64), attempts))
    records = []
    for experiment in range(experiments):
        for level, target in enumerate(GRID_TARGETS[:targets]):
            needed = rng.lognormal(4.5 + 0.35 * level + 0.15 * experiment, 0.8, attempts)
            for index, (steps, budget) in enumerate(
                zip(np.ceil(needed).astype(int).tolist(), cutoffs, strict=True)
            ):
                reached = steps <= budget
                records.append(
                    Attempt(
                        f"adam-{experiment + 1}e-3",
                        "val_accuracy",
                        target,
                        steps=min(steps, budget),
                        reached=reached,
                        budget=budget,
                        outcome="reached" if reached else "cutoff",
                        attempt=index,
                        run=f"{experiment}-{target}",
                    )
                )
    return records


def draw_grid(folder: Path) -> None:
    """Every figure kind for 1, 2 and 5 experiments and targets."""
    from keras_effort.report.plots import ledger_figure

    folder.mkdir(exist_ok=True)
    figures = {}
    for count in (1, 2, 5):
        one = synthetic_attempts(1, count)
        figures[f"effort-{count}-targets"] = ledger_figure(one, "effort")
        several = synthetic_attempts(count, 5)
        at_hardest = [a for a in several if a.target_value == 0.85]
        figures[f"ecdf-{count}-experiments"] = ledger_figure(at_hardest, "ecdf")
        figures[f"profile-{count}-experiments"] = ledger_figure(several, "profile")
    for target in (0.6, 0.9):  # many successes, few successes
        at = [a for a in synthetic_attempts(1, 5) if a.target_value == target]
        figures[f"success-target-{target}"] = ledger_figure(at, "success")
        figures[f"restart-target-{target}"] = ledger_figure(at, "restart")
    for name, figure in figures.items():
        path = folder / f"{name}.png"
        figure.savefig(path, dpi=80)
        print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, default=HERE / "figures.sqlite")
    parser.add_argument("--runs", type=int, default=8, help="runs per learning rate (8)")
    parser.add_argument("--grid", action="store_true", help="draw the grid of figure kinds")
    args = parser.parse_args()
    if args.grid:
        draw_grid(HERE / "grid")
        return
    if not args.ledger.exists():
        train(args.ledger, args.runs)
    draw(args.ledger)


if __name__ == "__main__":
    main()
