"""Export attempts in IOHprofiler's data format, for IOHanalyzer and iohinspector.

IOHprofiler (Doerr et al. 2018, https://iohprofiler.github.io) analyses the running time of
optimisers to reach targets. Mapped onto keras-effort's ledger:

- an experiment is an *algorithm*;
- a target (`metric`, `value`) is a *function*, numbered in order of first appearance;
- an attempt is a *run*, and a gradient step an *evaluation*.

Each run's trajectory is the attempt's monitored curve, cut where the attempt ended: it starts
at evaluation 1 with an infinitely bad value (nothing is measured before training), follows the
curve, reaches the target at the attempt's `steps` when it did, and for a failed attempt ends
at the step it was censored at. IOHprofiler's fixed-target view then recovers the ledger's
steps to target, and its expected running time equals `l(budget)` when the attempts share a
budget.

Layout, for each experiment: `DIR/<experiment>/IOHprofiler_f<id>_<name>.json` (the metadata
that iohinspector's `DataManager.add_folder` reads) and
`DIR/<experiment>/data_f<id>_<name>/IOHprofiler_f<id>_DIM1.dat` (the trajectories).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from keras_effort._version import __version__
from keras_effort.arguments import flag, optional
from keras_effort.effort import infer_direction, observed_until
from keras_effort.effort.target import meets
from keras_effort.ledger import Attempt

# The export formats `keras-effort export --format` offers: the one list of them.
FORMATS = ("ioh",)


def export_ioh(
    attempts: Sequence[Attempt],
    directory: str | os.PathLike[str],
    *,
    maximize: bool | None = None,
) -> list[Path]:
    """Write attempts as IOHprofiler data, one folder per experiment.

    Args:
        attempts: the attempts to export (e.g. `Ledger.attempts()`).
        directory: the folder to write into; created if missing. Files of the same names are
            replaced, so exporting twice gives the same files.
        maximize: `True` when larger metric values are better (accuracy), `False` for losses;
            `None` to infer it from each metric's name (`keras_effort.effort.infer_direction`).

    Returns:
        The metadata (`.json`) files written.

    Raises:
        ValueError: when `attempts` is empty or holds something other than `Attempt`s, or
            `maximize` is `None` and a metric's name does not say which way is better.
    """
    attempts = list(attempts)
    if not attempts:
        raise ValueError("`attempts` is empty: there is nothing to export")
    if not all(isinstance(a, Attempt) for a in attempts):
        raise ValueError("`attempts` must hold only keras_effort.Attempt records")
    optional(flag, "maximize", maximize)
    directions = {}
    for metric in dict.fromkeys(a.target_metric for a in attempts):
        direction = infer_direction(metric) if maximize is None else None
        if maximize is None and direction is None:
            raise ValueError(
                f"`maximize`: the name {metric!r} does not say whether larger values are "
                "better; pass maximize=True or False"
            )
        directions[metric] = maximize if maximize is not None else direction == "up"
    root = Path(directory)
    functions = {
        target: index
        for index, target in enumerate(
            dict.fromkeys((a.target_metric, a.target_value) for a in attempts), start=1
        )
    }
    folders = _folder_names(list(dict.fromkeys(a.experiment for a in attempts)))
    written = []
    for experiment, folder in folders.items():
        for (metric, value), function_id in functions.items():
            runs = [
                a
                for a in attempts
                if a.experiment == experiment
                and (a.target_metric, a.target_value) == (metric, value)
            ]
            if runs:
                written.append(
                    _write_function(
                        root / folder,
                        experiment,
                        metric,
                        value,
                        function_id,
                        runs,
                        directions[metric],
                    )
                )
    return written


def _write_function(
    folder: Path,
    experiment: str,
    metric: str,
    value: float,
    function_id: int,
    runs: list[Attempt],
    maximize: bool,
) -> Path:
    name = _safe(f"{metric}_{value:g}")
    data_path = Path(f"data_f{function_id}_{name}") / f"IOHprofiler_f{function_id}_DIM1.dat"
    trajectories = [_trajectory(attempt, maximize) for attempt in runs]
    (folder / data_path.parent).mkdir(parents=True, exist_ok=True)
    lines = []
    for trajectory in trajectories:
        lines.append("evaluations raw_y")
        lines += [f"{evaluation} {_number(y)}" for evaluation, y in trajectory]
    _write_text(folder / data_path, "\n".join(lines) + "\n")
    metadata = {
        "version": __version__,
        "suite": "keras-effort",
        "function_id": function_id,
        "function_name": name,
        "maximization": maximize,
        "algorithm": {"name": experiment, "info": f"keras-effort target {metric} {value:g}"},
        "attributes": ["evaluations", "raw_y"],
        "scenarios": [
            {
                "dimension": 1,
                "path": data_path.as_posix(),
                "runs": [
                    _run_metadata(attempt, trajectory, maximize)
                    for attempt, trajectory in zip(runs, trajectories, strict=True)
                ],
            }
        ],
    }
    path = folder / f"IOHprofiler_f{function_id}_{name}.json"
    _write_text(path, json.dumps(metadata, indent=1) + "\n")
    return path


def _trajectory(attempt: Attempt, maximize: bool) -> list[tuple[int, float]]:
    """`(evaluation, value)` rows of one attempt, from evaluation 1 to where it ended."""
    worst = -math.inf if maximize else math.inf
    target = attempt.target_value
    # The step the attempt is observed to, by the one censoring rule of the effort statistics.
    end = attempt.steps if attempt.reached else observed_until(attempt)
    direction = "up" if maximize else "down"
    points = {1: worst}
    for step, value in attempt.curve or ():
        reaches = meets(value, target, direction)
        # Only the attempt's own steps, and before its success step only values that miss
        # the target: the exported first hit is the ledger's `steps`.
        if 1 <= step < end and not reaches:
            points[step] = value
    if attempt.reached:
        at_end = [
            v
            for s, v in attempt.curve or ()
            if s == attempt.steps and meets(v, target, direction)
        ]
        points[max(attempt.steps, 1)] = at_end[0] if at_end else target
    elif end > 1:
        points[end] = points[max(points)]  # the run went on, unimproved, to its budget
    return sorted(points.items())


def _run_metadata(
    attempt: Attempt, trajectory: list[tuple[int, float]], maximize: bool
) -> dict[str, object]:
    best_evaluation, best = trajectory[0]
    for evaluation, y in trajectory:
        if (y > best) if maximize else (y < best):
            best_evaluation, best = evaluation, y
    return {
        "instance": 1,
        "evals": trajectory[-1][0],
        "best": {"evals": best_evaluation, "x": [], "y": best if math.isfinite(best) else None},
        "seed": attempt.seed,
    }


def _number(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value))


def _folder_names(experiments: list[str]) -> dict[str, str]:
    """A distinct, file-system-safe folder name per experiment."""
    names: dict[str, str] = {}
    for experiment in experiments:
        base = _safe(experiment)
        name, index = base, 2
        while name in names.values():
            name, index = f"{base}-{index}", index + 1
        names[experiment] = name
    return names


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "unnamed"


def _write_text(path: Path, text: str) -> None:
    # Write beside, then rename: a reader never sees half a file.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
