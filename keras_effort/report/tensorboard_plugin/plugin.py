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

from keras_effort.ledger import Ledger
from keras_effort.report.tables import FEW_SUCCESSES, ledger_report, report_as_json
from keras_effort.report.tensorboard_plugin import summary

# Scalars drawn per run: the most a chart shows of each series.
SCALAR_SAMPLES = 1000
STATIC_FILES = ("index.js", "style.css")
REPORT_CACHE_SIZE = 256


class EffortPlugin(base_plugin.TBPlugin):
    """The **Effort** dashboard: effort tables, success curves, attempt timelines and rates.

    Per run and pooled over the runs the reader selects, from the attempts `EffortTensorBoard`
    writes (`summary.ATTEMPTS_TAG`): the effort table as `keras-effort report` computes it
    (the attempts go through `keras_effort.report.ledger_report` on an in-memory ledger), the
    Kaplan-Meier success curve with its censored attempts, each attempt as a bar on the
    total-step axis, and the learning rates (`rates/` and `learned/` scalars).

    Args:
        context: TensorBoard's `TBContext`; the plugin reads through its data provider.
    """

    plugin_name = summary.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        self._data_provider = context.data_provider
        # Reports keyed by the attempts' payloads: a bootstrap runs once per new attempt.
        self._reports: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def get_plugin_apps(self) -> dict[str, Any]:
        apps = {"/data": self._serve_data}
        apps.update({f"/{name}": self._serve_static for name in STATIC_FILES})
        return apps

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
        payloads = self._payloads(ctx, experiment)
        scalars = self._scalars(ctx, experiment, payloads)
        selected = request.args.getlist("run") or list(payloads)
        runs, pooled = [], []
        for run, text in payloads.items():
            try:
                attempts = summary.parse(text)
            except ValueError as error:
                runs.append({"name": run, "error": str(error)})
                continue
            runs.append(self._run(run, attempts, scalars.get(run, {})))
            if run in selected:
                pooled.extend(attempts.attempts)
        pooled.sort(key=lambda timed: timed.ended_at)  # as one ledger would hold them
        # The report's rule for marking estimates that rest on few successes travels with the data.
        body = {"runs": runs, "pooled": self._effort(pooled), "few_successes": FEW_SUCCESSES}
        return http_util.Respond(request, json.dumps(body, allow_nan=False), "application/json")

    # ------------------------------------------------------------------- data

    def _payloads(self, ctx: Any, experiment: str) -> dict[str, str]:
        """The newest attempts payload of each run (each holds all its attempts so far)."""
        data = self._data_provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=summary.PLUGIN_NAME,
            downsample=1,  # the newest datum is always kept
            run_tag_filter=provider.RunTagFilter(tags=[summary.ATTEMPTS_TAG]),
        )
        payloads = {}
        for run in sorted(data):
            series = data[run].get(summary.ATTEMPTS_TAG)
            if series:
                value = series[-1].numpy.item()
                payloads[run] = value.decode() if isinstance(value, bytes) else str(value)
        return payloads

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

    def _run(
        self, name: str, attempts: summary.RunAttempts, scalars: dict[str, list[list[float]]]
    ) -> dict[str, Any]:
        metric_tag = f"{summary.METRIC_GROUP}/{attempts.monitor}"
        return {
            "name": name,
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
            "metric": scalars.get(metric_tag, []),
            "rates": {
                tag: points
                for tag, points in sorted(scalars.items())
                if not tag.startswith(f"{summary.METRIC_GROUP}/")
            },
            **self._effort(attempts.attempts),
        }

    def _effort(self, attempts: Iterable[summary.TimedAttempt]) -> dict[str, Any]:
        """The effort table and success curves of attempts, as `keras-effort report` has them."""
        records = [timed.attempt for timed in attempts]
        if not records:
            return {"report": [], "curves": []}
        ledger = Ledger()  # in memory: the report reads attempts from a ledger
        for record in records:
            ledger.add(record)
        key = tuple(repr(record) for record in records)
        report = self._reports.get(key)  # requests come on several threads: read once
        if report is None:
            if len(self._reports) >= REPORT_CACHE_SIZE:
                self._reports.clear()
            # `ledger_report`'s defaults are `keras-effort report`'s: the same table.
            report = json.loads(report_as_json(ledger_report(ledger)))
            self._reports[key] = report
        curves = []
        for experiment, metric, value in ledger.targets():
            distribution = ledger.runtime_distribution(experiment, metric, value)
            curve = distribution.success_curve()
            censored = distribution.censoring_steps().tolist()
            curves.append(
                {
                    "experiment": experiment,
                    "metric": metric,
                    "target": value,
                    "steps": curve.steps.tolist(),
                    "probability": curve.probability.tolist(),
                    "horizon": curve.horizon,
                    "censored": [
                        [step, float(distribution.success_probability(step))] for step in censored
                    ],
                }
            )
        return {"report": report, "curves": curves}
