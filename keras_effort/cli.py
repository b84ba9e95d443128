"""The `keras-effort` command: `demo` trains and measures, `report` summarises a ledger,
`bench` runs the effort suite."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from keras_effort import __version__
from keras_effort.arguments import ArgumentError, positive_int, positive_real
from keras_effort.ledger.redact import redact
from keras_effort.report.ioh import FORMATS

if TYPE_CHECKING:
    from keras_effort.ledger import Ledger
from keras_effort.report.plots import PLOT_KINDS  # imports matplotlib only when drawing

# Where the process start is unknown, the demo's wall-clock time counts from here.
STARTED = time.perf_counter()


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
    demo.add_argument("--runs", type=_POSITIVE_INT, default=8, help="independent runs (8)")
    demo.add_argument(
        "--targets",
        type=float,
        nargs="+",
        default=None,
        help="validation-accuracy targets (0.5 0.6 0.65 0.7)",
    )
    demo.add_argument("--epochs", type=_POSITIVE_INT, default=40, help="epochs per run (40)")
    demo.add_argument("--check-every", type=_POSITIVE_INT, default=25, help="steps (25)")
    demo.add_argument(
        "--learning-rate", type=_POSITIVE_REAL, default=3e-3, help="Adam's rate (3e-3)"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the first run (0)")
    demo.add_argument(
        "--ledger", help="also record every attempt in this ledger (a file or a postgresql:// URL)"
    )
    demo.add_argument(
        "--plot",
        type=_figure_path,
        metavar="FILE",
        help="also draw effort against target into FILE (.png, .svg or .pdf; needs matplotlib)",
    )
    demo.add_argument("--verbose", action="store_true", help="show TensorFlow's own log messages")
    demo.set_defaults(run=_demo)

    report = commands.add_parser(
        "report",
        help="print the effort table of every experiment and target in a ledger",
        description="Print the effort table of every experiment and target in a ledger.",
    )
    _add_ledger(report)
    report.add_argument("--experiment", help="only this experiment")
    _add_effort_options(report, bootstrap=1000)
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    report.add_argument(
        "--html",
        type=Path,
        metavar="OUT.html",
        help="write one self-contained HTML page (tables and figures) instead of printing",
    )
    report.set_defaults(run=_report)

    plot = commands.add_parser(
        "plot",
        help="draw an effort figure from a ledger",
        description="Draw an effort figure from a ledger (by default one that fits it: effort "
        "against target for one experiment, a comparison for several): effort against target (one "
        "experiment), success curve or restart cost (one experiment at one target), success "
        "curves of several experiments at one target (ecdf), or their performance profile.",
    )
    _add_ledger(plot)
    plot.add_argument(
        "--kind",
        choices=PLOT_KINDS,
        help="the figure (default: effort for one experiment; for several, ecdf: their "
        "success curves at the hardest target they share)",
    )
    plot.add_argument(
        "--experiment",
        nargs="+",
        help="the experiment(s) to draw (default: all; one for effort, success and restart)",
    )
    plot.add_argument("--target", type=float, help="the target value (success, restart, ecdf)")
    plot.add_argument("--metric", help="the target metric, when the ledger has several")
    _add_effort_options(plot, bootstrap=200)
    plot.add_argument(
        "-o",
        "--output",
        type=_figure_path,
        required=True,
        metavar="FILE",
        help="the figure file: .png, .svg or .pdf",
    )
    plot.set_defaults(run=_plot)

    export = commands.add_parser(
        "export",
        help="write a ledger's attempts in another tool's format",
        description="Write a ledger's attempts in IOHprofiler's format (one function per "
        "target, one algorithm per experiment, one run per attempt), for IOHanalyzer and "
        "iohinspector.",
    )
    _add_ledger(export)
    export.add_argument("--format", choices=FORMATS, required=True, help="the format: ioh")
    export.add_argument("directory", type=Path, help="the folder to write (created if missing)")
    export.add_argument("--experiment", help="only this experiment")
    mode = export.add_mutually_exclusive_group()
    mode.add_argument(
        "--mode",
        choices=("max", "min"),
        help="max: larger metric values are better, min: smaller are (a loss); as a Target's "
        "mode (default: inferred from the metric's name)",
    )
    for old, new in (("--maximize", "max"), ("--minimize", "min")):
        mode.add_argument(
            old, dest="mode", action=_DeprecatedMode, const=new, help=f"deprecated: --mode {new}"
        )
    export.set_defaults(run=_export)

    bench = commands.add_parser(
        "bench",
        help="train an optimizer on the effort suite's workloads, in steps and seconds",
        description="Train OPTIMIZER on every workload of the effort suite at every rate and "
        "seed until the workload's target, into a ledger (runs already there are not "
        "repeated); print per workload the runs that reached the target, the median steps "
        "and seconds, and across workloads the performance profile and its score.",
    )
    bench.add_argument(
        "optimizer",
        nargs="?",
        help="a named optimizer (see --list) or an importable factory package.module:function "
        "taking the learning rate",
    )
    bench.add_argument("--workloads", nargs="+", metavar="NAME", help="only these workloads")
    bench.add_argument(
        "--rates", type=_POSITIVE_REAL, nargs="+", help="learning rates (1e-5 ... 1, six)"
    )
    bench.add_argument("--seeds", type=_POSITIVE_INT, default=3, help="seeds per rate (3)")
    bench.add_argument(
        "--ledger",
        default="bench.sqlite",
        help="the ledger: an SQLite file or a postgresql:// URL (bench.sqlite)",
    )
    bench.add_argument(
        "--plot",
        type=_figure_path,
        default=Path("bench_profile.png"),
        metavar="FILE",
        help="the performance profile figure (bench_profile.png; needs matplotlib); the "
        "optimizer x rate heat maps go beside it, as bench_profile_rates.png",
    )
    bench.add_argument("--list", action="store_true", help="list the workloads and optimizers")
    bench.add_argument("--quiet", action="store_true", help="no progress display")
    bench.add_argument(
        "--smoke", action="store_true", help="a few steps on three workloads, one seed (for CI)"
    )
    bench.set_defaults(run=_bench)
    return parser


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def _figure_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"the figure file must end in {', '.join(FIGURE_SUFFIXES)}, got {text!r}"
        )
    return path


def _console() -> Console:
    # Effort tables have many columns: do not squeeze them into 80 columns when piped.
    return Console(width=None if sys.stdout.isatty() else 160)


def _add_ledger(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ledger", help="the ledger: an SQLite file or a postgresql://user@host:port/db URL"
    )


def _add_effort_options(parser: argparse.ArgumentParser, bootstrap: int) -> None:
    parser.add_argument("--z", type=float, default=0.99, help="Koza's confidence (0.99)")
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=bootstrap,
        help=f"resamples for intervals, 0 for none ({bootstrap})",
    )


class _Checked:
    """An argparse type: the text parsed by `parse`, then checked by a `keras_effort.arguments`
    check, whose refusal argparse prints after the option's name."""

    def __init__(self, parse: type, check: Any) -> None:
        self.parse, self.check = parse, check
        self.__name__ = parse.__name__  # argparse names the type in "invalid int value"

    def __call__(self, text: str) -> Any:
        try:
            return self.check("value", self.parse(text))
        except ArgumentError as error:
            raise argparse.ArgumentTypeError(f"must be {error.allowed}, got {text}") from None


_POSITIVE_INT = _Checked(int, positive_int)
_POSITIVE_REAL = _Checked(float, positive_real)


class _DeprecatedMode(argparse.Action):
    """`--maximize` and `--minimize`, the old spellings of `--mode max` and `--mode min`."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        warnings.warn(
            f"{option} is deprecated: use --mode {self.const}", DeprecationWarning, stacklevel=2
        )
        print(f"keras-effort: {option} is deprecated, use --mode {self.const}", file=sys.stderr)
        setattr(namespace, self.dest, self.const)


def _demo(args: argparse.Namespace) -> int:
    from keras_effort.demo import DEFAULT_TARGETS  # keras_effort.demo imports Keras lazily

    console = _console()
    targets = args.targets or list(DEFAULT_TARGETS)
    if any(not 0.0 <= t <= 1.0 for t in targets):
        console.print(f"[red]--targets must be accuracies in [0, 1], got {targets}[/red]")
        return 2
    if args.plot is not None and not _has_matplotlib(console, "--plot"):
        return 2
    # TensorFlow's matrix products run oneDNN kernels picked for the processor (AVX-512,
    # AMX...), which round differently: capped at AVX2, which every x86-64 machine of the
    # last decade has, the same seeds give the same table on any of them. Read at import.
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
    if args.verbose:
        return _run_demo(args, targets, console)
    # TensorFlow reads this when first imported; some C++ lines print before it applies, so
    # the process's stderr descriptor is muted too, while Python's messages still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_muted():
        return _run_demo(args, targets, console)


def _run_demo(args: argparse.Namespace, targets: list[float], console: Console) -> int:
    from rich.progress import Progress

    from keras_effort.demo import run_demo
    from keras_effort.ledger import Ledger
    from keras_effort.report import effort_rich_table

    ledger = Ledger(args.ledger) if args.ledger else None
    demo_arguments = {
        "runs": args.runs,
        "targets": targets,
        "epochs": args.epochs,
        "check_every": args.check_every,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "ledger": ledger,
    }
    if console.is_terminal:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("training MLPs on MNIST-1D", total=args.runs)
            result = run_demo(**demo_arguments, on_run_end=lambda *_: progress.advance(task))
    else:
        # No progress bar in a log file or pipe: a line per finished run instead.
        def report_run(run: int, curve: tuple[Any, Any]) -> None:
            steps, values = curve
            console.print(
                f"run {run + 1}/{args.runs}: best val_accuracy {max(values):.3f} in "
                f"{int(steps[-1]):,} steps",
                soft_wrap=True,
            )

        result = run_demo(**demo_arguments, on_run_end=report_run)
    title = (
        f"Effort to validation-accuracy targets: MLP on MNIST-1D, Adam({args.learning_rate:g}), "
        f"{args.runs} runs of at most {result.budget:,} steps"
    )
    console.print(effort_rich_table(result.rows, title=title, width=console.width))
    console.print(
        "steps are gradient steps. E(0.99): Koza's effort, total steps of independent runs cut "
        "at a step so that one succeeds with probability 0.99. l(c): expected total steps when "
        "restarting at cutoff c until success; c* minimises it; l(budget) is one long run. "
        "regime: 'restarts' when restarting at c* beats one long run by more than 5% across "
        "the 95% bootstrap interval of l(budget) / l(c*), 'single run' when the whole interval "
        "is within 5%, 'tie' when these runs cannot tell.",
        soft_wrap=True,
    )
    console.print(
        f"wall-clock time: {_seconds_since_start():.0f} s, start-up included "
        f"({result.seconds:.0f} s of training)"
    )
    if ledger is not None:
        console.print(
            f"attempts recorded in {redact(args.ledger)}; see `keras-effort report "
            f"{redact(args.ledger)}`",
            soft_wrap=True,
        )
    if args.plot is not None:
        _demo_figure(result, targets, args.plot)
        console.print(f"effort against target drawn in {args.plot}", soft_wrap=True, markup=False)
    return 0


def _seconds_since_start() -> float:
    """Seconds since this process started (on Linux), else since this module was loaded."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            # The 22nd field, the start in clock ticks after boot, is the 20th after the name.
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            return float(uptime.read().split()[0]) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - STARTED


def _demo_figure(result: Any, targets: list[float], path: Path) -> None:
    """Draw the demo's effort against targets every 0.01 between its easiest and hardest."""
    import numpy as np

    from keras_effort.effort import runtime_distributions
    from keras_effort.report.plots import plot_effort_against_target

    grid = np.round(np.arange(min(targets), max(targets) + 0.005, 0.01), 2)
    grid = sorted({*grid.tolist(), *targets})
    distributions = runtime_distributions(result.curves, grid, budgets=result.budget)
    figure = plot_effort_against_target(
        dict(zip(grid, distributions, strict=True)),
        title="Effort against target: MLP on MNIST-1D, Adam (keras-effort demo)",
    )
    figure.axes[0].set_xlabel("target validation accuracy")
    figure.savefig(path, dpi=150)


@contextmanager
def _native_stderr_muted() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 to /dev/null; keep `sys.stderr`."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        python_stderr = sys.stderr
        if _writes_to_descriptor(python_stderr, 2):
            sys.stderr = open(os.dup(saved), "w", buffering=1)  # noqa: SIM115 (closed below)
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            if sys.stderr is not python_stderr:
                sys.stderr.close()
                sys.stderr = python_stderr
            os.dup2(saved, 2)
    finally:
        os.close(saved)


def _writes_to_descriptor(stream: Any, descriptor: int) -> bool:
    try:
        return stream.fileno() == descriptor
    except (AttributeError, OSError, ValueError):
        return False


def _has_matplotlib(console: Console, option: str) -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        _error(console, f'{option} needs matplotlib: pip install "keras-effort[plot]"')
        return False
    return True


def _report(args: argparse.Namespace) -> int:
    from rich.text import Text

    from keras_effort.ledger import Ledger, LedgerError
    from keras_effort.report import effort_rich_table, ledger_report, report_as_json

    console = _console()
    if not 0.0 < args.z < 1.0:
        return _fail(f"--z must be in (0, 1), got {args.z}")
    try:
        # Read-only: a report never changes its input, and works on a ledger it cannot write.
        ledger = Ledger(args.ledger, read_only=True)
        if args.experiment is not None and args.experiment not in ledger.experiments():
            return _fail(
                f"no experiment {args.experiment!r} in {ledger.location}; "
                f"it has {ledger.experiments()}"
            )
        if args.html is not None:
            return _html_report(args, ledger, console)
        rows = ledger_report(ledger, args.experiment, args.z, max(args.bootstrap, 0))
    except (LedgerError, ValueError) as error:
        return _fail(str(error))
    if args.json:
        sys.stdout.write(report_as_json(rows) + "\n")
    elif not rows:
        console.print("the ledger has no attempts")
    else:
        title = f"Effort by experiment and target: {ledger.location}"
        console.print(effort_rich_table(rows, title=Text(title), width=console.width))
    return 0


def _read_ledger(location: str) -> Ledger | None:
    """The ledger at `location`, read-only; `None` once the reason it cannot be is printed."""
    from keras_effort.ledger import Ledger, LedgerError

    try:
        return Ledger(location, read_only=True)
    except (LedgerError, ValueError) as error:
        _fail(str(error))
        return None


def _fail(message: str) -> int:
    """Print one line on stderr, as plain text; the exit status of a bad input."""
    _error(Console(stderr=True), message)
    return 2


def _html_report(args: argparse.Namespace, ledger: Ledger, console: Console) -> int:
    if not _has_matplotlib(console, "--html"):
        return 2
    from keras_effort.report.html import html_report

    page = html_report(ledger, args.experiment, args.z, max(args.bootstrap, 0))
    args.html.parent.mkdir(parents=True, exist_ok=True)
    partial = args.html.with_name(args.html.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(args.html)
    console.print(f"report written to {args.html}", soft_wrap=True, markup=False)
    return 0


def _plot(args: argparse.Namespace) -> int:
    console = _console()
    ledger = _read_ledger(args.ledger)
    if ledger is None:
        return 2
    if not 0.0 < args.z < 1.0:
        _error(console, f"--z must be in (0, 1), got {args.z}")
        return 2
    if not _has_matplotlib(console, "plot"):
        return 2
    from keras_effort.report.plots import ledger_figure

    attempts = ledger.attempts()
    if not attempts:
        _error(console, f"the ledger {args.ledger} has no attempts to draw")
        return 2
    try:
        figure = ledger_figure(
            attempts,
            args.kind,
            experiments=args.experiment,
            target=args.target,
            metric=args.metric,
            z=args.z,
            n_boot=max(args.bootstrap, 0),
        )
    except ValueError as error:
        _error(console, _cli_words(str(error)))
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=150)
    console.print(f"figure written to {args.output}", soft_wrap=True, markup=False)
    return 0


def _export(args: argparse.Namespace) -> int:
    from keras_effort.report.ioh import export_ioh

    console = _console()
    ledger = _read_ledger(args.ledger)
    if ledger is None:
        return 2
    if args.directory.exists() and not args.directory.is_dir():
        _error(console, f"{args.directory} exists and is not a folder")
        return 2
    attempts = ledger.attempts(args.experiment)
    if not attempts:
        which = f" for {args.experiment!r}" if args.experiment else ""
        _error(console, f"the ledger has no attempts{which} to export")
        return 2
    try:
        maximize = {"max": True, "min": False}.get(args.mode)  # None: inferred from the name
        written = export_ioh(attempts, args.directory, maximize=maximize)
    except ValueError as error:
        message = str(error).replace("pass maximize=True or False", "pass --mode max or min")
        message = message.replace("`maximize`", "--mode")
        _error(console, message)
        return 2
    console.print(
        f"{len(attempts)} attempt{'' if len(attempts) == 1 else 's'} written as IOHprofiler "
        f"data in {args.directory} ({len(written)} file{'' if len(written) == 1 else 's'} of "
        "metadata)",
        soft_wrap=True,
        markup=False,
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from keras_effort.workloads.cli import bench_command  # imports Keras

    return bench_command(args, _console())


def _cli_words(message: str) -> str:
    """An error of the plotting API, in the words of the command line (`--target`)."""
    for name in ("experiment", "target", "metric", "kind"):
        message = message.replace(f"`{name}`", f"--{name}")
    return message


def _error(console: Console, message: str) -> None:
    # Printed as plain text: paths and names may hold brackets that rich would read as markup.
    console.print(redact(message), style="red", soft_wrap=True, markup=False)


if __name__ == "__main__":
    raise SystemExit(main())
