"""Effort reports: tables (rich, JSON) from ledgers and effort summaries."""

from keras_effort.report.tables import (
    LedgerReportRow,
    effort_rich_table,
    ledger_report,
    report_as_json,
)

__all__ = ["LedgerReportRow", "effort_rich_table", "ledger_report", "report_as_json"]
