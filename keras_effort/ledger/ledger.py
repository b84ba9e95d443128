"""`Ledger`: one row per attempt, in an SQLite file or a PostgreSQL database, with one API."""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from keras_effort.arguments import flag, positive_real
from keras_effort.effort import RuntimeDistribution
from keras_effort.ledger import schema
from keras_effort.ledger.attempt import Attempt
from keras_effort.ledger.errors import LedgerError, LedgerWriteWarning
from keras_effort.ledger.redact import redact
from keras_effort.ledger.sqlite import SQLiteStore

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_POSTGRES_SCHEMES = ("postgresql", "postgres")
# Seconds the exit hook retries a pending write before saving it to a file: an interrupted
# user waits that long at most.
_EXIT_TIMEOUT = 5.0
_LOG = logging.getLogger("keras_effort.ledger")


class Ledger:
    """A durable record of attempts: an SQLite file, or a PostgreSQL database shared by machines.

    Every row is written in its own transaction and keyed by `(experiment, run, attempt,
    writer)`: a retried write leaves its row as it is instead of adding one, and two writers
    (two processes, or two `Ledger` objects) never overwrite each other's rows, even under one
    run name. Several processes may write one ledger; a process killed mid-run loses at most
    the attempt it was running. Attempts whose write failed are retried at the next write and
    at `flush`; those still unwritten when the process exits are saved to a JSON-lines file,
    named in an error logged on `keras_effort.ledger` (`add_saved` writes them back).

    Args:
        path: an SQLite file, created if missing (the folder too); a database URL
            `postgresql://user:password@host:port/dbname` (needs the `postgres` extra); or
            `None` for a private in-memory ledger (one process, e.g. notebooks and tests).
        read_only: only read: an SQLite file is opened with `mode=ro` and a PostgreSQL session
            is read-only, so the ledger is never changed (not even migrated) and may belong to
            another user.
        timeout: seconds a write waits for a locked SQLite file, or over which a lost
            PostgreSQL connection is retried, before failing. A refused connection (wrong
            password or user, no such database) fails at once.
        writer: the name this ledger writes its rows under; by default a fresh random one for
            each `Ledger` object in each process, so that no other writer can take its keys.
            Rewriting a key with other values is then a mistake and raises `LedgerError`. A
            named writer is one that resumes: a later process under the same name rewrites
            (replaces) its rows, as a search does when it re-runs a trial after a crash.

    Raises:
        TypeError: when `path` is not a path, a string or `None`.
        ValueError: when `path` is empty or a URL of another database, or `writer` is not a
            non-empty string.
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
        writer: str | None = None,
    ) -> None:
        read_only = flag("read_only", read_only)
        if writer is not None:
            _check_writer(writer)
        self.read_only, self.timeout = read_only, positive_real("timeout", timeout)
        self._lock = threading.Lock()
        self._pending: list[Attempt] = []
        self._named_writer = writer
        self._writer, self._writer_pid = writer or uuid.uuid4().hex, os.getpid()
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
        """The version of the ledger's tables: `SCHEMA_VERSION`, or that of an older ledger
        opened read-only (1 for keras-effort 0.1; opening it for writing migrates it)."""
        return self._version

    @property
    def writer(self) -> str:
        """The name this ledger writes its rows under (see `writer` of `Ledger`)."""
        if self._named_writer is None and self._writer_pid != os.getpid():
            # A forked child is another writer: it must not share its parent's keys.
            self._writer, self._writer_pid = uuid.uuid4().hex, os.getpid()
        return self._writer

    def as_writer(self, writer: str) -> Ledger:
        """This ledger (its connection shared), writing under the name `writer`.

        Raises:
            ValueError: when `writer` is not a non-empty string.
        """
        _check_writer(writer)
        named = object.__new__(Ledger)
        named.__dict__.update(self.__dict__)
        named._pending, named._named_writer, named._writer = [], writer, writer
        return named

    def __repr__(self) -> str:
        if self.url is not None:
            return f"Ledger({redact(self.url, self.url)!r})"
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
            "writer": self._named_writer,  # an unnamed one is another writer once unpickled
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(
            state["path"],
            read_only=state["read_only"],
            timeout=state["timeout"],
            writer=state.get("writer"),
        )

    # ------------------------------------------------------------------ writing

    def add(self, attempt: Attempt, *, keep_on_failure: bool = False) -> int | None:
        """Write one attempt in its own transaction; return its row id.

        The row is keyed by `(experiment, run, attempt, writer)`, its writer being the
        attempt's `writer` or, when that is `None`, this ledger's. Writing the same attempt
        again leaves its row as it is (a retried write never duplicates); a named writer's
        rewrite with other values replaces the row (its id and `created_at` kept). Attempts
        kept from earlier failed writes are written first.

        Args:
            attempt: the attempt.
            keep_on_failure: when the write fails (disk full, file removed, server down past
                `timeout`), keep the attempt in `pending`, warn (`LedgerWriteWarning`) and
                return `None` instead of raising: what training callbacks do, so that a failed
                write never aborts a run; they call `flush` when training ends, and what is
                still pending at exit is saved to a file (see `Ledger`).

        Raises:
            TypeError: when `attempt` is not an `Attempt`.
            LedgerError: naming the ledger, when the write fails and `keep_on_failure` is
                false, or when the key already holds other values that this writer may not
                replace (a conflict is never kept for a retry).
        """
        if not isinstance(attempt, Attempt):
            raise TypeError(f"`attempt` must be an Attempt, got {type(attempt).__name__}")
        self._check_writable()
        if attempt.writer is None:
            attempt = replace(attempt, writer=self.writer)
        with self._lock:
            try:
                self._write_pending()
                return self._write(attempt)
            except _Conflict as conflict:
                raise LedgerError(str(conflict)) from None
            except LedgerError as error:
                if not keep_on_failure:
                    raise
                self._pending.append(attempt)
                _WITH_PENDING[id(self)] = (self, os.getpid())
                warnings.warn(
                    f"{error}; {len(self._pending)} attempt(s) kept in memory, retried at the "
                    "next write and when training ends, and saved to a file if still "
                    "unwritten at exit",
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
            except _Conflict as conflict:
                raise LedgerError(str(conflict)) from None
            except LedgerError as error:
                raise LedgerError(
                    f"{len(self._pending)} attempt(s) could not be written: {error}. They are "
                    "kept in `Ledger.pending`; call `flush()` again once the cause is fixed "
                    "(at exit they are saved to a file)"
                ) from None

    def add_saved(self, path: str | os.PathLike[str]) -> int:
        """Write the attempts of a JSON-lines file saved at exit (one attempt per line).

        The attempts keep their writers, so writing a file twice, or one whose first
        attempts were written after all, adds each row once.

        Args:
            path: the file named by the error logged at exit.

        Returns:
            The number of attempts in the file.

        Raises:
            LedgerError: naming the file and line, when a line is not an attempt; or when a
                write fails.
        """
        with open(path, encoding="utf-8") as file:
            lines = [line for line in file if line.strip()]
        attempts = []
        for number, line in enumerate(lines, start=1):
            try:
                attempts.append(Attempt(**json.loads(line)))
            except (TypeError, ValueError) as error:
                raise LedgerError(f"line {number} of {path} is not an attempt: {error}") from None
        for attempt in attempts:
            self.add(attempt)
        return len(attempts)

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
        """The runtime distribution of an experiment's attempts (`from_attempts`).

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
        return RuntimeDistribution.from_attempts(attempts)

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
            "SELECT id, experiment, target_metric, target_value, steps, reached, budget "
            f"FROM attempts {where} ORDER BY id",
            parameters,
        )
        groups: dict[tuple[str, str, float], list[_Observed]] = {}
        for row in rows:
            counts = (row["steps"], row["budget"] if row["budget"] is not None else 0)
            if not all(isinstance(count, int) and count >= 0 for count in counts):
                raise LedgerError(  # a row written by hand or by another program
                    f"row {row['id']} of the ledger {self.location} is not a valid attempt: "
                    f"`steps` and `budget` must be counts, got {row['steps']!r} and "
                    f"{row['budget']!r}"
                )
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
        if version is None:
            statements = schema.create_statements(store.types)
        else:  # one transaction: a failed step leaves the ledger as it was
            statements = [
                statement
                for step in range(version, schema.SCHEMA_VERSION)
                for statement in schema.migration_statements(step, store.types, store.restart_ids)
            ]
        for statement in statements:
            cursor.execute(statement)
        self._version = schema.SCHEMA_VERSION

    def _check_writable(self) -> None:
        if self.read_only:
            raise LedgerError(f"the ledger {self.location} was opened read-only")

    def _save_pending(self) -> None:
        """At exit: write the pending attempts, or save them to a file and log an error."""
        self._store.timeout = min(self._store.timeout, _EXIT_TIMEOUT)
        try:
            self.flush()
            return
        except LedgerError as error:
            reason = str(error)
        lines = [json.dumps({**asdict(a), "id": None, "created_at": None}) for a in self._pending]
        folders = [*([self.path.parent] if self.path is not None else []), Path.cwd()]
        name = f"keras-effort-unwritten-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"
        for folder in [*folders, Path(tempfile.gettempdir())]:
            try:
                (folder / name).write_text("".join(line + "\n" for line in lines), "utf-8")
            except OSError:
                continue
            _LOG.error(
                "%d attempt(s) were never written to the ledger %s and are saved in %s instead; "
                "write them back with `Ledger(...).add_saved(%r)`. %s",
                len(lines), self.location, folder / name, str(folder / name), reason,
            )  # fmt: skip
            return
        _LOG.error(
            "%d attempt(s) were never written to the ledger %s, and no folder could hold them "
            "(%s); here they are, one JSON line each:\n%s",
            len(lines), self.location, reason, "\n".join(lines),
        )  # fmt: skip

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
        placeholder = self._store.placeholder
        may_replace = attempt.writer == self._named_writer

        def insert_or_check(cursor: Any) -> int:
            cursor.execute(schema.insert_statement(placeholder), row)
            inserted = cursor.fetchone()
            if inserted is not None:
                return int(inserted["id"])
            cursor.execute(schema.select_by_key_statement(placeholder), row)
            stored = dict(cursor.fetchone())
            differing = [
                name
                for name in row
                if name != "created_at" and stored[name] != row[name]
            ]
            if differing and not may_replace:
                raise _Conflict(
                    f"attempt {attempt.attempt} of run {attempt.run!r} of experiment "
                    f"{attempt.experiment!r} is already in the ledger {self.location} with "
                    f"other {', '.join(differing)} (writer {attempt.writer!r}); give each fit "
                    "its own `run`, or name the `writer` that may replace its rows"
                )
            if differing:
                cursor.execute(schema.replace_statement(placeholder), row)
            return int(stored["id"])

        return self._store.run(insert_or_check, write=True)

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


class _Conflict(Exception):
    """A key that holds other values this writer may not replace: never retried."""


# Ledgers that kept attempts after a failed write, with the process that kept them: retried,
# then saved to a file, at exit.
_WITH_PENDING: dict[int, tuple[Ledger, int]] = {}


@atexit.register
def _save_pending_at_exit() -> None:
    for ledger, pid in list(_WITH_PENDING.values()):
        if pid == os.getpid() and ledger._pending:
            ledger._save_pending()


def _check_writer(writer: object) -> None:
    if not isinstance(writer, str) or not writer or "\x00" in writer:
        raise ValueError(f"`writer` must be a non-empty string without NUL, got {writer!r}")


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
        row["writer"] = row["writer"] or None  # rows of version 2 and earlier have none
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
