"""Effort figures (matplotlib): success curves, effort against target, restart cost, comparisons.

Each function returns a `matplotlib.figure.Figure` (no pyplot state: save it with
`figure.savefig(path)`). Every number drawn comes from `keras_effort.effort`; a figure takes
either `RuntimeDistribution`s or the ledger's `Attempt` records, which it turns into them.

Matplotlib is an optional dependency: `pip install "keras-effort[plot]"`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from keras_effort.effort import (
    RuntimeDistribution,
    check_measure,
    measure_effort,
    performance_profile,
    performance_ratios,
    summarize,
)
from keras_effort.ledger import Attempt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# What a figure is drawn from: a distribution, or the attempts at one target.
Source = Union[RuntimeDistribution, Sequence[Attempt]]  # noqa: UP007 (a runtime alias on 3.10)

# Dash patterns of overlaid curves, so that coinciding curves stay apart.
LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
REGIME_COLORS = {
    "single run": "#dbe9f6",
    "tie": "#efe9dc",
    "restarts": "#fde0c5",
    "unreached": "#e6e6e6",
}


def plot_success_curve(source: Source, *, level: float = 0.95, title: str | None = None) -> Figure:
    """The estimated probability of reaching the target within a number of steps.

    Draws the Kaplan-Meier `P(T <= steps)` as a step function with its pointwise confidence
    band (`RuntimeDistribution.success_interval`), a tick where each failed attempt was
    censored, and the attempts count in the title, with how many were cut off before the
    horizon: past their cutoffs the curve rests on the attempts that ran on.

    Args:
        source: a `RuntimeDistribution`, or the `Attempt`s at one target.
        level: the coverage of the band, in (0, 1).
        title: the figure's title (default: the target, when known, and the runs count).

    Returns:
        The figure.
    """
    distribution = _distribution(source, "source")
    figure, ax = _figure()
    curve = distribution.success_curve()
    steps, probability = _step_arrays(curve.steps, curve.probability, curve.horizon)
    low, high = distribution.success_interval(level)
    _, low = _step_arrays(curve.steps, low, curve.horizon)
    _, high = _step_arrays(curve.steps, high, curve.horizon)
    ax.fill_between(steps, low, high, step="post", color="C0", alpha=0.2, linewidth=0)
    ax.step(steps, low, where="post", color="C0", linewidth=0.6, gid="band-low")
    ax.step(steps, high, where="post", color="C0", linewidth=0.6, gid="band-high")
    ax.step(
        steps,
        probability,
        where="post",
        color="C0",
        linewidth=2,
        gid="success",
        label="P(T ≤ steps), Kaplan-Meier",
    )
    censored = distribution.censoring_steps()
    at, count = np.unique(censored, return_counts=True)
    for step, n in zip(at[count > 1].tolist(), count[count > 1].tolist(), strict=True):
        ax.annotate(  # several attempts cut at one step show as one tick: count them
            f"×{n}",
            (step, float(distribution.success_probability(step))),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize="small",
            color="C3",
        )
    ax.plot(
        censored,
        distribution.success_probability(censored),
        linestyle="none",
        marker="|",
        markersize=12,
        markeredgewidth=1.5,
        color="C3",
        gid="censored",
        label=f"attempt censored (cut off, did not reach): {censored.size}",
    )
    ax.plot([], [], color="C0", alpha=0.3, linewidth=8, label=f"{level:.0%} pointwise band")
    ax.set_xlim(0, curve.horizon * 1.02)  # censoring ticks at the horizon stay visible
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("gradient steps")
    ax.set_ylabel("probability of having reached the target")
    ax.legend(loc="best")  # out of the way of the curve, wherever it runs
    early = int((censored < distribution.horizon).sum())
    default = (
        f"{_target_label(source)}{distribution.runs} attempts, {distribution.successes} reached"
    )
    if early:
        default += (
            f"\n{early} cut off before step {distribution.horizon:,}: past their cutoffs the "
            "curve rests on the attempts that ran on"
        )
    ax.set_title(_literal(title or default), fontsize="medium")
    return figure


def plot_effort_against_target(
    sources: Mapping[float, Source] | Sequence[Attempt],
    *,
    z: float = 0.99,
    level: float = 0.95,
    n_boot: int = 200,
    seed: int | None = 0,
    title: str | None = None,
) -> Figure:
    """Effort to each target: `l(c*)`, `l(budget)` and Koza's `E(z)`, with the regime shaded.

    `l(c*)` and Koza's effort carry percentile-bootstrap intervals
    (`RuntimeDistribution.confidence_interval`); an interval whose upper bound is infinite
    runs to the top of the axes. The background is shaded by regime: "single run" where one
    long run is as cheap as restarting, "restarts" where restarting at `c*` is cheaper, "tie"
    where the runs cannot tell (the regime is called on `n_boot` resamples, see
    `keras_effort.effort.summarize`).

    Args:
        sources: per target value, a `RuntimeDistribution` or the `Attempt`s at it; or the
            attempts of one experiment and metric at several targets.
        z: the confidence of Koza's effort, in (0, 1).
        level: the coverage of the bootstrap intervals, in (0, 1).
        n_boot: bootstrap resamples per target and measure; 0 draws no intervals.
        seed: seed of the bootstrap.
        title: the figure's title.

    Returns:
        The figure.
    """
    by_target = _by_target(sources, "sources")
    targets = np.array(sorted(by_target))
    summaries = [summarize(by_target[t], t, z, n_boot, seed) for t in targets]
    series = {
        "expected": np.array([s.expected_steps_optimal for s in summaries]),
        "single": np.array([s.expected_steps_single_run for s in summaries]),
        "koza": np.array([s.koza_effort for s in summaries]),
    }
    figure, ax = _figure()
    _shade_regimes(ax, targets, [s.regime for s in summaries])
    finite = np.concatenate([v[np.isfinite(v)] for v in series.values()])
    ceiling = (finite.max() if finite.size else 1.0) * 10.0
    styles = {
        "expected": ("C0", "o", "l(c*): restart at the optimal cutoff"),
        "single": ("C2", "s", "l(budget): one long run"),
        "koza": ("C3", "^", f"Koza E({z:g})"),
    }
    for name, (color, marker, label) in styles.items():
        # Dashed, so that l(c*) shows through where one long run costs the same.
        ax.plot(
            targets,
            np.where(np.isfinite(series[name]), series[name], np.nan),
            color=color,
            marker=marker,
            markersize=4 if name == "single" else 6,
            linestyle="--" if name == "single" else "-",
            gid=name,
            label=label,
        )
        if n_boot > 0 and name in ("expected", "koza"):
            low, high = np.array(
                [by_target[t].confidence_interval(name, level, n_boot, seed, z) for t in targets]
            ).T
            low = np.where(np.isfinite(low), low, np.nan)
            high = np.minimum(high, ceiling)
            if targets.size > 1:
                ax.fill_between(targets, low, high, color=color, alpha=0.15, linewidth=0)
            else:  # a band of one target has no width: draw the interval as a bar
                middle = np.where(np.isfinite(series[name]), series[name], low)
                ax.errorbar(
                    targets + (0.002 if name == "koza" else -0.002) * max(abs(targets[0]), 1),
                    middle,
                    yerr=[middle - low, high - middle],
                    color=color,
                    alpha=0.6,
                    capsize=6,
                    linewidth=2,
                    linestyle="none",
                )
            ax.plot(targets, low, color=color, linewidth=0, gid=f"{name}-low")
            ax.plot(targets, high, color=color, linewidth=0, gid=f"{name}-high")
    ax.set_yscale("log")
    _plain_log_scale(ax.yaxis)
    ax.set_ylim(top=ceiling)
    ax.set_xlabel(_literal(f"target {_metric_label(sources)}"))
    if targets.size < 6:  # label every target, and only those
        ax.set_xticks(targets, [f"{t:g}" for t in targets])
    ax.set_ylabel("gradient steps (log scale)")
    if n_boot > 0 and targets.size > 1:
        band = f"{level:.0%} bootstrap band (in each measure's colour)"
        ax.plot([], [], color="0.5", alpha=0.3, linewidth=8, label=band)
    elif n_boot > 0:
        ax.errorbar(
            [], [], yerr=[], color="0.5", capsize=6, label=f"{level:.0%} bootstrap interval"
        )
    for regime in dict.fromkeys(s.regime for s in summaries):
        ax.fill_between([], [], color=REGIME_COLORS[regime], label=f"regime: {regime}")
    ax.legend(loc="upper left", fontsize="small")
    runs = sorted({s.runs for s in summaries})
    per_target = "/".join(map(str, runs))
    ax.set_title(_literal(title or f"Effort against target ({per_target} attempts per target)"))
    return figure


def plot_restart_cost(source: Source, *, points: int = 400, title: str | None = None) -> Figure:
    """The expected total steps `l(c)` when restarting at cutoff `c`, with `c*` marked.

    Args:
        source: a `RuntimeDistribution`, or the `Attempt`s at one target.
        points: cutoffs evaluated between the first success and the horizon (every success
            step is added, so the minimum is drawn exactly).
        title: the figure's title.

    Returns:
        The figure.

    Raises:
        ValueError: when no run reached the target (`l(c)` is infinite everywhere).
    """
    distribution = _distribution(source, "source")
    best = distribution.optimal_cutoff()
    if best is None:
        raise ValueError("`source` has no run that reached the target: l(c) is infinite")
    first = int(distribution.success_curve().steps[0])
    cutoffs = np.unique(
        np.concatenate(
            (
                np.linspace(first, distribution.horizon, points),
                distribution.success_curve().steps,
            )
        )
    )
    cost = np.array([distribution.expected_steps(c) for c in cutoffs])
    figure, ax = _figure()
    ax.plot(cutoffs, cost, color="C0", gid="cost", label="l(c)")
    ax.axvline(best, color="C3", linestyle="--", linewidth=1)
    ax.plot(
        [best],
        [distribution.expected_steps()],
        linestyle="none",
        marker="o",
        color="C3",
        gid="optimum",
        label=f"c* = {best:,}: l(c*) = {distribution.expected_steps():,.0f}",
    )
    single = distribution.expected_steps(distribution.horizon)
    ax.plot(
        [distribution.horizon],
        [single],
        linestyle="none",
        marker="s",
        color="C2",
        gid="budget",
        label=f"one long run: l(budget) = {single:,.0f}",
    )
    finite = cost[np.isfinite(cost)]
    logarithmic = finite.size > 0 and finite.max() >= 10 * finite.min()
    if logarithmic:  # within one decade a log axis would show a single tick
        ax.set_yscale("log")
        _plain_log_scale(ax.yaxis)
    ax.set_xlabel("restart cutoff c (gradient steps)")
    ax.set_ylabel("expected total steps l(c)" + (" (log scale)" if logarithmic else ""))
    # Below the axes: inside, it would hide the curve wherever it runs.
    figure.legend(loc="outside lower center", ncols=3, fontsize="small")
    ax.set_title(
        _literal(title or f"{_target_label(source)}restart cost, {distribution.runs} attempts")
    )
    return figure


def plot_ecdf_comparison(sources: Mapping[str, Source], *, title: str | None = None) -> Figure:
    """Success curves of several experiments (or targets) at one target, overlaid.

    Args:
        sources: per label (an experiment's name), a `RuntimeDistribution` or its `Attempt`s.
        title: the figure's title.

    Returns:
        The figure.
    """
    distributions = _labelled(sources, "sources")
    figure, ax = _figure()
    horizon = max(d.horizon for d in distributions.values())
    for index, (label, distribution) in enumerate(distributions.items()):
        curve = distribution.success_curve()
        steps, probability = _step_arrays(curve.steps, curve.probability, curve.horizon)
        early = int((distribution.censoring_steps() < distribution.horizon).sum())
        cut = f", {early} cut off early" if early else ""
        # Curves often coincide: each its own dash pattern, drawn thinner over the earlier
        # ones, so that one lying on another still shows.
        ax.step(
            steps,
            probability,
            where="post",
            **line_style(index, len(distributions)),
            gid=label,
            label=_literal(f"{label} ({distribution.successes}/{distribution.runs} reached{cut})"),
        )
    ax.set_xlim(0, horizon)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("gradient steps")
    ax.set_ylabel("probability of having reached the target")
    ax.legend(loc="best")
    first = next(iter(sources.values()))
    ax.set_title(_literal(title or f"{_target_label(first)}success curves (Kaplan-Meier)"))
    return figure


def plot_performance_profile(
    sources: Mapping[str, Mapping[float, Source]] | Sequence[Attempt],
    *,
    measure: str = "expected",
    z: float = 0.99,
    taus: Sequence[float] | np.ndarray | None = None,
    title: str | None = None,
) -> Figure:
    """Performance profiles: the share of targets each experiment reaches within `tau` x best.

    Only the targets every experiment was run at are compared.

    Args:
        sources: per experiment, per target value, a `RuntimeDistribution` or `Attempt`s; or
            the attempts of several experiments at targets of one metric.
        measure: the effort compared: `"expected"` (`l(c*)`) or `"koza"` (Koza's `E(z)`).
        z: the confidence of Koza's effort.
        taus: the factors of the best effort at which to evaluate the profile (default: from
            1 to past the largest finite ratio, on a log scale).
        title: the figure's title.

    Returns:
        The figure.
    """
    check_measure(measure)
    if isinstance(sources, Mapping):
        experiments = {
            name: _by_target(targets, f"sources[{name!r}]") for name, targets in sources.items()
        }
    else:
        attempts = _attempts(sources, "sources")
        experiments = {
            name: _by_target([a for a in attempts if a.experiment == name], "sources")
            for name in dict.fromkeys(a.experiment for a in attempts)
        }
    if not experiments:
        raise ValueError("`sources` is empty: give at least one experiment")
    common = sorted(set.intersection(*(set(t) for t in experiments.values())))
    if not common:
        raise ValueError("`sources`: the experiments share no target to compare at")
    efforts = {
        name: [measure_effort(by_target[t], measure, z) for t in common]
        for name, by_target in experiments.items()
    }
    if taus is None:
        ratios = np.concatenate(list(performance_ratios(efforts).values()))
        largest = ratios[np.isfinite(ratios)].max(initial=1.0)
        taus = np.geomspace(1.0, max(2.0, 1.5 * largest), 200)
    taus = np.asarray(taus, dtype=np.float64)
    profile = performance_profile(efforts, taus)
    figure, ax = _figure()
    for index, (name, rho) in enumerate(profile.items()):
        ax.step(
            taus,
            rho,
            where="post",
            **line_style(index, len(profile)),
            gid=name,
            label=_literal(name),
        )
    ax.set_xscale("log")
    _plain_log_scale(ax.xaxis)
    ax.set_ylim(-0.02, 1.02)
    label = "l(c*)" if measure == "expected" else f"Koza E({z:g})"
    ax.set_xlabel(f"τ: effort {label} within τ times the best experiment's")
    which = "the target" if len(common) == 1 else f"the {len(common)} targets"
    ax.set_ylabel(f"share of {which}")
    ax.legend(loc="lower right")
    default = "Performance profile over targets"
    if len(profile) == 1:  # compared with itself, it is the best everywhere: say so
        default += ": one experiment, the best at every target by definition"
    ax.set_title(_literal(title or default))
    return figure


# --------------------------------------------------------------------------- helpers


def _literal(text: str) -> str:
    """`text` as matplotlib draws it literally: a `$` would otherwise start mathtext.

    Every text a figure draws that holds a name (an experiment, a metric, a title) goes
    through here: `cost $x^$` would fail to parse, and `a$b$c` be drawn as maths.
    """
    return text.replace("$", r"\$")


def line_style(index: int, count: int) -> dict[str, Any]:
    """The color, dash pattern and width of the `index`-th of `count` overlaid curves.

    Curves of effort often coincide. Each gets its own color (tab10, or tab20 for more than ten
    curves) and its own dash pattern, and each is drawn thinner than the one before, so that a
    curve lying on an earlier one still shows. Up to 20 curves no two look alike.

    Args:
        index: the curve's position, from 0, in drawing order.
        count: how many curves the axes hold.

    Returns:
        Keyword arguments for `Axes.plot` or `Axes.step`.
    """
    from matplotlib import colormaps

    colors = colormaps["tab10" if count <= 10 else "tab20"].colors
    return {
        "color": colors[index % len(colors)],
        "linestyle": LINE_STYLES[index % len(LINE_STYLES)],
        "linewidth": max(3.0 - 1.8 * index / max(count - 1, 1), 1.2),
    }


def _figure():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            'keras_effort.report plots need matplotlib: pip install "keras-effort[plot]"'
        ) from error
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = figure.add_subplot()
    ax.grid(True, which="major", alpha=0.3)
    return figure, ax


def _plain_log_scale(axis) -> None:
    """A log scale labelled 1,000 rather than 10^3, so a reader can read values off it."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(_plain_number))
    # Label 2, 3 and 5 times a power of ten too: a range within one decade needs them.
    axis.set_minor_formatter(
        FuncFormatter(
            lambda value, _: _plain_number(value) if _leading_digit(value) in (2, 3, 5) else ""
        )
    )


def _plain_number(value: float, _position: object = None) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:g}"


def _leading_digit(value: float) -> int:
    return round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0


def _step_arrays(
    steps: np.ndarray, values: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """A right-continuous step function as arrays for `step(where="post")`: 0 from step 0."""
    x = np.concatenate(([0], steps, [horizon]))
    y = np.concatenate(([0.0], values, [values[-1] if len(values) else 0.0]))
    return x, y


def _shade_regimes(ax, targets: np.ndarray, regimes: list[str]) -> None:
    """Shade the background of each target's neighbourhood by its regime."""
    if targets.size == 1:
        half_width = max(abs(targets[0]) * 0.05, 0.01)
        edges = np.array([targets[0] - half_width, targets[0] + half_width])
    else:
        middles = (targets[1:] + targets[:-1]) / 2.0
        edges = np.concatenate(
            (
                [targets[0] - (middles[0] - targets[0])],
                middles,
                [targets[-1] + (targets[-1] - middles[-1])],
            )
        )
    for left, right, regime in zip(edges[:-1], edges[1:], regimes, strict=True):
        ax.axvspan(left, right, color=REGIME_COLORS[regime], linewidth=0, gid=f"regime:{regime}")
    ax.set_xlim(edges[0], edges[-1])


def _attempts(value: object, name: str) -> list[Attempt]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            f"`{name}` must be a RuntimeDistribution or a sequence of Attempt records, got "
            f"{type(value).__name__}"
        )
    attempts = list(value)
    if not attempts:
        raise ValueError(f"`{name}` holds no attempts")
    if not all(isinstance(a, Attempt) for a in attempts):
        raise TypeError(f"`{name}` must hold only keras_effort.Attempt records")
    return attempts


def _distribution(source: object, name: str) -> RuntimeDistribution:
    if isinstance(source, RuntimeDistribution):
        return source
    attempts = _attempts(source, name)
    targets = {(a.experiment, a.target_metric, a.target_value) for a in attempts}
    if len(targets) > 1:
        raise ValueError(
            f"`{name}` mixes experiments or targets {sorted(targets)}; give the attempts of "
            "one experiment at one target"
        )
    return RuntimeDistribution.from_attempts(attempts)


def _labelled(sources: object, name: str) -> dict[str, RuntimeDistribution]:
    if not isinstance(sources, Mapping) or not sources:
        raise ValueError(f"`{name}` must be a non-empty mapping of labels to distributions")
    return {
        str(label): _distribution(source, f"{name}[{label!r}]") for label, source in sources.items()
    }


def _by_target(sources: object, name: str) -> dict[float, RuntimeDistribution]:
    if isinstance(sources, Mapping):
        if not sources:
            raise ValueError(f"`{name}` is empty: give at least one target")
        for target in sources:
            if not isinstance(target, (int, float)) or not math.isfinite(target):
                raise ValueError(f"`{name}` must be keyed by finite target values, got {target!r}")
        return {float(t): _distribution(s, f"{name}[{t!r}]") for t, s in sources.items()}
    attempts = _attempts(sources, name)
    groups = {(a.experiment, a.target_metric) for a in attempts}
    if len(groups) > 1:
        raise ValueError(
            f"`{name}` mixes experiments or metrics {sorted(groups)}; give one experiment's "
            "attempts at one metric"
        )
    values = dict.fromkeys(a.target_value for a in attempts)
    return {
        value: RuntimeDistribution.from_attempts([a for a in attempts if a.target_value == value])
        for value in values
    }


def _target_label(source: object) -> str:
    if isinstance(source, Sequence) and source and isinstance(source[0], Attempt):
        return f"{source[0].target_metric} target {source[0].target_value:g}: "
    return ""


def _metric_label(sources: object) -> str:
    if isinstance(sources, Sequence) and sources and isinstance(sources[0], Attempt):
        return sources[0].target_metric
    return "value"


PLOT_KINDS = ("effort", "success", "restart", "ecdf", "profile")


def ledger_figure(
    attempts: Sequence[Attempt],
    kind: str | None = None,
    *,
    experiments: Sequence[str] | None = None,
    target: float | None = None,
    metric: str | None = None,
    z: float = 0.99,
    n_boot: int = 200,
) -> Figure:
    """One of the figures above, for the attempts of a ledger picked by experiment and target.

    Args:
        attempts: the ledger's attempts (`Ledger.attempts()`).
        kind: `"effort"` (effort against target, one experiment), `"success"` or
            `"restart"` (one experiment at one target), `"ecdf"` (success curves of the
            experiments at one target) or `"profile"` (their performance profile). Default:
            `"effort"` for one experiment; for several, the comparison `"ecdf"` at the
            hardest target they share (`hardest_shared_target`), and the first metric
            recorded when `metric` is not given.
        experiments: the experiments to draw (default: all in `attempts`).
        target: the target value, for `"success"`, `"restart"` and `"ecdf"`; may be left out
            when the attempts have only one.
        metric: the target metric; may be left out when the attempts have only one.
        z: the confidence of Koza's effort.
        n_boot: bootstrap resamples for the intervals of `"effort"`.

    Returns:
        The figure.

    Raises:
        ValueError: naming the argument, when `kind` is unknown, or the experiments, metric or
            target asked for are not in `attempts`, or are needed to pick one and not given.
    """
    if kind is not None and kind not in PLOT_KINDS:
        raise ValueError(f"`kind` must be one of {PLOT_KINDS}, got {kind!r}")
    selected = _attempts(attempts, "attempts")
    recorded = list(dict.fromkeys(a.experiment for a in selected))
    if experiments:
        unknown = [name for name in experiments if name not in recorded]
        if unknown:
            raise ValueError(
                f"`experiment` {unknown[0]!r} has no attempts; recorded: {', '.join(recorded)}"
            )
        selected = [a for a in selected if a.experiment in experiments]
    if kind is None and metric is None:
        metric = selected[0].target_metric
    selected = _pick(selected, "metric", metric, lambda a: a.target_metric)
    names = list(dict.fromkeys(a.experiment for a in selected))
    if kind is None:
        kind = "effort" if len(names) == 1 else "ecdf"
        if kind == "ecdf" and target is None:
            target = hardest_shared_target(selected)
    if kind in ("effort", "success", "restart") and len(names) > 1:
        raise ValueError(
            f"`experiment`: the {kind!r} figure shows one experiment; pick one of "
            f"{', '.join(names)}"
        )
    if kind == "effort":
        return plot_effort_against_target(selected, z=z, n_boot=n_boot)
    if kind == "profile":
        return plot_performance_profile(selected, z=z)
    at_target = _pick(selected, "target", target, lambda a: a.target_value)
    if kind == "success":
        return plot_success_curve(at_target)
    if kind == "restart":
        return plot_restart_cost(at_target)
    return plot_ecdf_comparison(
        {name: [a for a in at_target if a.experiment == name] for name in names}
    )


def hardest_shared_target(attempts: Sequence[Attempt]) -> float:
    """The target of one metric that best tells experiments apart, to compare them at.

    The shared target with the fewest successes that every experiment reached at least
    once; without one, the shared target with the most successes; without a shared target,
    the target with the most attempts. Hardness is counted in successes, so it holds for
    metrics better low as well as high.

    Args:
        attempts: the attempts of several experiments at targets of one metric.
    """
    names = list(dict.fromkeys(a.experiment for a in attempts))
    by_target: dict[float, dict[str, list[bool]]] = {}
    for a in attempts:
        by_target.setdefault(a.target_value, {}).setdefault(a.experiment, []).append(a.reached)
    shared = {t: runs for t, runs in by_target.items() if len(runs) == len(names)}
    if not shared:
        return max(by_target, key=lambda t: sum(map(len, by_target[t].values())))
    successes = {t: [sum(runs[name]) for name in names] for t, runs in sorted(shared.items())}
    reached_by_all = [t for t, counts in successes.items() if min(counts) > 0]
    if reached_by_all:
        return min(reached_by_all, key=lambda t: sum(successes[t]))
    return max(successes, key=lambda t: sum(successes[t]))


def _pick(attempts: list[Attempt], name: str, wanted: object, key) -> list[Attempt]:
    """The attempts whose `key` is `wanted`; `wanted` may be left out when there is one."""
    values = list(dict.fromkeys(key(a) for a in attempts))
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
    if wanted is None:
        if len(values) > 1:
            raise ValueError(f"`{name}`: the attempts have several ({shown}); pick one")
        return attempts
    matching = [a for a in attempts if key(a) == wanted]
    if not matching:
        raise ValueError(f"`{name}` {wanted!r} has no attempts; recorded: {shown}")
    return matching
