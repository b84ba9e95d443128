"""What `keras-effort bench` prints and draws (the command's options are in keras_effort.cli)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from keras_effort.ledger import Ledger, LedgerError
from keras_effort.report.suite import (
    UNITS,
    plot_suite_heatmaps,
    plot_suite_profile,
    scores_rich_table,
    suite_efforts,
    suite_rich_table,
    suite_rows,
    suite_scores,
)
from keras_effort.workloads.bench import BenchPlan, machine_load, plan_bench, run_bench
from keras_effort.workloads.catalogue import WORKLOADS
from keras_effort.workloads.optimizers import NAMED_OPTIMIZERS


def bench_command(args: argparse.Namespace, console: Console) -> int:
    """Run `keras-effort bench` with parsed `args`; the exit status."""
    if args.list:
        console.print(workloads_table())
        console.print("optimizers: " + ", ".join(NAMED_OPTIMIZERS), soft_wrap=True)
        return 0
    if args.optimizer is None:
        return _fail(console, "give an OPTIMIZER (see keras-effort bench --list)")
    try:
        ledger = Ledger(args.ledger)
        plan = plan_bench(
            args.optimizer, ledger, args.workloads, args.rates, args.seeds, args.smoke
        )
    except (LedgerError, ValueError) as error:
        return _fail(console, str(error))
    console.print(
        f"{len(plan.jobs)} runs of {plan.optimizer} on {len(plan.workloads)} workloads, "
        f"{len(plan.done)} already in {ledger.location}; {machine_load()}",
        soft_wrap=True,
        markup=False,
    )
    start = time.perf_counter()
    if plan.pending:
        if args.quiet:
            run_bench(plan, ledger)
        else:
            _run_with_progress(plan, ledger, console)
    # The plan's own runs, and every other optimizer's in the ledger on the same workloads,
    # rates and seeds: the profile compares like with like.
    prefix = "bench-smoke:" if plan.smoke else "bench:"
    attempts = [
        a
        for a in ledger.attempts()
        if a.experiment.startswith(prefix)
        and a.config.get("workload") in {w.name for w in plan.workloads}
        and a.config.get("rate") in plan.rates
        and (a.seed or 0) < plan.seeds
    ]
    console.print(
        suite_rich_table(
            [r for r in suite_rows(attempts) if r.optimizer == plan.optimizer],
            title=f"{plan.optimizer} on the effort suite ({time.perf_counter() - start:.0f} s)",
        )
    )
    scores = {}
    for unit in UNITS:
        workloads, efforts = suite_efforts(attempts, unit, per_rate=plan.optimizer)
        scores[unit] = suite_scores(efforts)
    if workloads:
        console.print(scores_rich_table(scores, workloads))
    try:
        figure = plot_suite_profile(attempts, per_rate=plan.optimizer)
    except ImportError as error:
        console.print(str(error), style="red", markup=False)
        return 0
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.plot, dpi=120)
    heatmaps = args.plot.with_name(f"{args.plot.stem}_rates{args.plot.suffix}")
    plot_suite_heatmaps(attempts).savefig(heatmaps, dpi=120)
    console.print(
        f"profile written to {args.plot}, optimizer x rate heat maps to {heatmaps}",
        soft_wrap=True,
        markup=False,
    )
    return 0


def workloads_table() -> Table:
    """The suite's workloads: name, family, metric, target, budget and protocol."""
    table = Table(title="The effort suite")
    for column in ("name", "family", "metric", "target", "budget", "batch", "check every"):
        table.add_column(column, justify="right" if column in ("budget", "batch") else "left")
    for workload in WORKLOADS.values():
        facts = workload.summary()
        sign = ">=" if facts["mode"] == "max" else "<="
        table.add_row(
            facts["name"],
            facts["family"],
            facts["metric"],
            f"{sign} {facts['target']:g}",
            f"{facts['budget']} steps",
            str(facts["batch_size"]),
            f"{facts['check_every']} steps",
        )
    return table


def _run_with_progress(plan: BenchPlan, ledger: Ledger, console: Console) -> None:
    columns: list[Any] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("runs", total=len(plan.pending))
        run = progress.add_task("steps", total=1)

        def started(job: Any, budget: int) -> None:
            progress.reset(
                run,
                total=budget,
                description=f"{job.workload.name} rate {job.rate:g} seed {job.seed}",
            )

        def ended(job: Any, record: Any) -> None:
            progress.advance(overall)

        run_bench(
            plan,
            ledger,
            on_run_start=started,
            on_steps=lambda steps: progress.update(run, completed=steps),
            on_run_end=ended,
        )


def _fail(console: Console, message: str) -> int:
    Console(stderr=True).print(message, style="red", soft_wrap=True, markup=False)
    return 2
