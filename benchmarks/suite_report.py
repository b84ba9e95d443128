"""The effort suite's results in a ledger, as the docs show them: Markdown tables and figures.

Reads the runs `keras-effort bench` wrote into one or more ledgers, or a JSON export of an earlier
report (only the named optimizers, default all),
prints the per-workload table and the profile scores in steps and seconds as Markdown, draws
the performance profiles and the optimizer x rate heat maps, and exports the runs as JSON (the
record kept in benchmarks/results/).

    python benchmarks/suite_report.py suite.sqlite --optimizers adam autorate_adam \\
        --profile docs/images/effort_suite_profile.png --json benchmarks/results/suite_runs.json
    python benchmarks/suite_report.py benchmarks/results/suite_runs.json more.sqlite \\
        --json benchmarks/results/suite_runs.json      # add a new ledger's runs to the record
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from keras_effort.ledger import Attempt, Ledger
from keras_effort.report.suite import (
    SUITE_COLUMNS,
    UNITS,
    SuiteRow,
    bench_attempts,
    plot_suite_heatmaps,
    plot_suite_profile,
    suite_cells,
    suite_efforts,
    suite_rows,
    suite_scores,
)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def matrix(rows: list[SuiteRow]) -> str:
    """Optimizers down, workloads across: runs that reached, rates with a success, median steps."""
    workloads = list(dict.fromkeys(row.workload for row in rows))
    cells: dict[str, dict[str, str]] = {}
    for row in rows:
        steps = "-" if row.median_steps is None else f"{row.median_steps:.0f}"
        cell = f"{row.reached}/{row.runs}, {row.rates_reached}/{row.rates}, {steps}"
        cells.setdefault(row.optimizer, {})[row.workload] = cell
    return markdown(
        ["optimizer", *(f"`{name}`" for name in workloads)],
        [[name, *(mine.get(w, "") for w in workloads)] for name, mine in cells.items()],
    )


def read_runs(source: Path) -> list[Attempt]:
    """The attempts of a ledger file, or of a JSON export written by `--json`."""
    if source.suffix == ".json":
        fields = {field.name for field in dataclasses.fields(Attempt)}
        runs = json.loads(source.read_text())["runs"]
        return [Attempt(**{key: run[key] for key in fields if key in run}) for run in runs]
    return list(Ledger(source, read_only=True).attempts())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="ledgers or JSON exports")
    parser.add_argument("--optimizers", nargs="+", help="only these (default: all)")
    parser.add_argument(
        "--matrix",
        action="store_true",
        help="one row per optimizer: runs reached, rates with a success, median steps",
    )
    parser.add_argument("--profile", type=Path, help="write the profiles here")
    parser.add_argument("--heatmaps", type=Path, help="write the heat maps here")
    parser.add_argument("--json", type=Path, help="export the runs here")
    args = parser.parse_args()
    # A run recorded in two sources (a ledger and its earlier export) counts once.
    unique = {
        (run.experiment, run.run, run.attempt, run.target_metric): run
        for source in reversed(args.sources)
        for run in read_runs(source)
    }
    attempts = bench_attempts(list(unique.values()))
    if args.optimizers:
        order = {name: index for index, name in enumerate(args.optimizers)}
        attempts = [a for a in attempts if a.config["optimizer"] in order]
        attempts.sort(key=lambda a: order[a.config["optimizer"]])
    rows = suite_rows(attempts)
    print(matrix(rows) if args.matrix else markdown(list(SUITE_COLUMNS), suite_cells(rows)))
    scores = {}
    for unit in UNITS:
        _, efforts = suite_efforts(attempts, unit)
        scores[unit] = suite_scores(efforts)
    print()
    print(
        markdown(
            ["optimizer (best rate per workload)", "score in steps", "score in seconds"],
            [
                [name, f"{scores['steps'][name]:.3f}", f"{scores['seconds'][name]:.3f}"]
                for name in scores["steps"]
            ],
        )
    )
    if args.profile:
        plot_suite_profile(attempts).savefig(args.profile, dpi=120)
    if args.heatmaps:
        plot_suite_heatmaps(attempts).savefig(args.heatmaps, dpi=120)
    if args.json:
        runs = [dataclasses.asdict(a) for a in attempts]
        document = {"command": "keras-effort bench OPTIMIZER --ledger LEDGER", "runs": runs}
        args.json.write_text(json.dumps(document, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
