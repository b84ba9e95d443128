"""The ledger: a durable record of training attempts, one row per attempt.

Backed by SQLite from the standard library. Every row is written in its own transaction, in
WAL mode, so several processes may append to one file and a process killed mid-run loses at
most the attempt it was running. The ledger is the single input of every effort view: the
callbacks and the tuner write attempts, `Ledger.runtime_distribution` feeds `keras_effort.effort`.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from keras_effort.effort import RuntimeDistribution

OUTCOMES = ("reached", "cutoff", "diverged", "stopped")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment TEXT NOT NULL,
    config TEXT NOT NULL,
    seed INTEGER,
    attempt INTEGER NOT NULL,
    run TEXT NOT NULL,
    target_metric TEXT NOT NULL,
    target_value REAL NOT NULL,
    steps INTEGER NOT NULL,
    budget INTEGER,
    samples INTEGER,
    seconds REAL,
    reached INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    best_value REAL,
    curve TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_experiment
    ON attempts (experiment, target_metric, target_value);
"""


@dataclass(frozen=True)
class Attempt:
    """One training attempt: a run from fresh weights until it reached the target or stopped.

    Attributes:
        experiment: the name grouping attempts of one configuration or study.
        target_metric: the monitored metric, e.g. `"val_accuracy"`.
        target_value: the value to reach.
        steps: gradient steps spent: the step at which the target was reached if `reached`,
            else the steps run before stopping.
        reached: whether the target was reached.
        budget: the steps the attempt was allowed (its cutoff); a failed attempt is censored
            at its budget, or at `steps` when no budget is recorded.
        outcome: `"reached"`, `"cutoff"` (stopped at its budget), `"diverged"` (non-finite
            loss or metric) or `"stopped"` (ended early for another reason).
        config: the hyperparameters, any JSON-serialisable mapping.
        seed: the seed of the attempt's initial weights.
        attempt: the attempt's number within its series of restarts, from 0.
        run: the id of that series (one `fit`, or one tuner execution); with `experiment`
            and `attempt` it names the row. A fresh random id by default.
        samples: training samples seen (steps times batch size).
        seconds: wall-clock seconds spent.
        best_value: the best monitored value seen.
        curve: the monitored metric as `(step, value)` pairs.
        id: the row id, set by the ledger.
        created_at: the Unix time the row was written, set by the ledger.
    """

    experiment: str
    target_metric: str
    target_value: float
    steps: int
    reached: bool
    budget: int | None = None
    outcome: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    attempt: int = 0
    run: str = field(default_factory=lambda: uuid.uuid4().hex)
    samples: int | None = None
    seconds: float | None = None
    best_value: float | None = None
    curve: Sequence[tuple[int, float]] | None = None
    id: int | None = None
    created_at: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.experiment, str) or not self.experiment:
            raise ValueError(f"`experiment` must be a non-empty string, got {self.experiment!r}")
        if not isinstance(self.run, str) or not self.run:
            raise ValueError(f"`run` must be a non-empty string, got {self.run!r}")
        if not isinstance(self.target_metric, str) or not self.target_metric:
            raise ValueError(
                f"`target_metric` must be a non-empty string, got {self.target_metric!r}"
            )
        if not _is_finite_number(self.target_value):
            raise ValueError(f"`target_value` must be a finite number, got {self.target_value!r}")
        for name in ("steps", "attempt"):
            _check_count(getattr(self, name), name)
        for name in ("budget", "samples", "seed"):
            if getattr(self, name) is not None:
                _check_count(getattr(self, name), name, allow_negative=name == "seed")
        if self.reached and self.budget is not None and self.steps > self.budget:
            raise ValueError(
                f"`steps` = {self.steps} is beyond `budget` = {self.budget} for a reached attempt"
            )
        outcome = self.outcome or ("reached" if self.reached else "stopped")
        if outcome not in OUTCOMES:
            raise ValueError(f"`outcome` must be one of {OUTCOMES}, got {self.outcome!r}")
        if (outcome == "reached") != bool(self.reached):
            raise ValueError(f"`outcome` = {outcome!r} contradicts `reached` = {self.reached!r}")
        # Normalise NumPy scalars to Python types, which sqlite3 and JSON accept.
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "reached", bool(self.reached))
        object.__setattr__(self, "target_value", float(self.target_value))
        for name in ("steps", "attempt", "budget", "samples", "seed"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))
        if self.best_value is not None:
            best = float(self.best_value)
            object.__setattr__(self, "best_value", best if math.isfinite(best) else None)
        if self.seconds is not None and not (_is_finite_number(self.seconds) and self.seconds >= 0):
            raise ValueError(f"`seconds` must be a non-negative number, got {self.seconds!r}")
        try:
            json.dumps(dict(self.config), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`config` must be a JSON-serialisable mapping: {error}") from None


def runtime_distribution_of(attempts: Sequence[Attempt]) -> RuntimeDistribution:
    """The runtime distribution of attempts at one target (`RuntimeDistribution.from_attempts`)."""
    return RuntimeDistribution.from_attempts(attempts)


class Ledger:
    """A durable record of attempts in an SQLite database.

    Args:
        path: the database file, created if missing; `None` keeps the ledger in memory (for
            one process, e.g. in notebooks and tests).

    A `Ledger` is cheap to share: copying one (as KerasTuner does with callbacks) returns the
    same ledger, and pickling it sends only its path.

    Example:
        >>> ledger = Ledger()
        >>> _ = ledger.add(Attempt("adam", "val_accuracy", 0.9, steps=120, reached=True))
        >>> ledger.runtime_distribution("adam").optimal_cutoff()
        120
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._connection_pid: int | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as connection:
            connection.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"Ledger({str(self.path) if self.path else None!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> Ledger:
        return self

    def __getstate__(self) -> dict[str, Any]:
        if self.path is None:
            raise TypeError("an in-memory Ledger cannot be pickled; give it a file path")
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])

    # ------------------------------------------------------------------ writing

    def add(self, attempt: Attempt) -> int:
        """Append one attempt in its own transaction; return its row id."""
        if not isinstance(attempt, Attempt):
            raise TypeError(f"`attempt` must be an Attempt, got {type(attempt).__name__}")
        row = asdict(attempt)
        row["config"] = json.dumps(dict(attempt.config), sort_keys=True)
        row["curve"] = (
            None
            if attempt.curve is None
            else json.dumps([[int(s), float(v)] for s, v in attempt.curve])
        )
        row["reached"] = int(attempt.reached)
        row["created_at"] = time.time()
        del row["id"]
        columns = ", ".join(row)
        placeholders = ", ".join(f":{name}" for name in row)
        with self._transaction() as connection:
            cursor = connection.execute(
                f"INSERT INTO attempts ({columns}) VALUES ({placeholders})", row
            )
            return int(cursor.lastrowid)

    def record(self, **attempt: Any) -> int:
        """Append one attempt given as keyword arguments of `Attempt`; return its row id."""
        return self.add(Attempt(**attempt))

    # ------------------------------------------------------------------ reading

    def attempts(
        self,
        experiment: str | None = None,
        target_metric: str | None = None,
        target_value: float | None = None,
    ) -> list[Attempt]:
        """The attempts recorded, oldest first, optionally filtered."""
        clauses, parameters = [], []
        for column, value in (
            ("experiment", experiment),
            ("target_metric", target_metric),
            ("target_value", target_value),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                parameters.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._transaction() as connection:
            rows = connection.execute(
                f"SELECT * FROM attempts {where} ORDER BY id", parameters
            ).fetchall()
        return [_attempt_from_row(row) for row in rows]

    def experiments(self) -> list[str]:
        """The experiment names, in order of first appearance."""
        with self._transaction() as connection:
            rows = connection.execute(
                "SELECT experiment FROM attempts GROUP BY experiment ORDER BY MIN(id)"
            ).fetchall()
        return [row["experiment"] for row in rows]

    def targets(self, experiment: str | None = None) -> list[tuple[str, str, float]]:
        """The distinct `(experiment, target_metric, target_value)` groups, in order."""
        where, parameters = ("WHERE experiment = ?", [experiment]) if experiment else ("", [])
        with self._transaction() as connection:
            rows = connection.execute(
                f"SELECT experiment, target_metric, target_value FROM attempts {where} "
                "GROUP BY experiment, target_metric, target_value ORDER BY MIN(id)",
                parameters,
            ).fetchall()
        return [(r["experiment"], r["target_metric"], r["target_value"]) for r in rows]

    def runtime_distribution(
        self,
        experiment: str,
        target_metric: str | None = None,
        target_value: float | None = None,
    ) -> RuntimeDistribution:
        """The runtime distribution of an experiment's attempts (`runtime_distribution_of`).

        Raises:
            ValueError: when no attempt matches, or the matching attempts mix targets.
        """
        attempts = self.attempts(experiment, target_metric, target_value)
        if not attempts:
            raise ValueError(f"no attempts recorded for experiment {experiment!r} at that target")
        targets = {(a.target_metric, a.target_value) for a in attempts}
        if len(targets) > 1:
            raise ValueError(
                f"experiment {experiment!r} has attempts at several targets {sorted(targets)}; "
                "pass `target_metric` and `target_value`"
            )
        return runtime_distribution_of(attempts)

    def to_dicts(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """All attempts as plain dicts (config as a dict, curve as a list of pairs)."""
        return [asdict(attempt) for attempt in self.attempts(experiment)]

    def to_dataframe(self, experiment: str | None = None) -> Any:
        """All attempts as a pandas DataFrame (requires pandas)."""
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError("Ledger.to_dataframe needs pandas: pip install pandas") from error
        columns = [f.name for f in fields(Attempt)]
        return pd.DataFrame(self.to_dicts(experiment), columns=columns)

    # --------------------------------------------------------------- connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connect()
            with connection:  # commits, or rolls back on error
                yield connection

    def _connect(self) -> sqlite3.Connection:
        # A connection must not cross a fork: reopen in a child process.
        if self._connection is None or self._connection_pid != os.getpid():
            if self.path is None:
                connection = sqlite3.connect(":memory:", check_same_thread=False)
            else:
                connection = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=FULL")
            connection.row_factory = sqlite3.Row
            self._connection, self._connection_pid = connection, os.getpid()
        return self._connection


def _attempt_from_row(row: sqlite3.Row) -> Attempt:
    values = dict(row)
    values["config"] = json.loads(values["config"])
    if values["curve"] is not None:
        values["curve"] = [(int(step), float(value)) for step, value in json.loads(values["curve"])]
    values["reached"] = bool(values["reached"])
    return Attempt(**values)


def _is_finite_number(value: object) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_count(value: object, name: str, allow_negative: bool = False) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or (value < 0 and not allow_negative)
    ):
        allowed = "an int" if allow_negative else "a non-negative int"
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}")
