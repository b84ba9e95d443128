"""What `EffortTensorBoard` writes for the Effort dashboard, and how the dashboard reads it.

At each attempt's end the callback writes one summary, tagged with this plugin's name, under
the tag of the attempt's *chunk* (`attempts_tag`: attempts 0 to 31 under
`effort_attempts/records/000000`, 32 to 63 under `.../000001`, ...), holding the chunk's
attempts so far as JSON: the ledger's `Attempt` fields (without the metric curve) and the
attempt's first and last step on the run's total-step axis. The newest summary of each chunk
is complete, so the dashboard needs only the newest of each tag (TensorBoard keeps few
samples of a plugin's tensors, and always the newest); and as a summary holds at most
`CHUNK_SIZE` attempts, the event file grows linearly with the attempts, not quadratically.

This module imports neither Keras nor TensorFlow: TensorBoard loads it with the plugin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

from tensorboard.compat.proto import summary_pb2

from keras_effort.arguments import is_int, is_real
from keras_effort.ledger import Attempt

PLUGIN_NAME = "keras_effort"
# Bumped when the payload changes in a way older readers cannot read. Version 1 wrote every
# attempt so far under `ATTEMPTS_TAG` itself, at each attempt's end; it is still read.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

ATTEMPTS_TAG = "effort_attempts/records"
ATTEMPTS_TABLE_TAG = "effort_attempts/table"
# The attempts one summary holds at most (see `attempts_tag`).
CHUNK_SIZE = 32
METRIC_GROUP = "effort"
LEARNING_RATE_TAG = "rates/learning_rate"
LEARNED_GROUP = "learned"


@dataclass(frozen=True)
class TimedAttempt:
    """One attempt of a run and where it lies on the run's total-step axis.

    Attributes:
        attempt: the ledger record of the attempt.
        start: the run's total steps when the attempt began.
        end: the run's total steps when it ended.
        ended_at: the Unix time it ended: runs pooled are read in this order, the order in
            which a ledger shared by them would hold their attempts.
    """

    attempt: Attempt
    start: int
    end: int
    ended_at: float


@dataclass(frozen=True)
class RunAttempts:
    """Every attempt of one run, as the Effort dashboard reads them.

    Attributes:
        monitor: the monitored metric.
        target: the target value.
        attempts: the finished attempts, in order.
    """

    monitor: str
    target: float
    attempts: tuple[TimedAttempt, ...]


def summary_metadata() -> bytes:
    """The metadata of the attempts summary: this plugin's name, and a tensor data class.

    The data class lets TensorBoard's fast loader (its Rust data server) keep the data of a
    plugin it does not know.
    """
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=str(FORMAT_VERSION).encode()
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    ).SerializeToString()


def attempts_tag(index: int, group: str = ATTEMPTS_TAG) -> str:
    """The tag of the summary holding attempt number `index` (from 0) of a run.

    Args:
        index: the attempt's position in the run.
        group: `ATTEMPTS_TAG` for the dashboard's records, `ATTEMPTS_TABLE_TAG` for the
            text table.
    """
    return f"{group}/{index // CHUNK_SIZE:06d}"


def chunk(attempts: Sequence[TimedAttempt]) -> Sequence[TimedAttempt]:
    """The attempts of the last attempt's chunk: what its summary holds."""
    return attempts[(len(attempts) - 1) // CHUNK_SIZE * CHUNK_SIZE :]


def payload(monitor: str, target: float, attempts: Sequence[TimedAttempt]) -> str:
    """The JSON text of a chunk's summary, for `attempts` the chunk's attempts."""
    records = []
    for timed in attempts:
        record = asdict(timed.attempt)
        del record["curve"]  # the curve is in the scalars; keep the payload small
        records.append(
            {"start": timed.start, "end": timed.end, "ended_at": timed.ended_at, "attempt": record}
        )
    document = {
        "version": FORMAT_VERSION,
        "monitor": monitor,
        "target": target,
        "attempts": records,
    }
    return json.dumps(document, allow_nan=False)  # `Attempt` fields are finite


def parse(text: str | bytes) -> RunAttempts:
    """Read a payload written by `payload`.

    Raises:
        ValueError: when the text is not such a payload (naming what is wrong).
    """
    try:
        document = json.loads(text)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the attempts payload is not JSON: {error}") from None
    except RecursionError:  # JSON nested deeper than Python's stack
        raise ValueError("the attempts payload is nested too deep to be read") from None
    if not isinstance(document, Mapping):
        raise ValueError("the attempts payload must be a JSON object")
    if document.get("version") not in READABLE_VERSIONS:
        raise ValueError(
            f"the attempts payload has `version` {document.get('version')!r}; "
            f"this keras-effort reads versions {READABLE_VERSIONS}"
        )
    monitor, target = document.get("monitor"), document.get("target")
    if (
        not isinstance(monitor, str)
        or not is_real(target)
        or not math.isfinite(target)
    ):
        raise ValueError(
            "the attempts payload needs a string `monitor` and a finite number `target`, got "
            f"{monitor!r} and {target!r}"
        )
    entries = document.get("attempts")
    if not isinstance(entries, list):
        raise ValueError("the attempts payload's `attempts` must be a list")
    known = {f.name for f in fields(Attempt)}
    attempts = []
    for index, entry in enumerate(entries):
        try:
            record = {k: v for k, v in entry["attempt"].items() if k in known}
            start, end, ended_at = entry["start"], entry["end"], entry["ended_at"]
            if not (is_int(start) and is_int(end) and 0 <= start <= end):
                raise ValueError(f"`start` and `end` must be ints, 0 <= start <= end: {entry}")
            if not is_real(ended_at):
                raise ValueError(f"`ended_at` must be a Unix time, got {ended_at!r}")
            attempts.append(TimedAttempt(Attempt(**record), start, end, float(ended_at)))
        except (KeyError, TypeError, AttributeError, ValueError, RecursionError) as error:
            raise ValueError(
                f"attempt {index} of the attempts payload is malformed: {error}"
            ) from None
    return RunAttempts(monitor, float(target), tuple(attempts))


def parse_run(texts: Sequence[str | bytes]) -> RunAttempts:
    """A run's attempts from the newest payload of each of its chunks, in chunk order.

    Raises:
        ValueError: when a payload is malformed, or the chunks disagree on the monitored
            metric and target.
    """
    parts = [parse(text) for text in texts]
    if not parts:
        raise ValueError("the run has no attempts payload")
    if len({(part.monitor, part.target) for part in parts}) > 1:
        raise ValueError("the run's attempts payloads name different monitors or targets")
    attempts = tuple(timed for part in parts for timed in part.attempts)
    return RunAttempts(parts[0].monitor, parts[0].target, attempts)

