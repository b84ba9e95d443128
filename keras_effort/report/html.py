"""A self-contained HTML report of a ledger: every experiment's table and figures, no network.

Figures are embedded as base64 PNG images and the page carries its own style, so the one file
can be mailed or opened offline.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from keras_effort._version import __version__
from keras_effort.ledger import Attempt, Ledger
from keras_effort.report.plots import (
    hardest_shared_target,
    plot_ecdf_comparison,
    plot_effort_against_target,
    plot_performance_profile,
    plot_restart_cost,
)
from keras_effort.report.suite import (
    SUITE_COLUMNS,
    UNITS,
    bench_attempts,
    plot_suite_heatmaps,
    plot_suite_profile,
    suite_cells,
    suite_efforts,
    suite_rows,
    suite_scores,
)
from keras_effort.report.tables import LedgerReportRow, effort_table_cells, report_rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ccc; padding: 0.25em 0.6em; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
p.footnote, p.legend { font-size: 0.9em; color: #555; }
figure { margin: 1em 0; } img { max-width: 100%; }
"""

_LEGEND = (
    "attempts: the attempts at the target (a run with restarts makes several); censored: "
    "those cut off without reaching it, and the steps they were cut at. "
    "Steps are gradient steps. Koza E(z): total steps of independent runs cut at a step so "
    "that one succeeds with probability z. l(c): expected total steps when restarting at "
    "cutoff c until success; c* minimises it; l(budget) is one long run. regime: 'restarts' "
    "when restarting at c* beats one long run by more than 5% across the 95% bootstrap "
    "interval of l(budget) / l(c*), 'single run' when the whole interval is within 5%, 'tie' "
    "when the runs cannot tell."
)


def html_report(
    ledger: Ledger,
    experiment: str | None = None,
    z: float = 0.99,
    n_boot: int = 1000,
    title: str | None = None,
) -> str:
    """One HTML page with every experiment's effort table and figures.

    Per experiment and metric: its table (as `keras-effort report` prints it), effort against
    target (with one target, its efforts and their intervals), success curves at up to six
    targets, and the restart cost at the target it reached least often (but at least once).
    With several experiments, a comparison: success curves at the hardest target they all
    reached and the performance profile over their shared targets.

    Args:
        ledger: the ledger to read.
        experiment: only this experiment (default: all).
        z: the confidence of Koza's effort.
        n_boot: bootstrap resamples for intervals; 0 for none.
        title: the page title (default: the ledger's path).

    Returns:
        The page, as a string.
    """
    attempts = ledger.attempts(experiment)  # read once: the tables and figures share them
    rows = report_rows(attempts, z, n_boot)
    # `location` names a database without its password.
    where = "in-memory ledger" if ledger.path is None and ledger.url is None else ledger.location
    title = title or f"Effort report: {where}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if not rows:
        parts.append("<p>The ledger has no attempts.</p>")
    groups: dict[tuple[str, str], list[Attempt]] = {}
    for attempt in attempts:
        groups.setdefault((attempt.experiment, attempt.target_metric), []).append(attempt)
    for index, ((name, metric), group_attempts) in enumerate(groups.items()):
        group_rows = [r for r in rows if (r.experiment, r.metric) == (name, metric)]
        parts += _experiment_section(index, name, metric, group_rows, group_attempts, z, n_boot)
    names = list(dict.fromkeys(row.experiment for row in rows))
    if len(names) > 1:
        parts += _comparison_section(attempts, z)
    if bench_attempts(attempts):
        parts += _suite_section(attempts)
    parts.append(f"<p class='legend'>{html.escape(_LEGEND)}</p>")
    parts.append(f"<p class='footnote'>Written by keras-effort {__version__}.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _experiment_section(
    index: int,
    name: str,
    metric: str,
    rows: list[LedgerReportRow],
    attempts: list[Attempt],
    z: float,
    n_boot: int,
) -> list[str]:
    label = f"{name}, {metric}"
    parts = [
        f'<section class="experiment" id="experiment-{index}">',
        f"<h2>{html.escape(label)}</h2>",
        _table(rows),
    ]
    targets = sorted({row.summary.target for row in rows})
    figure = plot_effort_against_target(attempts, z=z, n_boot=min(n_boot, 200))
    parts.append(_figure(figure, f"{label}: effort against target"))
    # More curves than this in one figure cannot be told apart: show targets spread evenly.
    spread = np.unique(np.linspace(0, len(targets) - 1, 6).round().astype(int))
    by_target = {
        f"target {targets[i]:g}": [a for a in attempts if a.target_value == targets[i]]
        for i in spread
    }
    parts.append(
        _figure(
            plot_ecdf_comparison(by_target, title=f"{name}: success curves by target"),
            f"{label}: success curves",
        )
    )
    reached = [row.summary for row in rows if row.summary.successes > 0]
    if reached:
        hardest = min(reached, key=lambda summary: summary.successes).target
        parts.append(
            _figure(
                plot_restart_cost([a for a in attempts if a.target_value == hardest]),
                f"{label}: restart cost at target {hardest:g}",
            )
        )
    parts.append("</section>")
    return parts


def _comparison_section(attempts: list[Attempt], z: float) -> list[str]:
    parts = ['<section class="comparison" id="comparison">', "<h2>Comparison</h2>"]
    metrics = dict.fromkeys(a.target_metric for a in attempts)
    for metric in metrics:
        at_metric = [a for a in attempts if a.target_metric == metric]
        names = list(dict.fromkeys(a.experiment for a in at_metric))
        shared = set.intersection(
            *({a.target_value for a in at_metric if a.experiment == n} for n in names)
        )
        if len(names) < 2 or not shared:
            continue

        hardest = hardest_shared_target(at_metric)
        curves = {
            n: [a for a in at_metric if a.experiment == n and a.target_value == hardest]
            for n in names
        }
        parts.append(
            _figure(
                plot_ecdf_comparison(curves),
                f"{metric}: success curves of the experiments at target {hardest:g}",
            )
        )
        parts.append(
            _figure(
                plot_performance_profile(at_metric, z=z),
                f"{metric}: performance profile over {len(shared)} shared targets",
            )
        )
    parts.append("</section>")
    return parts


def _suite_section(attempts: list[Attempt]) -> list[str]:
    """The effort suite (`keras-effort bench` runs): per-workload table, scores, profiles."""
    head = "".join(f"<th>{html.escape(column)}</th>" for column in SUITE_COLUMNS)
    body = [
        "<tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in row) + "</tr>"
        for row in suite_cells(suite_rows(attempts))
    ]
    parts = [
        '<section class="suite" id="suite">',
        "<h2>The effort suite</h2>",
        f'<table class="suite"><thead><tr>{head}</tr></thead><tbody>',
        *body,
        "</tbody></table>",
    ]
    scores = {}
    for unit in UNITS:
        workloads, efforts = suite_efforts(attempts, unit)
        scores[unit] = suite_scores(efforts)
    if workloads:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td>"
            + "".join(f'<td class="number">{scores[unit][name]:.3f}</td>' for unit in UNITS)
            + "</tr>"
            for name in scores["steps"]
        )
        parts.append(
            "<table><thead><tr><th>optimizer (best rate per workload)</th>"
            '<th class="number">score in steps</th><th class="number">score in seconds</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"
        )
        parts.append(
            f"<p class='footnote'>Score: the area under the performance profile over tau in "
            f"[1, 4], divided by 3, over the {len(workloads)} workloads every optimizer ran.</p>"
        )
        parts.append(_figure(plot_suite_profile(attempts), "performance profiles of the suite"))
    parts.append(
        _figure(plot_suite_heatmaps(attempts), "runs that reached the target, optimizer x rate")
    )
    parts.append("</section>")
    return parts


def _table(rows: Sequence[LedgerReportRow]) -> str:
    cells = effort_table_cells(rows)

    def cell(tag: str, text: str, numeric: bool) -> str:
        kind = ' class="number"' if numeric else ""
        return f"<{tag}{kind}>{html.escape(text)}</{tag}>"

    head = "".join(cell("th", h, n) for h, n in zip(cells.headers, cells.numeric, strict=True))
    body = [
        "<tr>"
        + "".join(cell("td", t, n) for t, n in zip(row, cells.numeric, strict=True))
        + "</tr>"
        for row in cells.rows
    ]
    notes = [f"<p class='footnote'>{html.escape(note)}</p>" for note in cells.footnotes]
    return "\n".join(
        [
            '<table class="effort">',
            f"<thead><tr>{head}</tr></thead>",
            "<tbody>",
            *body,
            "</tbody></table>",
            *notes,
        ]
    )


def _figure(figure: Figure, caption: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    text = html.escape(caption)
    return (
        f'<figure><img alt="{text}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{text}</figcaption></figure>"
    )
