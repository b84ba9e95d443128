"""The `keras-effort` command: `demo` trains and measures, `report` summarises a ledger."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from keras_effort import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `keras-effort` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-effort",
        description="Measure training effort: gradient steps to a target, with restarts.",
    )
    parser.add_argument("--version", action="version", version=f"keras-effort {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="train a small MLP on MNIST-1D several times and print the effort table",
        description="Train a small MLP on MNIST-1D (generated offline) with Adam several "
        "times, record the steps to each validation-accuracy target, print the effort table.",
    )
    demo.add_argument("--runs", type=_positive_int, default=8, help="independent runs (8)")
    demo.add_argument(
        "--targets",
        type=float,
        nargs="+",
        default=None,
        help="validation-accuracy targets (0.5 0.6 0.65 0.7)",
    )
    demo.add_argument("--epochs", type=_positive_int, default=40, help="epochs per run (40)")
    demo.add_argument("--check-every", type=_positive_int, default=25, help="steps (25)")
    demo.add_argument(
        "--learning-rate", type=_positive_float, default=3e-3, help="Adam's rate (3e-3)"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the first run (0)")
    demo.add_argument("--ledger", type=Path, help="also record every attempt in this ledger")
    demo.set_defaults(run=_demo)

    report = commands.add_parser(
        "report",
        help="print the effort table of every experiment and target in a ledger",
        description="Print the effort table of every experiment and target in a ledger.",
    )
    report.add_argument("ledger", type=Path, help="the ledger file (SQLite)")
    report.add_argument("--experiment", help="only this experiment")
    report.add_argument("--z", type=float, default=0.99, help="Koza's confidence (0.99)")
    report.add_argument(
        "--bootstrap", type=int, default=1000, help="resamples for intervals, 0 for none (1000)"
    )
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    report.set_defaults(run=_report)
    return parser


def _console() -> Console:
    # Effort tables have many columns: do not squeeze them into 80 columns when piped.
    return Console(width=None if sys.stdout.isatty() else 160)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0.0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rich.progress import Progress

    from keras_effort.demo import DEFAULT_TARGETS, run_demo
    from keras_effort.ledger import Ledger
    from keras_effort.report import effort_rich_table

    console = _console()
    targets = args.targets or list(DEFAULT_TARGETS)
    if any(not 0.0 <= t <= 1.0 for t in targets):
        console.print(f"[red]--targets must be accuracies in [0, 1], got {targets}[/red]")
        return 2
    ledger = Ledger(args.ledger) if args.ledger else None
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("training MLPs on MNIST-1D", total=args.runs)
        result = run_demo(
            runs=args.runs,
            targets=targets,
            epochs=args.epochs,
            check_every=args.check_every,
            learning_rate=args.learning_rate,
            seed=args.seed,
            ledger=ledger,
            on_run_end=lambda _: progress.advance(task),
        )
    title = (
        f"Effort to validation-accuracy targets: MLP on MNIST-1D, Adam({args.learning_rate:g}), "
        f"{args.runs} runs of at most {result.budget:,} steps ({result.seconds:.0f} s)"
    )
    console.print(effort_rich_table(result.rows, title=title))
    console.print(
        "steps are gradient steps. E(0.99): Koza's effort, total steps of independent runs cut "
        "at a step so that one succeeds with probability 0.99. l(c): expected total steps when "
        "restarting at cutoff c until success; c* minimises it; l(budget) is one long run. "
        "regime: 'restarts' when restarting at c* beats one long run by more than 5%.",
        soft_wrap=True,
    )
    if ledger is not None:
        console.print(
            f"attempts recorded in {args.ledger}; see `keras-effort report {args.ledger}`",
            soft_wrap=True,
        )
    return 0


def _report(args: argparse.Namespace) -> int:
    from keras_effort.ledger import Ledger
    from keras_effort.report import effort_rich_table, ledger_report, report_as_json

    console = _console()
    if not args.ledger.is_file():
        console.print(f"[red]no ledger at {args.ledger}[/red]")
        return 2
    if not 0.0 < args.z < 1.0:
        console.print(f"[red]--z must be in (0, 1), got {args.z}[/red]")
        return 2
    rows = ledger_report(Ledger(args.ledger), args.experiment, args.z, max(args.bootstrap, 0))
    if args.json:
        sys.stdout.write(report_as_json(rows) + "\n")
    elif not rows:
        console.print(
            "the ledger has no attempts" + (f" for {args.experiment!r}" if args.experiment else "")
        )
    else:
        console.print(
            effort_rich_table(rows, title=f"Effort by experiment and target: {args.ledger}")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
