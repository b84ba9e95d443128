"""`Ledger`: one row per attempt, in an SQLite file or a PostgreSQL database, with one API."""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
import warnings
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from keras_effort.effort import RuntimeDistribution
from keras_effort.ledger import schema
from keras_effort.ledger.attempt import Attempt, runtime_distribution_of
from keras_effort.ledger.errors import LedgerError, LedgerWriteWarning
from keras_effort.ledger.sqlite import SQLiteStore

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_POSTGRES_SCHEMES = ("postgresql", "postgres")


class Ledger:
    """A durable record of attempts: an SQLite file, or a PostgreSQL database shared by machines.

    Every row is written in its own transaction and keyed by `(experiment, run, attempt)`: a
    retried or resumed write updates its row instead of adding one. Several processes may
    write one ledger; a process killed mid-run loses at most the attempt it was running.

    Args:
        path: an SQLite file, created if missing (the folder too); a database URL
            `postgresql://user:password@host:port/dbname` (needs the `postgres` extra); or
            `None` for a private in-memory ledger (one process, e.g. notebooks and tests).
        read_only: only read: an SQLite file is opened with `mode=ro` and a PostgreSQL session
            is read-only, so the ledger is never changed (not even migrated) and may belong to
            another user.
        timeout: seconds a write waits for a locked SQLite file, or over which a lost
            PostgreSQL connection is retried, before failing.

    Raises:
        TypeError: when `path` is not a path, a string or `None`.
        ValueError: when `path` is empty or a URL of another database.
        LedgerError: naming the path or database, when it is a directory, missing (read-only),
            not writable, not a ledger (another program's database is never changed), of a
            newer schema, or unreachable.

    A `Ledger` is cheap to share: copying one (as KerasTuner does with callbacks) returns the
    same ledger, and pickling it sends only its location.

    Example:
        >>> ledger = Ledger()
        >>> _ = ledger.add(Attempt("adam", "val_accuracy", 0.9, steps=120, reached=True))
        >>> ledger.runtime_distribution("adam").optimal_cutoff()
        120
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        timeout: float = 60.0,
    ) -> None:
        if not isinstance(read_only, bool):
            raise TypeError(f"`read_only` must be a bool, got {read_only!r}")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not 0 < timeout < math.inf
        ):
            raise ValueError(f"`timeout` must be a positive number of seconds, got {timeout!r}")
        self.read_only, self.timeout = read_only, float(timeout)
        self._lock = threading.Lock()
        self._pending: list[Attempt] = []
        self._version = schema.SCHEMA_VERSION
        self.url: str | None = None
        self.path: Path | None = None
        if isinstance(path, str) and _URL.match(path):
            scheme = urlsplit(path).scheme.lower()
            if scheme not in _POSTGRES_SCHEMES:
                raise ValueError(
                    f"`path` must be a file path or a postgresql:// URL, got a {scheme}:// URL"
                )
            from keras_effort.ledger.postgres import PostgresStore

            self.url = path
            self._store: Any = PostgresStore(path, read_only, self.timeout, self._prepare)
        else:
            if path is not None and not isinstance(path, (str, os.PathLike)):
                raise TypeError(
                    f"`path` must be a file path, a postgresql:// URL or None, "
                    f"got {type(path).__name__}"
                )
            if path is not None and not os.fspath(path):
                raise ValueError("`path` must be a file path or a postgresql:// URL, got ''")
            self.path = None if path is None else Path(path)
            if self.path is None and read_only:
                raise ValueError("`read_only` needs a `path`: an in-memory ledger starts empty")
            self._store = SQLiteStore(self.path, read_only, self.timeout, self._prepare)
        self._store.run(lambda cursor: None, write=False)  # connect and check the schema now

    def close(self) -> None:
        """Close this process's connection (a later call reopens it); pending rows stay."""
        with self._lock:
            self._store.close()

    @property
    def location(self) -> str:
        """Where the rows live, as messages name it (never with a password)."""
        return self._store.location

    @property
    def schema_version(self) -> int:
        """The version of the ledger's tables: `SCHEMA_VERSION`, or 1 for a ledger of
        keras-effort 0.1 opened read-only (opening it for writing migrates it)."""
        return self._version

    def __repr__(self) -> str:
        if self.url is not None:
            parts = urlsplit(self.url)
            netloc = parts.netloc
            if parts.password is not None:
                netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
            return f"Ledger({urlunsplit(parts._replace(netloc=netloc))!r})"
        return f"Ledger({str(self.path) if self.path else None!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> Ledger:
        return self

    def __getstate__(self) -> dict[str, Any]:
        if self.path is None and self.url is None:
            raise TypeError("an in-memory Ledger cannot be pickled; give it a file path")
        return {
            "path": self.url or self.path,
            "read_only": self.read_only,
            "timeout": self.timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], read_only=state["read_only"], timeout=state["timeout"])

    # ------------------------------------------------------------------ writing

    def add(self, attempt: Attempt, *, keep_on_failure: bool = False) -> int | None:
        """Write one attempt in its own transaction; return its row id.

        A row with the same `(experiment, run, attempt)` is updated in place (its id and
        `created_at` kept), so writing an attempt again never duplicates it. Attempts kept
        from earlier failed writes are written first.

        Args:
            attempt: the attempt.
            keep_on_failure: when the write fails (disk full, file removed, server down past
                `timeout`), keep the attempt in `pending`, warn (`LedgerWriteWarning`) and
                return `None` instead of raising: what training callbacks do, so that a failed
                write never aborts a run; they call `flush` when training ends.

        Raises:
            TypeError: when `attempt` is not an `Attempt`.
            LedgerError: naming the ledger, when the write fails and `keep_on_failure` is false.
        """
        if not isinstance(attempt, Attempt):
            raise TypeError(f"`attempt` must be an Attempt, got {type(attempt).__name__}")
        self._check_writable()
        with self._lock:
            try:
                self._write_pending()
                return self._write(attempt)
            except LedgerError as error:
                if not keep_on_failure:
                    raise
                self._pending.append(attempt)
                warnings.warn(
                    f"{error}; {len(self._pending)} attempt(s) kept in memory, retried at the "
                    "next write and when training ends",
                    LedgerWriteWarning,
                    stacklevel=2,
                )
                return None

    def record(self, **attempt: Any) -> int | None:
        """Write one attempt given as keyword arguments of `Attempt`; return its row id."""
        return self.add(Attempt(**attempt))

    @property
    def pending(self) -> tuple[Attempt, ...]:
        """Attempts whose write failed with `keep_on_failure`, not yet written."""
        return tuple(self._pending)

    def flush(self) -> None:
        """Write the `pending` attempts.

        Raises:
            LedgerError: naming the ledger and how many attempts are still unwritten (they
                stay in `pending`; call `flush` again once the cause is fixed).
        """
        with self._lock:
            if not self._pending:
                return
            try:
                self._write_pending()
            except LedgerError as error:
                raise LedgerError(
                    f"{len(self._pending)} attempt(s) could not be written: {error}. They are "
                    "kept in `Ledger.pending`; call `flush()` again once the cause is fixed"
                ) from None

    # ------------------------------------------------------------------ reading

    def attempts(
        self,
        experiment: str | None = None,
        target_metric: str | None = None,
        target_value: float | None = None,
    ) -> list[Attempt]:
        """The attempts recorded, oldest first, optionally filtered."""
        where, parameters = self._where(
            experiment=experiment, target_metric=target_metric, target_value=target_value
        )
        rows = self._query(
            f"SELECT {schema.select_columns(self._version)} FROM attempts {where} ORDER BY id",
            parameters,
        )
        return [_attempt_from_row(row, self.location) for row in rows]

    def experiments(self) -> list[str]:
        """The experiment names, in order of first appearance."""
        rows = self._query(
            "SELECT experiment FROM attempts GROUP BY experiment ORDER BY MIN(id)", {}
        )
        return [row["experiment"] for row in rows]

    def targets(self, experiment: str | None = None) -> list[tuple[str, str, float]]:
        """The distinct `(experiment, target_metric, target_value)` groups, in order."""
        where, parameters = self._where(experiment=experiment)
        rows = self._query(
            f"SELECT experiment, target_metric, target_value FROM attempts {where} "
            "GROUP BY experiment, target_metric, target_value ORDER BY MIN(id)",
            parameters,
        )
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

    def runtime_distributions(
        self, experiment: str | None = None
    ) -> dict[tuple[str, str, float], RuntimeDistribution]:
        """The runtime distribution at every target, read in bulk, in the order of `targets`.

        One query of the columns the censoring rule needs (`RuntimeDistribution.from_attempts`
        on each target's attempts), without building `Attempt` records: a report of 100,000
        attempts reads them in a fraction of the time `attempts()` takes.

        Args:
            experiment: only this experiment (default: all).

        Returns:
            `{(experiment, target_metric, target_value): distribution}`.

        Raises:
            LedgerError: naming the target, when its rows are not valid attempts (a row
                written by hand or by another program).
        """
        where, parameters = self._where(experiment=experiment)
        rows = self._query(
            "SELECT experiment, target_metric, target_value, steps, reached, budget "
            f"FROM attempts {where} ORDER BY id",
            parameters,
        )
        groups: dict[tuple[str, str, float], list[_Observed]] = {}
        for row in rows:
            key = (row["experiment"], row["target_metric"], row["target_value"])
            groups.setdefault(key, []).append(
                _Observed(row["steps"], row["reached"] == 1, row["budget"])
            )
        distributions = {}
        for key, observed in groups.items():
            try:
                distributions[key] = RuntimeDistribution.from_attempts(observed)
            except (TypeError, ValueError) as error:
                raise LedgerError(
                    f"the rows of {key} in the ledger {self.location} are not valid attempts: "
                    f"{error}"
                ) from None
        return distributions

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

    # ---------------------------------------------------------------- internals

    def _prepare(self, cursor: Any, write: bool) -> None:
        """Check a newly connected database is a ledger; create or migrate it when writing."""
        store = self._store
        if write:
            store.lock_schema(cursor)
        try:
            version = schema.describe(
                store.tables(cursor),
                lambda table: store.columns(cursor, table),
                lambda: _meta_version(cursor, store),
                store.others_allowed,
            )
        except schema.ForeignDatabase as reason:
            raise LedgerError(
                f"{store.location} is not a keras-effort ledger: {reason}; it was left unchanged"
            ) from None
        if version is not None and version > schema.SCHEMA_VERSION:
            raise LedgerError(
                f"the ledger {store.location} has schema version {version}, newer than this "
                f"keras-effort's {schema.SCHEMA_VERSION}: upgrade keras-effort"
            )
        if not write:
            if version is None:
                raise LedgerError(f"{store.location} is not a keras-effort ledger: it is empty")
            self._version = version
            return
        statements = (
            schema.create_statements(store.types)
            if version is None
            else schema.migrate_v1_statements(store.types)
            if version == 1
            else []
        )
        for statement in statements:
            cursor.execute(statement)
        self._version = schema.SCHEMA_VERSION

    def _check_writable(self) -> None:
        if self.read_only:
            raise LedgerError(f"the ledger {self.location} was opened read-only")

    def _write_pending(self) -> None:
        while self._pending:
            self._write(self._pending[0])
            self._pending.pop(0)

    def _write(self, attempt: Attempt) -> int:
        row = asdict(attempt)
        del row["id"]
        row["config"] = json.dumps(dict(attempt.config), sort_keys=True)
        row["curve"] = None if attempt.curve is None else json.dumps(attempt.curve)
        row["reached"] = int(attempt.reached)
        row["created_at"] = time.time()
        statement = schema.upsert_statement(self._store.placeholder)

        def upsert(cursor: Any) -> int:
            cursor.execute(statement, row)
            return int(cursor.fetchone()["id"])

        return self._store.run(upsert, write=True)

    def _query(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        def select(cursor: Any) -> list[dict[str, Any]]:
            cursor.execute(sql, parameters)
            return [dict(row) for row in cursor.fetchall()]

        with self._lock:
            return self._store.run(select, write=False)

    def _where(self, **filters: Any) -> tuple[str, dict[str, Any]]:
        given = {name: value for name, value in filters.items() if value is not None}
        clauses = [f"{name} = {self._store.placeholder(name)}" for name in given]
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), given


def _meta_version(cursor: Any, store: Any) -> str | None:
    cursor.execute(
        f"SELECT value FROM {schema.META_TABLE} WHERE key = {store.placeholder('key')}",
        {"key": "schema_version"},
    )
    row = cursor.fetchone()
    return None if row is None else str(row["value"])


def _attempt_from_row(row: dict[str, Any], location: str) -> Attempt:
    try:
        row["config"] = json.loads(row["config"])
        if row["curve"] is not None:
            row["curve"] = json.loads(row["curve"])
        if row["reached"] not in (0, 1):
            raise ValueError(f"`reached` must be 0 or 1, got {row['reached']!r}")
        row["reached"] = bool(row["reached"])
        return Attempt(**row)
    except (TypeError, ValueError) as error:  # a row written by hand or by another program
        raise LedgerError(
            f"row {row.get('id')} of the ledger {location} is not a valid attempt: {error}"
        ) from None


class _Observed:
    """What the censoring rule reads of an attempt (`keras_effort.effort.AttemptLike`)."""

    __slots__ = ("budget", "reached", "steps")

    def __init__(self, steps: int, reached: bool, budget: int | None) -> None:
        self.steps, self.reached, self.budget = steps, reached, budget
