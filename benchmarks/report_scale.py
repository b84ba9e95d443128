"""How long `keras-effort report` takes on large ledgers: table, JSON, no bootstrap, HTML.

Goal (reliability issue, second pass): a ledger of 100,000 attempts is reported in seconds
(it took 16.8 s, 8.1 s with `--bootstrap 0` and 37 s with `--html`). The ledgers are
synthetic: 10 experiments at 5 targets each, lognormal steps-to-target cut at Luby cutoffs
(so most failed attempts are censored early), one SQLite file per size, made once and kept
in the cache folder. Prints a table and writes benchmarks/results/report_scale.json.

    python benchmarks/report_scale.py [--sizes 1000 10000 100000] [--cache DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from keras_effort import Attempt, Ledger
from keras_effort.cli import main as cli
from keras_effort.restarts import Luby

RESULTS = Path(__file__).parent / "results" / "report_scale.json"
EXPERIMENTS, TARGETS = 10, (0.6, 0.7, 0.8, 0.85, 0.9)
COMMANDS = {
    "report --bootstrap 0": ["--bootstrap", "0"],
    "report": [],
    "report --json": ["--json"],
    "report --html": ["--html"],
}


def make_ledger(path: Path, rows: int) -> None:
    """A ledger of `rows` attempts spread over the experiments and targets."""
    rng = np.random.default_rng(0)
    per_group = rows // (EXPERIMENTS * len(TARGETS))
    cutoffs = list(itertools.islice(Luby(unit=32), 64))
    partial = path.with_name(path.name + ".partial")
    ledger = Ledger(partial)
    for experiment in range(EXPERIMENTS):
        for level, target in enumerate(TARGETS):
            # Harder targets and later experiments take longer: efforts differ between rows.
            steps = rng.lognormal(4.0 + 0.4 * level + 0.1 * experiment, 1.0, per_group)
            for index, needed in enumerate(np.ceil(steps).astype(int).tolist()):
                budget = cutoffs[index % len(cutoffs)]
                reached = needed <= budget
                ledger.add(
                    Attempt(
                        f"exp-{experiment}",
                        "val_accuracy",
                        target,
                        steps=min(needed, budget),
                        reached=reached,
                        budget=budget,
                        outcome="reached" if reached else "cutoff",
                        attempt=index % len(cutoffs),
                        run=f"target-{target}-run-{index // len(cutoffs)}",
                    )
                )
    ledger.close()
    partial.replace(path)


def time_command(ledger: Path, options: list[str], out: Path) -> dict[str, float]:
    """Wall-clock and CPU seconds of one `keras-effort report` (CPU time holds on a busy host)."""
    if options == ["--html"]:
        options = ["--html", str(out / "report.html")]
    started, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        status = cli(["report", str(ledger), *options])
    seconds = {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}
    if status != 0:
        raise RuntimeError(f"report {options} failed with status {status}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for size in args.sizes:
            path = args.cache / f"keras-effort-report-scale-{size}.sqlite"
            if not path.exists():
                make_ledger(path, size)
            assert len(Ledger(path, read_only=True).attempts()) == size
            row = {"attempts": size}
            for name, options in COMMANDS.items():
                row[name] = time_command(path, options, Path(out))
            rows.append(row)

    table = Table(title="keras-effort report on SQLite ledgers: CPU seconds (wall seconds)")
    table.add_column("attempts", justify="right")
    for name in COMMANDS:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(
            f"{row['attempts']:,}",
            *(f"{row[name]['cpu']:.2f} ({row[name]['wall']:.2f})" for name in COMMANDS),
        )
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "experiments": EXPERIMENTS,
                "targets": list(TARGETS),
                "rows": rows,
                "python": platform.python_version(),
                "load_average": os.getloadavg(),
                "machine": platform.machine(),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
