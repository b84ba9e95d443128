"""The effort suite's results, read from a ledger: tables per workload and profiles across.

`keras-effort bench` records each run as an attempt of the experiment
`bench:<optimizer>:<workload>` whose `config` names the optimizer, the rate and the workload
(and the optimizer step's seconds against Keras Adam's on the same model). Here those
attempts become:

- per optimizer and workload, a `SuiteRow`: runs that reached the target, rates with a
  success, the median steps and seconds of the runs that reached it, the best value;
- across workloads, the efforts of a performance profile: per optimizer, its median (over
  seeds, a miss counting as infinite, as in AlgoPerf) at its best rate on each workload, in
  steps or in seconds, and the AlgoPerf-style score of each (`profile_score`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from keras_effort.effort import performance_profile, profile_score
from keras_effort.ledger import Attempt
from keras_effort.report.plots import line_style

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.table import Table

PREFIXES = ("bench:", "bench-smoke:")
UNITS = ("steps", "seconds")


@dataclass(frozen=True)
class SuiteRow:
    """One optimizer on one workload.

    Attributes:
        optimizer: the optimizer's name as given to `keras-effort bench`.
        workload: the workload's name.
        metric: the target's metric.
        target: the target's value.
        mode: `"max"` or `"min"`, the target's direction.
        runs: runs recorded; reached: those that met the target.
        rates: rates run; rates_reached: those with at least one success.
        median_steps: median steps to target of the runs that reached it (`None`: none did).
        median_seconds: their median wall seconds to target.
        best_value: the best value any run saw.
        step_ratio: the optimizer step's seconds over Keras Adam's (`None`: not measured).
    """

    optimizer: str
    workload: str
    metric: str
    target: float
    mode: str
    runs: int
    reached: int
    rates: int
    rates_reached: int
    median_steps: float | None
    median_seconds: float | None
    best_value: float | None
    step_ratio: float | None


def bench_attempts(attempts: Sequence[Attempt]) -> list[Attempt]:
    """The attempts that `keras-effort bench` recorded (by experiment name and config)."""
    return [
        a
        for a in attempts
        if a.experiment.startswith(PREFIXES) and {"optimizer", "rate", "workload"} <= set(a.config)
    ]


def suite_rows(attempts: Sequence[Attempt]) -> list[SuiteRow]:
    """One row per optimizer and workload, in order of first appearance."""
    attempts = bench_attempts(attempts)
    rows = []
    for optimizer, workload in dict.fromkeys(_key(a) for a in attempts):
        mine = [a for a in attempts if _key(a) == (optimizer, workload)]
        hits = [a for a in mine if a.reached]
        values = [a.best_value for a in mine if a.best_value is not None]
        values = [v for v in values if math.isfinite(v)]
        mode = mine[0].config.get("mode", "max")
        ratios = [a.config["step_ratio"] for a in mine if a.config.get("step_ratio")]
        rows.append(
            SuiteRow(
                optimizer=optimizer,
                workload=workload,
                metric=mine[0].target_metric,
                target=mine[0].target_value,
                mode=mode,
                runs=len(mine),
                reached=len(hits),
                rates=len({a.config["rate"] for a in mine}),
                rates_reached=len({a.config["rate"] for a in hits}),
                median_steps=statistics.median(a.steps for a in hits) if hits else None,
                median_seconds=(
                    statistics.median(a.seconds for a in hits if a.seconds is not None)
                    if any(a.seconds is not None for a in hits)
                    else None
                ),
                best_value=(max(values) if mode == "max" else min(values)) if values else None,
                step_ratio=statistics.median(ratios) if ratios else None,
            )
        )
    return rows


def suite_efforts(
    attempts: Sequence[Attempt], unit: str = "steps", per_rate: str | None = None
) -> tuple[list[str], dict[str, list[float]]]:
    """The efforts of the suite's performance profile.

    Args:
        attempts: a ledger's attempts (those of `keras-effort bench` are used).
        unit: `"steps"` or `"seconds"`.
        per_rate: also give this optimizer at each of its rates, as `"<optimizer> @ <rate>"`.

    Returns:
        `(workloads, efforts)`: the workloads every optimizer ran, and per optimizer its
        effort on each (at its best rate: the rate with the smallest median over seeds, a miss
        counting as infinite).

    Raises:
        ValueError: for an unknown unit.
    """
    if unit not in UNITS:
        raise ValueError(f"`unit` must be one of {UNITS}, got {unit!r}")
    attempts = bench_attempts(attempts)
    optimizers = list(dict.fromkeys(a.config["optimizer"] for a in attempts))
    workloads = [
        w
        for w in dict.fromkeys(a.config["workload"] for a in attempts)
        if all(any(_key(a) == (o, w) for a in attempts) for o in optimizers)
    ]
    medians: dict[tuple[str, str], dict[float, float]] = {}
    for optimizer in optimizers:
        for workload in workloads:
            mine = [a for a in attempts if _key(a) == (optimizer, workload)]
            rates = sorted({a.config["rate"] for a in mine})
            medians[optimizer, workload] = {
                rate: float(np.median([_effort(a, unit) for a in mine if a.config["rate"] == rate]))
                for rate in rates
            }
    efforts = {
        optimizer: [min(medians[optimizer, w].values()) for w in workloads]
        for optimizer in optimizers
    }
    if per_rate is not None and per_rate in optimizers:
        rates = sorted({r for w in workloads for r in medians[per_rate, w]})
        for rate in rates:
            efforts[f"{per_rate} @ {rate:g}"] = [
                medians[per_rate, w].get(rate, math.inf) for w in workloads
            ]
    return workloads, efforts


def suite_scores(efforts: dict[str, list[float]], tau_max: float = 4.0) -> dict[str, float]:
    """The AlgoPerf-style score of each entry (see `keras_effort.effort.profile_score`)."""
    return profile_score(efforts, tau_max) if efforts else {}


def suite_rich_table(rows: Sequence[SuiteRow], title: str | None = None) -> Table:
    """The per-workload table, for a terminal."""
    from rich.table import Table

    table = Table(title=title)
    for column in SUITE_COLUMNS:
        table.add_column(column, justify="left" if column in ("optimizer", "workload") else "right")
    for cells in suite_cells(rows):
        table.add_row(*cells)
    return table


SUITE_COLUMNS = (
    "optimizer",
    "workload",
    "target",
    "reached",
    "rates with a success",
    "median steps",
    "median seconds",
    "best value",
    "step time / Adam's",
)


def suite_cells(rows: Sequence[SuiteRow]) -> list[list[str]]:
    """The table's cells as text, one list per row (columns as `SUITE_COLUMNS`)."""
    return [
        [
            row.optimizer,
            row.workload,
            f"{row.metric} {'>=' if row.mode == 'max' else '<='} {row.target:g}",
            f"{row.reached}/{row.runs}",
            f"{row.rates_reached}/{row.rates}",
            "-" if row.median_steps is None else f"{row.median_steps:.0f}",
            "-" if row.median_seconds is None else f"{row.median_seconds:.1f}",
            "-" if row.best_value is None else f"{row.best_value:.4g}",
            "-" if row.step_ratio is None else f"{row.step_ratio:.2f}x",
        ]
        for row in rows
    ]


def scores_rich_table(scores: dict[str, dict[str, float]], workloads: Sequence[str]) -> Table:
    """The profile scores, in steps and in seconds, for a terminal."""
    from rich.table import Table

    table = Table(
        title=f"Performance profile score over {len(workloads)} workloads "
        "(area under rho(tau), tau in [1, 4], in [0, 1])"
    )
    table.add_column("optimizer")
    for unit in scores:
        table.add_column(f"score in {unit}", justify="right")
    names = list(next(iter(scores.values()))) if scores else []
    for name in names:
        table.add_row(name, *(f"{scores[unit][name]:.3f}" for unit in scores))
    return table


def plot_suite_profile(
    attempts: Sequence[Attempt], per_rate: str | None = None, tau_max: float = 4.0
) -> Figure:
    """The suite's performance profiles in steps and in seconds, side by side, with scores.

    Args:
        attempts: a ledger's attempts.
        per_rate: also draw this optimizer at each of its rates.
        tau_max: the profile's right end (AlgoPerf: 4).

    Returns:
        The figure.

    Raises:
        ValueError: when the attempts hold no benchmark runs.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            'keras_effort.report plots need matplotlib: pip install "keras-effort[plot]"'
        ) from error
    if not bench_attempts(attempts):
        raise ValueError("`attempts` hold no runs of `keras-effort bench`")
    profiles = {unit: suite_efforts(attempts, unit, per_rate) for unit in UNITS}
    names = list(dict.fromkeys(name for _, efforts in profiles.values() for name in efforts))
    scores = {unit: profile_score(efforts, tau_max) for unit, (_, efforts) in profiles.items()}
    # Best score in steps first: its line is drawn boldest and heads the legend.
    names.sort(key=lambda name: -scores["steps"][name])
    # One legend for both panels, under them, with both scores: with a dozen optimizers a
    # legend inside the axes would cover the curves.
    figure = Figure(figsize=(12, 4.4 + 0.2 * math.ceil(len(names) / 3)), layout="constrained")
    taus = np.linspace(1.0, tau_max, 301)
    for index, (unit, (workloads, efforts)) in enumerate(profiles.items()):
        ax = figure.add_subplot(1, 2, index + 1)
        ax.grid(True, alpha=0.3)
        if not workloads:
            ax.set_title(f"in {unit}: no workload shared by every optimizer")
            continue
        profile = performance_profile(efforts, taus)
        for line, name in enumerate(names):
            if name not in profile:
                continue
            rho = profile[name]
            style = line_style(line, len(names))
            if " @ " in name:  # an optimizer at one fixed rate, beside the best of each
                style["linestyle"] = ":"
            ax.step(
                taus,
                rho,
                where="post",
                **style,
                label=f"{name} (score {scores['steps'][name]:.2f} in steps, "
                f"{scores['seconds'][name]:.2f} in seconds)",
            )
        ax.set_xlim(1.0, tau_max)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"τ: median {unit} to target within τ times the best")
        ax.set_ylabel(f"share of the {len(workloads)} workloads")
        ax.set_title(f"Performance profile in {unit}")
    handles, labels = max(
        (ax.get_legend_handles_labels() for ax in figure.axes), key=lambda found: len(found[0])
    )
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    return figure


def suite_grid(
    attempts: Sequence[Attempt],
    workload: str,
    unit: str = "steps",
    optimizers: Sequence[str] | None = None,
    rates: Sequence[float] | None = None,
) -> tuple[list[str], list[float], list[list[tuple[int, int, float]]]]:
    """One workload's optimizer x rate grid: runs, successes and median effort per cell.

    Args:
        attempts: a ledger's attempts (those of `keras-effort bench` are used).
        workload: the workload's name.
        unit: `"steps"` or `"seconds"`.
        optimizers: the grid's rows (default: the optimizers run on `workload`).
        rates: its columns (default: the rates run on `workload`, ascending).

    Returns:
        `(optimizers, rates, cells)`: `cells[i][j]` is `(runs, reached, median)` of optimizer
        `i` at rate `j`, the median over the runs that reached the target (`nan` when none
        did, `(0, 0, nan)` when the cell was not run).

    Raises:
        ValueError: for an unknown unit.
    """
    if unit not in UNITS:
        raise ValueError(f"`unit` must be one of {UNITS}, got {unit!r}")
    mine = [a for a in bench_attempts(attempts) if a.config["workload"] == workload]
    optimizers = list(optimizers or dict.fromkeys(a.config["optimizer"] for a in mine))
    rates = list(rates or sorted({float(a.config["rate"]) for a in mine}))
    cells = []
    for optimizer in optimizers:
        row = []
        for rate in rates:
            runs = [
                a
                for a in mine
                if a.config["optimizer"] == optimizer and float(a.config["rate"]) == rate
            ]
            efforts = [_effort(a, unit) for a in runs if a.reached]
            efforts = [e for e in efforts if math.isfinite(e)]
            median = float(np.median(efforts)) if efforts else math.nan
            row.append((len(runs), sum(a.reached for a in runs), median))
        cells.append(row)
    return optimizers, rates, cells


def plot_suite_heatmaps(
    attempts: Sequence[Attempt], unit: str = "steps", columns: int = 4
) -> Figure:
    """Per workload, an optimizer x rate heat map of the runs that reached the target.

    Each cell shows `reached/runs` and the median effort of the runs that reached the target;
    its colour is that median over the best cell's of the workload, on a log scale from 1 to
    4 (AlgoPerf's profile range; beyond 4 it is drawn as 4). A cell where no run reached the
    target is grey.

    Args:
        attempts: a ledger's attempts.
        unit: `"steps"` or `"seconds"`.
        columns: heat maps per row of the figure.

    Returns:
        The figure.

    Raises:
        ValueError: when the attempts hold no benchmark runs, or for an unknown unit.
    """
    try:
        from matplotlib.colors import LogNorm
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            'keras_effort.report plots need matplotlib: pip install "keras-effort[plot]"'
        ) from error
    bench = bench_attempts(attempts)
    if not bench:
        raise ValueError("`attempts` hold no runs of `keras-effort bench`")
    workloads = list(dict.fromkeys(a.config["workload"] for a in bench))
    every = list(dict.fromkeys(a.config["optimizer"] for a in bench))
    every_rate = sorted({float(a.config["rate"]) for a in bench})
    grids = [suite_grid(bench, workload, unit, every, every_rate) for workload in workloads]
    height, width = len(every), len(every_rate)
    columns = min(columns, len(workloads))
    rows = -(-len(workloads) // columns)
    figure = Figure(
        figsize=(columns * (1.0 + 0.75 * width) + 1.5, rows * (0.9 + 0.32 * height)),
        layout="constrained",
    )
    norm = LogNorm(1.0, 4.0)
    image = None
    for index, (workload, (optimizers, rates, cells)) in enumerate(
        zip(workloads, grids, strict=True)
    ):
        ax = figure.add_subplot(rows, columns, index + 1)
        medians = np.array([[median for _, _, median in row] for row in cells])
        best = np.nanmin(medians) if np.isfinite(medians).any() else math.nan
        ratio = np.clip(medians / best, 1.0, 4.0)
        ax.set_facecolor("0.85")
        image = ax.imshow(np.ma.masked_invalid(ratio), cmap="viridis_r", norm=norm, aspect="auto")
        for i, row in enumerate(cells):
            for j, (runs, reached, median) in enumerate(row):
                if runs == 0:
                    continue
                text = f"{reached}/{runs}"
                if math.isfinite(median):
                    text += f" {median:.0f}" if unit == "steps" else f" {median:.1f}"
                # viridis_r is light near 1 and dark towards 4.
                light = not math.isfinite(median) or median / best < 1.6
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if light else "white",
                )
        ax.set_xticks(range(len(rates)), [f"{r:g}" for r in rates], fontsize=7)
        ax.set_yticks(
            range(len(optimizers)), optimizers if index % columns == 0 else [], fontsize=7
        )
        ax.set_xlabel("learning rate", fontsize=8)
        ax.set_title(workload, fontsize=9)
    colorbar = figure.colorbar(image, ax=figure.axes, shrink=0.6, aspect=30)
    colorbar.set_label(f"median {unit} to target / the workload's best cell", fontsize=8)
    colorbar.set_ticks([1, 1.5, 2, 3, 4], labels=["1", "1.5", "2", "3", ">=4"])
    figure.suptitle(
        f"Runs that reached the target, and their median {unit} (grey: none reached it)",
        fontsize=10,
    )
    return figure


def _key(attempt: Attempt) -> tuple[str, str]:
    return attempt.config["optimizer"], attempt.config["workload"]


def _effort(attempt: Attempt, unit: str) -> float:
    if not attempt.reached:
        return math.inf
    value = attempt.steps if unit == "steps" else attempt.seconds
    return math.inf if value is None else float(value)
