"""Effort tables: one row per experiment and target, for terminals (rich) and machines (JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from keras_effort.effort import EffortSummary, RuntimeDistribution, summarize
from keras_effort.ledger import Attempt, Ledger

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
    return _rows(ledger.runtime_distributions(experiment), z, n_boot)


def report_rows(
    attempts: Sequence[Attempt], z: float = 0.99, n_boot: int = 1000
) -> list[LedgerReportRow]:
    """`ledger_report` of attempts read already: one row per experiment, metric and target.

    Rows come in the order of each group's first attempt, as a ledger lists its targets.

    Args:
        attempts: the attempts, in the ledger's order.
        z: the confidence of Koza's effort.
        n_boot: bootstrap resamples for the interval of `l(c*)`; 0 to skip it.
    """
    groups: dict[tuple[str, str, float], list[Attempt]] = {}
    for attempt in attempts:
        key = (attempt.experiment, attempt.target_metric, attempt.target_value)
        groups.setdefault(key, []).append(attempt)
    distributions = {
        key: RuntimeDistribution.from_attempts(group) for key, group in groups.items()
    }
    return _rows(distributions, z, n_boot)


def _rows(
    distributions: Mapping[tuple[str, str, float], RuntimeDistribution], z: float, n_boot: int
) -> list[LedgerReportRow]:
    rows = []
    for (name, metric, value), distribution in distributions.items():
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

    The Koza column names the `z` of the rows. The `censored` column counts the attempts that
    did not reach the target and the steps they were censored at. A `note` column, explained
    in footnotes, marks a row whose estimates rest on fewer than `FEW_SUCCESSES` successes,
    and one where most attempts were censored before the longest budget (`heavily_censored`).

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
    columns += [(header, True) for header in ("target", "attempts", "success", "censored")]
    columns += [("median", True), (f"Koza E({z:g})", True), ("c*", True), ("l(c*)", True)]
    if with_interval:
        columns.append(("l(c*) 95% CI", True))
    columns += [("l(budget)", True), ("regime", False)]
    few = [0 < summary.successes < FEW_SUCCESSES for summary in plain]
    heavy = [heavily_censored(summary) for summary in plain]
    if any(few) or any(heavy):
        columns.append(("note", False))
    rows = []
    for row, summary in zip(summaries, plain, strict=True):
        cells = [row.experiment, row.metric] if with_experiment else []
        cells += [
            f"{summary.target:g}",
            str(summary.runs),
            f"{summary.success_rate:.0%}",
            _censored(summary),
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
        if any(few) or any(heavy):
            cells.append(note(summary))
        rows.append(cells)
    footnotes = []
    if any(few):
        footnotes.append(FEW_SUCCESSES_NOTE)
    if any(heavy):
        footnotes.append(HEAVY_CENSORING_NOTE)
    return TableCells(
        headers=[name for name, _ in columns],
        rows=rows,
        numeric=[numeric for _, numeric in columns],
        footnotes=footnotes,
    )


# Columns whose cells hold several words: the ones squeezed when a table is too wide.
WRAPPING_COLUMNS = ("censored", "l(c*) 95% CI", "note")
FEW_SUCCESSES_NOTE = (
    f"* fewer than {FEW_SUCCESSES} attempts reached the target: a rough estimate "
    "(see the bootstrap intervals)"
)
HEAVY_CENSORING_NOTE = (
    "** most attempts were cut off (censored) before the longest budget: they say nothing "
    "past their cutoff, so median, c* and l(c*) rest on the attempts that ran longer "
    "(Kaplan-Meier), and can sit far from the share that reached ('success')"
)


def heavily_censored(summary: EffortSummary) -> bool:
    """Whether most attempts were censored before the horizon (the longest budget)."""
    return summary.censored_early > summary.runs / 2


def note(summary: EffortSummary) -> str:
    """The `note` cell of a row: few successes (`*`), heavy censoring (`**`), or nothing."""
    notes = []
    if 0 < summary.successes < FEW_SUCCESSES:
        plural = "es" if summary.successes > 1 else ""
        notes.append(f"{summary.successes} success{plural}*")
    if heavily_censored(summary):
        notes.append(f"{summary.censored_early}/{summary.runs} cut early**")
    return ", ".join(notes)


def _censored(summary: EffortSummary) -> str:
    """`n at steps` (`n at low-high` when censored at several steps); `0` when none."""
    if summary.censored_steps is None:
        return "0"
    low, high = summary.censored_steps
    where = f"{low:,}" if low == high else f"{low:,}-{high:,}"
    return f"{summary.censored} at {where}"


def effort_rich_table(
    summaries: Sequence[EffortSummary | LedgerReportRow],
    title: str | Text | None = None,
    width: int | None = None,
) -> RenderableType:
    """A rich table of effort summaries (or ledger report rows), one row per target.

    The cells are `effort_table_cells'`; its footnotes are the table's caption. No cell is
    ever cut short. When the table cannot fit in `width` columns with every name and number
    whole, each row is printed as a block instead: its experiment, metric and target on a
    line of their own, then its figures, `header value`, wrapped at the width.

    Args:
        summaries: the rows.
        title: the table's title.
        width: the columns the table is printed in (default: no limit).

    Returns:
        A `rich.table.Table`, or the blocks as a `rich.console.Group`.
    """
    cells = effort_table_cells(summaries)
    table = _rich_table(cells, title)
    # Measured unbounded: a console of `width` would clamp the measure to it.
    if width is None or Console(width=10**6).measure(table).minimum <= width:
        return table
    blocks: list[RenderableType] = [] if title is None else [Text.assemble(title, style="bold")]
    named = [h for h in ("experiment", "metric", "target") if h in cells.headers]
    for row in cells.rows:
        values = dict(zip(cells.headers, row, strict=True))
        heading = " ".join(values.pop(h) if h != "target" else f"target {values.pop(h)}"
                           for h in named)  # fmt: skip
        figures = ", ".join(f"{header} {value}" for header, value in values.items() if value)
        blocks += [Text(heading, style="bold"), Text("  " + figures)]
    blocks += [Text(note) for note in cells.footnotes]
    return Group(*blocks)


def _rich_table(cells: TableCells, title: str | Text | None) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        caption="\n".join(cells.footnotes) or None,
        caption_justify="left",
    )
    for header, numeric in zip(cells.headers, cells.numeric, strict=True):
        # Names and numbers stay on one line; the columns of several words wrap at spaces.
        table.add_column(
            header,
            justify="right" if numeric else "left",
            overflow="fold",
            no_wrap=header not in WRAPPING_COLUMNS,
        )
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
