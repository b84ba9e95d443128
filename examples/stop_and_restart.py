"""Luby restarts against one long run, on a hard target: MNIST-1D, a 256x2 MLP, Adam.

Both strategies get the same per-session step budget. "One long run" trains each seed until it
reaches the target or spends the budget; "Luby restarts" cuts attempts at 1, 1, 2, 1, 1, 2,
4, ... times a unit and re-initialises. Effort figures come from `keras_effort.effort`, and
every run writes effort curves for TensorBoard:

    python examples/stop_and_restart.py
    tensorboard --logdir logs/stop_and_restart

and TensorBoard's Effort tab pools the sessions of each strategy into one effort table.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from rich.console import Console
from rich.table import Table

from keras_effort import Ledger
from keras_effort.callbacks import EffortTensorBoard, Restarts, TargetStopping
from keras_effort.datasets import load_mnist1d
from keras_effort.demo import build_mlp
from keras_effort.effort import RuntimeDistribution
from keras_effort.restarts import Luby

BATCH_SIZE = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.68, help="val accuracy (0.68)")
    parser.add_argument("--sessions", type=int, default=4, help="seeds per strategy (4)")
    parser.add_argument("--budget", type=int, default=6000, help="steps per session (6000)")
    parser.add_argument("--unit", type=int, default=500, help="Luby unit in steps (500)")
    parser.add_argument("--check-every", type=int, default=25, help="steps between checks")
    parser.add_argument("--log-dir", type=Path, default=Path("logs/stop_and_restart"))
    args = parser.parse_args()

    (x, y), (x_val, y_val) = load_mnist1d()
    steps_per_epoch = math.ceil(len(x) / BATCH_SIZE)
    epochs = math.ceil(args.budget / steps_per_epoch) + 1
    ledger = Ledger()  # in memory; give a path to keep the attempts
    results = {}
    for strategy in ("one long run", "luby restarts"):
        totals = []
        for session in range(args.sessions):
            model = build_mlp(seed=session, steps_per_execution=args.check_every)
            stopping = TargetStopping(
                "val_accuracy",
                args.target,
                check_every=args.check_every,
                validation_data=(x_val, y_val),
                experiment=strategy,
                batch_size=BATCH_SIZE,
            )
            unit = args.unit if strategy == "luby restarts" else args.budget
            restarts = Restarts(
                stopping,
                Luby(unit),
                max_total_steps=args.budget,
                seed=1000 + session,
                ledger=ledger,
            )
            run_dir = args.log_dir / strategy.replace(" ", "_") / f"session{session}"
            board = EffortTensorBoard(
                run_dir, restarts, hparams={"strategy": strategy, "session": session}
            )
            model.fit(
                x, y, epochs=epochs, batch_size=BATCH_SIZE, verbose=0, callbacks=[restarts, board]
            )
            totals.append(restarts.total_steps if restarts.reached else None)
        results[strategy] = totals

    table = Table(
        title=f"Steps to val_accuracy >= {args.target} on MNIST-1D (budget "
        f"{args.budget:,} steps per session, {args.sessions} sessions)"
    )
    for column in (
        "strategy",
        "sessions reached",
        "mean steps (reached)",
        "attempts",
        "l(c*) of attempts",
        "c*",
        "Koza E(0.99)",
    ):
        table.add_column(column, justify="right")
    for strategy, totals in results.items():
        reached = [t for t in totals if t is not None]
        attempts = ledger.attempts(strategy)
        distribution = RuntimeDistribution.from_attempts(attempts)
        table.add_row(
            strategy,
            f"{len(reached)}/{len(totals)}",
            f"{sum(reached) / len(reached):,.0f}" if reached else "-",
            str(len(attempts)),
            _steps(distribution.expected_steps()),
            _steps(distribution.optimal_cutoff()),
            _steps(distribution.koza_effort().steps),
        )
    console = Console(width=160)
    console.print(table)
    console.print(f"TensorBoard logs: tensorboard --logdir {args.log_dir}")


def _steps(value: float | int | None) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:,.0f}"


if __name__ == "__main__":
    main()
