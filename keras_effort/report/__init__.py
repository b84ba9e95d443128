"""Effort reports: tables (rich, JSON, HTML), figures (matplotlib) and IOHprofiler exports.

The figures need matplotlib (`pip install "keras-effort[plot]"`), imported when one is drawn.
"""

from keras_effort.report.html import html_report
from keras_effort.report.ioh import export_ioh
from keras_effort.report.plots import (
    ledger_figure,
    plot_ecdf_comparison,
    plot_effort_against_target,
    plot_performance_profile,
    plot_restart_cost,
    plot_success_curve,
)
from keras_effort.report.tables import (
    LedgerReportRow,
    TableCells,
    effort_rich_table,
    effort_table_cells,
    ledger_report,
    report_as_json,
    report_rows,
)

__all__ = [
    "LedgerReportRow",
    "TableCells",
    "effort_rich_table",
    "effort_table_cells",
    "export_ioh",
    "html_report",
    "ledger_figure",
    "ledger_report",
    "plot_ecdf_comparison",
    "plot_effort_against_target",
    "plot_performance_profile",
    "plot_restart_cost",
    "plot_success_curve",
    "report_as_json",
    "report_rows",
]
