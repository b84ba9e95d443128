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

# Below this many successes an effort estimate is flagged as resting on few successes.
FEW_SUCCESSES = 5


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
        n_boot: bootstrap resamples for the interval of `l(c*)` and the regime call; 0 to
            skip them (the regime is then called on the point estimate).
    """
    rows = []
    for name, metric, value in ledger.targets(experiment):
        distribution = ledger.runtime_distribution(name, metric, value)
        interval = (
            distribution.confidence_interval("expected", n_boot=n_boot) if n_boot > 0 else None
        )
        summary = summarize(distribution, value, z, n_boot)
        rows.append(LedgerReportRow(name, metric, summary, interval))
    return rows


@dataclass(frozen=True)
class TableCells:
    """An effort table as text, ready for any renderer (terminal, HTML).

    Attributes:
        headers: the column headers.
        rows: one list of cell texts per row, aligned with `headers`.
        numeric: per column, whether it holds numbers (to right-align).
        footnotes: lines to print under the table (what the marks in the cells mean).
    """

    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    footnotes: list[str]


def effort_table_cells(summaries: Sequence[EffortSummary | LedgerReportRow]) -> TableCells:
    """The cells of an effort table, one row per summary.

    The Koza column names the `z` of the rows. A row whose estimates rest on fewer than
    `FEW_SUCCESSES` successes says so in a `note` column, explained in a footnote.

    Raises:
        ValueError: when the rows were computed with different `z`.
    """
    with_experiment = any(isinstance(row, LedgerReportRow) for row in summaries)
    with_interval = any(getattr(row, "interval", None) is not None for row in summaries)
    plain = [row.summary if isinstance(row, LedgerReportRow) else row for row in summaries]
    z_values = sorted({summary.z for summary in plain})
    if len(z_values) > 1:
        raise ValueError(f"the rows mix Koza confidences z = {z_values}; tabulate them apart")
    z = z_values[0] if z_values else 0.99
    columns = [("experiment", False), ("metric", False)] if with_experiment else []
    columns += [(header, True) for header in ("target", "runs", "success", "median")]
    columns += [(f"Koza E({z:g})", True), ("c*", True), ("l(c*)", True)]
    if with_interval:
        columns.append(("l(c*) 95% CI", True))
    columns += [("l(budget)", True), ("regime", False)]
    few = [0 < summary.successes < FEW_SUCCESSES for summary in plain]
    if any(few):
        columns.append(("note", False))
    rows = []
    for row, summary, thin in zip(summaries, plain, few, strict=True):
        cells = [row.experiment, row.metric] if with_experiment else []
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
        if any(few):
            plural = "es" if summary.successes > 1 else ""
            cells.append(f"{summary.successes} success{plural}*" if thin else "")
        rows.append(cells)
    footnotes = []
    if any(few):
        footnotes.append(
            f"* fewer than {FEW_SUCCESSES} runs reached the target: a rough estimate "
            "(see the bootstrap intervals)"
        )
    return TableCells(
        headers=[name for name, _ in columns],
        rows=rows,
        numeric=[numeric for _, numeric in columns],
        footnotes=footnotes,
    )


def effort_rich_table(
    summaries: Sequence[EffortSummary | LedgerReportRow], title: str | Text | None = None
) -> Table:
    """A rich table of effort summaries (or ledger report rows), one row per target.

    The cells are `effort_table_cells`'; its footnotes are the table's caption.
    """
    cells = effort_table_cells(summaries)
    table = Table(
        title=title,
        title_justify="left",
        caption="\n".join(cells.footnotes) or None,
        caption_justify="left",
    )
    for header, numeric in zip(cells.headers, cells.numeric, strict=True):
        table.add_column(header, justify="right" if numeric else "left")
    for row in cells.rows:
        # Cells are data, not markup or emoji codes: `adam[lr=3e-3]` prints as it is.
        table.add_row(*(Text(cell) for cell in row))
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
