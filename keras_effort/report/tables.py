"""Effort tables: one row per experiment and target, for terminals (rich) and machines (JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

from keras_effort.effort import EffortSummary, summarize
from keras_effort.ledger import Ledger


@dataclass(frozen=True)
class LedgerReportRow:
    """The effort summary of one experiment at one target, with a bootstrap interval.

    Attributes:
        experiment: the experiment name.
        metric: the monitored metric.
        summary: the effort figures.
        interval: 95% bootstrap interval of `l(c*)` (`None` when not computed).
    """

    experiment: str
    metric: str
    summary: EffortSummary
    interval: tuple[float, float] | None = None


def ledger_report(
    ledger: Ledger,
    experiment: str | None = None,
    z: float = 0.99,
    n_boot: int = 1000,
) -> list[LedgerReportRow]:
    """Summarise every experiment and target recorded in a ledger.

    Args:
        ledger: the ledger to read.
        experiment: only this experiment (default: all).
        z: the confidence of Koza's effort.
        n_boot: bootstrap resamples for the interval of `l(c*)`; 0 to skip it.
    """
    rows = []
    for name, metric, value in ledger.targets(experiment):
        distribution = ledger.runtime_distribution(name, metric, value)
        interval = (
            distribution.confidence_interval("expected", n_boot=n_boot) if n_boot > 0 else None
        )
        rows.append(LedgerReportRow(name, metric, summarize(distribution, value, z), interval))
    return rows


def effort_rich_table(
    summaries: Sequence[EffortSummary | LedgerReportRow], title: str | Text | None = None
) -> Table:
    """A rich table of effort summaries (or ledger report rows), one row per target."""
    with_experiment = any(isinstance(row, LedgerReportRow) for row in summaries)
    with_interval = any(getattr(row, "interval", None) is not None for row in summaries)
    table = Table(title=title, title_justify="left")
    if with_experiment:
        table.add_column("experiment")
        table.add_column("metric")
    for header in ("target", "runs", "success", "median", "Koza E(0.99)", "c*", "l(c*)"):
        table.add_column(header, justify="right")
    if with_interval:
        table.add_column("l(c*) 95% CI", justify="right")
    table.add_column("l(budget)", justify="right")
    table.add_column("regime")
    for row in summaries:
        summary = row.summary if isinstance(row, LedgerReportRow) else row
        # Names are data, not markup or emoji codes: `adam[lr=3e-3]` prints as it is.
        cells = [Text(row.experiment), Text(row.metric)] if with_experiment else []
        cells += [
            f"{summary.target:g}",
            str(summary.runs),
            f"{summary.success_rate:.0%}",
            _steps(summary.median_steps),
            _steps(summary.koza_effort),
            _steps(summary.optimal_cutoff),
            _steps(summary.expected_steps_optimal),
        ]
        if with_interval:
            interval = getattr(row, "interval", None)
            cells.append(
                "" if interval is None else f"{_steps(interval[0])} to {_steps(interval[1])}"
            )
        cells += [_steps(summary.expected_steps_single_run), summary.regime]
        table.add_row(*cells)
    return table


def report_as_json(rows: Sequence[LedgerReportRow]) -> str:
    """Ledger report rows as JSON; infinite efforts are written as `null`."""
    records = []
    for row in rows:
        record = {"experiment": row.experiment, "metric": row.metric, **row.summary.as_dict()}
        record["expected_steps_optimal_interval"] = row.interval
        records.append(record)
    return json.dumps(_finite_or_none(records), indent=2)


def _finite_or_none(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


def _steps(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isinf(value)):
        return "inf" if value is not None else "-"
    return f"{value:,.0f}"
