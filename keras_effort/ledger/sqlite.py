"""The embedded store: one SQLite file (or memory), from the standard library.

Writes run in `BEGIN IMMEDIATE` transactions in WAL mode with `synchronous=FULL`, so several
processes may write one file and a committed row survives a killed process. A writer waits up
to `timeout` seconds for another's lock.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

from keras_effort.ledger.errors import LedgerError

T = TypeVar("T")


class SQLiteStore:
    """An SQLite database file, or a private in-memory one when `path` is `None`.

    Args:
        path: the database file.
        read_only: open with `mode=ro`: nothing is ever written, not even the journal mode.
        timeout: seconds a write waits for another process's lock.
        prepare: called in the first transaction of every new connection (checks the schema).

    Raises:
        LedgerError: naming the path, when it is a directory, is missing (read-only), is not
            writable (unless read-only), or cannot be created.
    """

    dialect = "sqlite"
    others_allowed = False
    restart_ids = None  # AUTOINCREMENT follows the largest id inserted
    types: ClassVar[dict[str, str]] = {
        "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "int": "INTEGER",
        "real": "REAL",
    }

    def __init__(
        self,
        path: Path | None,
        read_only: bool,
        timeout: float,
        prepare: Callable[[Any, bool], None],
    ) -> None:
        self.path, self.read_only, self.timeout = path, read_only, timeout
        self.location = str(path) if path is not None else ":memory:"
        self._prepare = prepare
        self._connection: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._identity: tuple[int, int] | None = None
        if path is None:
            return
        if path.is_dir():
            raise LedgerError(f"the ledger path {path} is a directory; give a file path")
        if read_only and not path.is_file():
            raise LedgerError(f"no ledger at {path}")
        if not read_only:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise LedgerError(
                    f"cannot create the folder of the ledger {path}: {error.strerror}"
                ) from None
            _check_writable(path)

    @staticmethod
    def placeholder(name: str) -> str:
        return f":{name}"

    def run(self, work: Callable[[Any], T], write: bool) -> T:
        """Run `work(cursor)` in one transaction, committed on return, rolled back on error.

        Raises:
            LedgerError: naming the path, when SQLite fails (disk full, file removed, ...).
        """
        try:
            connection = self._connect()
            with self._transaction(connection, write) as cursor:
                return work(cursor)
        except sqlite3.Error as error:
            if isinstance(error, sqlite3.DatabaseError) and "not a database" in str(error):
                raise LedgerError(f"{self.location} is not an SQLite database") from None
            raise LedgerError(f"the ledger {self.location} failed: {error}") from error

    def tables(self, cursor: sqlite3.Cursor) -> set[str]:
        rows = cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        return {row["name"] for row in rows}

    def columns(self, cursor: sqlite3.Cursor, table: str) -> set[str]:
        return {row["name"] for row in cursor.execute(f"PRAGMA table_info({table})").fetchall()}

    def lock_schema(self, cursor: sqlite3.Cursor) -> None:
        """Nothing to do: `BEGIN IMMEDIATE` already serialises writers."""

    def close(self) -> None:
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None

    # ----------------------------------------------------------------- internals

    @contextmanager
    def _transaction(self, connection: sqlite3.Connection, write: bool) -> Iterator[Any]:
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE" if write and not self.read_only else "BEGIN")
        try:
            yield cursor
        except BaseException:
            if connection.in_transaction:
                connection.rollback()
            raise
        connection.commit()

    def _connect(self) -> sqlite3.Connection:
        # A connection must not cross a fork; a file removed or replaced under an open
        # connection would swallow writes into an unlinked inode: reopen, or refuse.
        if (
            self._connection is not None
            and self._pid == os.getpid()
            and (self.path is None or self._same_file())
        ):
            return self._connection
        self.close()
        if self._identity is not None and not self.path.exists():
            raise LedgerError(f"the ledger file {self.path} was removed while in use")
        try:
            connection = self._open()
        except sqlite3.OperationalError:
            # A WAL ledger in a folder this user cannot write: SQLite cannot create the
            # shared-memory file a reader needs. With no write-ahead log beside the file, every
            # committed row is in the file itself, which may then be read as immutable.
            if not self.read_only:
                raise
            wal, shm = Path(f"{self.path}-wal"), Path(f"{self.path}-shm")
            if wal.exists() and not shm.exists():
                raise LedgerError(
                    f"cannot read the ledger {self.path}: a writer that did not close (killed?) "
                    f"left its write-ahead log {wal}, and reading it needs {shm}, which this "
                    "user cannot create in that folder. Have a user who can write the folder "
                    "open the ledger for writing once (closing it folds the log into the "
                    "file), or copy the ledger and its -wal file to a folder you can write"
                ) from None
            if wal.exists():
                raise
            connection = self._open(immutable=True)
        self._connection, self._pid = connection, os.getpid()
        if self.path is not None:
            stat = self.path.stat()
            self._identity = (stat.st_dev, stat.st_ino)
        return connection

    def _open(self, immutable: bool = False) -> sqlite3.Connection:
        """A new connection, its schema checked (and created or migrated when writing)."""
        if self.path is None:
            connection = sqlite3.connect(":memory:", check_same_thread=False)
        elif self.read_only:
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            connection = sqlite3.connect(
                uri + ("&immutable=1" if immutable else ""),
                uri=True,
                timeout=self.timeout,
                check_same_thread=False,
            )
        else:
            try:
                connection = sqlite3.connect(
                    self.path, timeout=self.timeout, check_same_thread=False
                )
            except sqlite3.OperationalError as error:
                raise LedgerError(
                    f"cannot open or create the ledger {self.path}: {error} "
                    "(is its folder writable?)"
                ) from None
        connection.isolation_level = None  # transactions are begun explicitly
        connection.row_factory = sqlite3.Row
        try:
            with self._transaction(connection, write=not self.read_only) as cursor:
                self._prepare(cursor, not self.read_only)
            if self.read_only:
                connection.execute("PRAGMA query_only = 1")
            elif self.path is not None:
                # Only now, once the file is known to be a ledger, may its header change.
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")
        except BaseException:
            connection.close()
            raise
        return connection

    def _same_file(self) -> bool:
        try:
            stat = self.path.stat()
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self._identity


def _check_writable(path: Path) -> None:
    """Refuse a ledger file this process cannot write, now rather than at the first write.

    SQLite would open it read-only without a word. Opening the file for writing asks the
    system itself, which also answers for root (`os.access` does not: it ignores immutable
    files and root's dropped capabilities).
    """
    try:
        descriptor = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return  # created when first connected
    except OSError as error:
        raise LedgerError(
            f"the ledger {path} is not writable ({error.strerror}); open it with "
            "`read_only=True` to read it"
        ) from None
    os.close(descriptor)
