"""How fast `keras_effort.effort` summarises large samples of runs.

Goal (foundation issue): 100,000 runs in well under a second, from construction to Koza's
effort, l(c*) and c*. Prints a table and writes benchmarks/results/effort_speed.json.

    python benchmarks/effort_speed.py
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from keras_effort.effort import RuntimeDistribution

RESULTS = Path(__file__).parent / "results" / "effort_speed.json"


def sample(runs: int, censored_budgets: bool, rng: np.random.Generator) -> tuple[list, object]:
    """Lognormal steps-to-target, cut at a budget of 5000 (or at random cutoffs)."""
    steps = rng.lognormal(mean=7.0, sigma=1.0, size=runs).round().astype(int)
    budgets = rng.integers(500, 5000, runs) if censored_budgets else np.full(runs, 5000)
    return [int(s) if s <= b else None for s, b in zip(steps, budgets, strict=True)], budgets


def time_once(steps: list, budgets: object) -> float:
    started = time.perf_counter()
    distribution = RuntimeDistribution(steps, budgets)
    distribution.koza_effort(0.99)
    distribution.expected_steps()
    distribution.optimal_cutoff()
    return time.perf_counter() - started


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for runs in (1_000, 10_000, 100_000):
        for censored in (False, True):
            steps, budgets = sample(runs, censored, rng)
            seconds = min(time_once(steps, budgets) for _ in range(5))
            rows.append(
                {"runs": runs, "budgets": "varied" if censored else "equal", "seconds": seconds}
            )
    started = time.perf_counter()
    RuntimeDistribution(*sample(100, True, rng)).confidence_interval("expected", n_boot=1000)
    bootstrap = time.perf_counter() - started

    table = Table(title="keras_effort.effort: construction + Koza + l(c*) + c* (best of 5)")
    for column in ("runs", "budgets", "seconds"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(f"{row['runs']:,}", row["budgets"], f"{row['seconds']:.4f}")
    console = Console()
    console.print(table)
    console.print(f"bootstrap interval, 100 runs, 1000 resamples: {bootstrap:.3f} s")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "rows": rows,
                "bootstrap_100_runs_1000_resamples_seconds": bootstrap,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
