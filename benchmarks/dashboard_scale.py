"""How long the Effort dashboard's `/data` route takes on large log dirs.

Goal (reliability issue, second pass): the page refreshes every 5 s, so a request on runs that
did not change must answer well under a second (it took 13-16 s for one run of 20,000
attempts and 3-4 s for 1,000 runs, the ledger being rebuilt before the cache was consulted).
The log dirs are synthetic: the summaries `EffortTensorBoard` writes (chunks of 32 attempts,
each chunk's newest summary complete), attempts cut at 4 steps, every 7th reaching the target.
TensorBoard's own reader feeds the plugin. Prints a table and writes
benchmarks/results/dashboard_scale.json.

    python benchmarks/dashboard_scale.py
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

import tensorflow as tf
from rich.console import Console
from rich.table import Table
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from keras_effort import Attempt
from keras_effort.report.tensorboard_plugin import summary
from keras_effort.report.tensorboard_plugin.plugin import EffortPlugin

RESULTS = Path(__file__).parent / "results" / "dashboard_scale.json"
CASES = {"1 run of 20,000 attempts": (1, 20_000), "1,000 runs of 10 attempts": (1_000, 10)}


def write_run(log_dir: Path, name: str, count: int) -> None:
    """The newest summary of each chunk of a run of `count` attempts, as the callback leaves."""
    timeline = []
    for index in range(count):
        reached = index % 7 == 6
        attempt = Attempt(
            name, "val_accuracy", 0.9, steps=3 if reached else 4, reached=reached, budget=4,
            outcome="reached" if reached else "cutoff", attempt=index, run=name,
        )  # fmt: skip
        start = timeline[-1].end if timeline else 0
        timeline.append(summary.TimedAttempt(attempt, start, start + attempt.steps, 1.7e9 + index))
    with tf.summary.create_file_writer(str(log_dir / name)).as_default():
        for first in range(0, count, summary.CHUNK_SIZE):
            chunk = timeline[first : first + summary.CHUNK_SIZE]
            tf.summary.write(
                summary.attempts_tag(first),
                tf.constant(summary.payload("val_accuracy", 0.9, chunk)),
                step=chunk[-1].end,
                metadata=summary.summary_metadata(),
            )


def time_requests(logs: Path) -> tuple[float, float]:
    """CPU seconds of the first request (reads and computes) and of a repeated one."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logs))
    multiplexer.Reload()
    context = base_plugin.TBContext(
        data_provider=data_provider.MultiplexerDataProvider(multiplexer, str(logs)),
        multiplexer=multiplexer,
        logdir=str(logs),
    )
    client = Client(EffortPlugin(context).get_plugin_apps()["/data"])
    seconds = []
    for _ in range(2):
        started = time.process_time()  # CPU time: it holds on a busy host
        assert client.get("/data").status_code == 200
        seconds.append(time.process_time() - started)
    return seconds[0], seconds[1]


def main() -> None:
    rows = []
    for case, (runs, attempts) in CASES.items():
        with tempfile.TemporaryDirectory() as logs:
            for run in range(runs):
                write_run(Path(logs), f"run-{run:04d}", attempts)
            first, again = time_requests(Path(logs))
        rows.append({"case": case, "first_request": first, "repeated_request": again})
    table = Table(title="Effort dashboard: CPU seconds per /data request")
    for column in ("case", "first request", "repeated request"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row["case"], f"{row['first_request']:.2f}", f"{row['repeated_request']:.3f}")
    Console().print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"rows": rows, "python": platform.python_version()}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
