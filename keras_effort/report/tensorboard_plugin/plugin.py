"""The Effort dashboard's server side: reads the attempts runs wrote and serves their effort."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterable
from importlib import resources
from typing import Any

from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from keras_effort.effort import RuntimeDistribution
from keras_effort.report.tables import FEW_SUCCESSES, report_as_json, report_rows
from keras_effort.report.tensorboard_plugin import summary

# Scalars drawn per run: the most a chart shows of each series.
SCALAR_SAMPLES = 1000
STATIC_FILES = ("index.js", "style.css")
# Pooled efforts kept, one per set of runs selected (and their summaries).
POOLED_CACHE_SIZE = 64
CHUNK_PREFIX = f"{summary.ATTEMPTS_TAG}/"


class EffortPlugin(base_plugin.TBPlugin):
    """The **Effort** dashboard: effort tables, success curves, attempt timelines and rates.

    Per run and pooled over the runs the reader selects, from the attempts `EffortTensorBoard`
    writes (`summary.ATTEMPTS_TAG`): the effort table as `keras-effort report` computes it
    (the attempts go through `keras_effort.report.report_rows`, as a ledger's would), the
    Kaplan-Meier success curve with its censored attempts, each attempt as a bar on the
    total-step axis, and the learning rates (`rates/` and `learned/` scalars).

    Args:
        context: TensorBoard's `TBContext`; the plugin reads through its data provider.
    """

    # The dashboard's name in TensorBoard's URLs (`http://host:6006/#effort`), as its tab says
    # "Effort"; the summaries it reads are tagged with `summary.PLUGIN_NAME`.
    plugin_name = "effort"

    def __init__(self, context: base_plugin.TBContext) -> None:
        self._data_provider = context.data_provider
        # Per run, what was read of it, keyed by its summaries' tags, steps and wall times:
        # a run is parsed and its report bootstrapped once per new attempt.
        self._runs: dict[str, tuple[tuple[Any, ...], summary.RunAttempts | None, dict]] = {}
        self._pooled: dict[tuple[Any, ...], dict[str, Any]] = {}

    def get_plugin_apps(self) -> dict[str, Any]:
        apps = {"/data": self._serve_data}
        apps.update({f"/{name}": self._serve_static for name in STATIC_FILES})
        return apps

    def data_plugin_names(self) -> tuple[str, ...]:
        return (summary.PLUGIN_NAME,)

    def is_active(self) -> bool:
        # TensorBoard lists the plugin as active when some run holds data under its name.
        return False

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Effort")

    # ----------------------------------------------------------------- routes

    @wrappers.Request.application
    def _serve_static(self, request: wrappers.Request) -> wrappers.Response:
        name = request.path.rsplit("/", 1)[-1]
        body = resources.files(__package__).joinpath("static", name).read_bytes()
        return http_util.Respond(request, body, mimetypes.guess_type(name)[0])

    @wrappers.Request.application
    def _serve_data(self, request: wrappers.Request) -> wrappers.Response:
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        chunks = self._chunks(ctx, experiment)
        scalars = self._scalars(ctx, experiment, chunks)
        selected = request.args.getlist("run") or list(chunks)
        runs, pooled, keys = [], [], []
        for run, newest in chunks.items():
            # A run is read again only when one of its summaries changed: a request on runs
            # that did not change reads no payload and computes nothing.
            key = tuple((tag, step, wall_time) for tag, step, wall_time, _ in newest)
            cached = self._runs.get(run)
            if cached is None or cached[0] != key:
                cached = (key, *self._read_run(newest))
                self._runs[run] = cached
            _, attempts, shown = cached
            if attempts is None:  # malformed: flagged in its own section, the others show
                runs.append({"name": run, **shown})
                continue
            runs.append({"name": run, **shown, **self._scalars_of(attempts, scalars.get(run, {}))})
            if run in selected:
                pooled.extend(attempts.attempts)
                keys.append((run, key))
        pooled_key = tuple(keys)
        effort = self._pooled.get(pooled_key)
        if effort is None and len(keys) == 1:  # one run pooled: its own table and curves
            shown = self._runs[keys[0][0]][2]
            effort = {"report": shown["report"], "curves": shown["curves"]}
        if effort is None:
            pooled.sort(key=lambda timed: timed.ended_at)  # as one ledger would hold them
            effort = self._effort(pooled)
            if len(self._pooled) >= POOLED_CACHE_SIZE:
                self._pooled.clear()
            self._pooled[pooled_key] = effort
        # The report's rule for marking estimates that rest on few successes travels with the data.
        body = {"runs": runs, "pooled": effort, "few_successes": FEW_SUCCESSES}
        return http_util.Respond(request, json.dumps(body, allow_nan=False), "application/json")

    # ------------------------------------------------------------------- data

    def _chunks(self, ctx: Any, experiment: str) -> dict[str, list[tuple[str, int, float, Any]]]:
        """Per run, the newest summary of each of its attempts tags, in tag order.

        Each entry is `(tag, step, wall time, tensor)`; the tensor is decoded only when the
        run changed.
        """
        data = self._data_provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=summary.PLUGIN_NAME,
            downsample=1,  # the newest datum is always kept
        )
        chunks = {}
        for run in sorted(data):
            newest = [
                (tag, series[-1].step, series[-1].wall_time, series[-1].numpy)
                for tag, series in sorted(data[run].items())
                if series and (tag == summary.ATTEMPTS_TAG or tag.startswith(CHUNK_PREFIX))
            ]
            if newest:
                chunks[run] = newest
        return chunks

    def _read_run(
        self, newest: list[tuple[str, int, float, Any]]
    ) -> tuple[summary.RunAttempts | None, dict[str, Any]]:
        """A run's attempts and what the page shows of them; `None` and an error if malformed.

        Whatever a run's payload holds (a malformed, deeply nested or non-finite one), the
        error stays with that run.
        """
        try:
            texts = [_text(tensor) for *_, tensor in newest]
            attempts = summary.parse_run(texts)
            shown = self._run(attempts)
            json.dumps(shown, allow_nan=False)  # what cannot be served is an error of the run
        except (ValueError, TypeError, RecursionError, OverflowError) as error:
            return None, {"error": str(error)}
        return attempts, shown

    def _scalars(
        self, ctx: Any, experiment: str, runs: Iterable[str]
    ) -> dict[str, dict[str, list[list[float]]]]:
        """The monitored metric, target and rates of each run, as `[step, value]` pairs."""
        runs = list(runs)
        if not runs:
            return {}
        data = self._data_provider.read_scalars(
            ctx,
            experiment_id=experiment,
            plugin_name="scalars",
            downsample=SCALAR_SAMPLES,
            run_tag_filter=provider.RunTagFilter(runs=runs),
        )
        wanted = (
            f"{summary.METRIC_GROUP}/",
            summary.LEARNING_RATE_TAG,
            f"{summary.LEARNED_GROUP}/",
        )
        return {
            run: {
                tag: [[datum.step, datum.value] for datum in series]
                for tag, series in tags.items()
                if tag.startswith(wanted)
            }
            for run, tags in data.items()
        }

    def _run(self, attempts: summary.RunAttempts) -> dict[str, Any]:
        """A run's attempts, effort table and success curves (all but its scalars)."""
        return {
            "monitor": attempts.monitor,
            "target": attempts.target,
            "attempts": [
                {
                    "attempt": timed.attempt.attempt,
                    "start": timed.start,
                    "end": timed.end,
                    "steps": timed.attempt.steps,
                    "reached": timed.attempt.reached,
                    "outcome": timed.attempt.outcome,
                }
                for timed in attempts.attempts
            ],
            **self._effort(attempts.attempts),
        }

    @staticmethod
    def _scalars_of(
        attempts: summary.RunAttempts, scalars: dict[str, list[list[float]]]
    ) -> dict[str, Any]:
        """A run's monitored metric and learning rates, read at every request."""
        metric_tag = f"{summary.METRIC_GROUP}/{attempts.monitor}"
        return {
            "metric": scalars.get(metric_tag, []),
            "rates": {
                tag: points
                for tag, points in sorted(scalars.items())
                if not tag.startswith(f"{summary.METRIC_GROUP}/")
            },
        }

    def _effort(self, attempts: Iterable[summary.TimedAttempt]) -> dict[str, Any]:
        """The effort table and success curves of attempts, as `keras-effort report` has them."""
        records = [timed.attempt for timed in attempts]
        if not records:
            return {"report": [], "curves": []}
        # `report_rows`' defaults are `keras-effort report`'s: the same table.
        report = json.loads(report_as_json(report_rows(records)))
        groups: dict[tuple[str, str, float], list[Any]] = {}
        for record in records:
            key = (record.experiment, record.target_metric, record.target_value)
            groups.setdefault(key, []).append(record)
        curves = []
        for (experiment, metric, value), group in groups.items():
            distribution = RuntimeDistribution.from_attempts(group)
            curve = distribution.success_curve()
            censored = distribution.censoring_steps()
            curves.append(
                {
                    "experiment": experiment,
                    "metric": metric,
                    "target": value,
                    "steps": curve.steps.tolist(),
                    "probability": curve.probability.tolist(),
                    "horizon": curve.horizon,
                    "censored": [
                        [step, float(p)]
                        for step, p in zip(
                            censored.tolist(),
                            distribution.success_probability(censored).tolist(),
                            strict=True,
                        )
                    ],
                }
            )
        return {"report": report, "curves": curves}


def _text(tensor: Any) -> str:
    value = tensor.item()
    return value.decode() if isinstance(value, bytes) else str(value)
