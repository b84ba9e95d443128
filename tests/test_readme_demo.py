"""The README's demo table is what `keras-effort demo` computes from the runs it recorded.

`docs/figures/readme-demo.sqlite` is the ledger written by the very command the README quotes
(`keras-effort demo --ledger docs/figures/readme-demo.sqlite`); the table printed beside it is
pasted into the README. Here the README's table is parsed and every figure in it, the regime
first, is recomputed from that ledger. With `KERAS_EFFORT_DEMO_OUTPUT` naming the output of a
fresh `keras-effort demo` (CI runs one), its regimes must be the README's too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keras_effort import Ledger
from keras_effort.report import ledger_report

ROOT = Path(__file__).resolve().parents[1]
LEDGER = ROOT / "docs" / "figures" / "readme-demo.sqlite"
TITLE = "Effort to validation-accuracy targets"


def demo_table(text: str) -> list[dict[str, str]]:
    """The rows of the first demo table in `text`, as {header: cell}."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(TITLE))
    headers, rows = None, []
    for line in lines[start + 1 :]:
        if line.startswith("┃"):
            headers = [cell.strip() for cell in line.strip().strip("┃").split("┃")]
        elif line.startswith("│") and headers:
            cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
            rows.append(dict(zip(headers, cells, strict=True)))
        elif line.startswith("└"):
            return rows
    raise AssertionError("the demo table has no end")


def _steps(value: float | None) -> str:
    return "-" if value is None else "inf" if value == float("inf") else f"{value:,.0f}"


@pytest.fixture(scope="module")
def readme_rows() -> list[dict[str, str]]:
    return demo_table((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_table_is_the_demo_ledgers_table(readme_rows):
    summaries = sorted(
        (row.summary for row in ledger_report(Ledger(LEDGER, read_only=True), n_boot=1000)),
        key=lambda summary: summary.target,
    )
    assert [row["target"] for row in readme_rows] == [f"{s.target:g}" for s in summaries]
    for row, summary in zip(readme_rows, summaries, strict=True):
        assert row["regime"] == summary.regime, f"target {summary.target}"
        assert row["attempts"] == str(summary.runs)
        assert row["success"] == f"{summary.success_rate:.0%}"
        assert row["c*"] == _steps(summary.optimal_cutoff)
        assert row["l(c*)"] == _steps(summary.expected_steps_optimal)
        assert row["l(budget)"] == _steps(summary.expected_steps_single_run)
    # The story the README tells: one long run for modest targets, no verdict at 0.7.
    assert [s.regime for s in summaries] == ["single run"] * 3 + ["tie"]


@pytest.mark.skipif(
    not os.environ.get("KERAS_EFFORT_DEMO_OUTPUT"),
    reason="KERAS_EFFORT_DEMO_OUTPUT names no output of a fresh `keras-effort demo`",
)
def test_a_fresh_demo_agrees_with_the_readme_in_regime(readme_rows):
    fresh = demo_table(Path(os.environ["KERAS_EFFORT_DEMO_OUTPUT"]).read_text(encoding="utf-8"))
    assert [(row["target"], row["regime"]) for row in fresh] == [
        (row["target"], row["regime"]) for row in readme_rows
    ]
