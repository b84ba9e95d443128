"""The ledger's tables, their version, and the migration from the earlier layouts.

The same statements serve SQLite and PostgreSQL; only column types and placeholders differ, and
the stores supply those (`Store.types`, `Store.placeholder`).
"""

from __future__ import annotations

from collections.abc import Callable

SCHEMA_VERSION = 3
"""Version 3 added `writer` to the key; version 2 added `run`; version 1 had no version."""

META_TABLE = "keras_effort_meta"

# Every column of an attempt row, in table order (`id` first, then the `Attempt` fields).
COLUMNS = (
    "id",
    "experiment",
    "run",
    "attempt",
    "writer",
    "config",
    "seed",
    "target_metric",
    "target_value",
    "steps",
    "budget",
    "samples",
    "seconds",
    "reached",
    "outcome",
    "best_value",
    "curve",
    "created_at",
)
# The writer is in the key so that two processes (or two searches) using one run name never
# overwrite each other's rows.
KEY = ("experiment", "run", "attempt", "writer")

# The columns of the earlier layouts: version 1 (keras-effort 0.1, no version recorded) had no
# `run` and no key; version 2 had no `writer`.
V1_COLUMNS = frozenset(COLUMNS) - {"run", "writer"}
V2_COLUMNS = frozenset(COLUMNS) - {"writer"}

# How a missing column of an earlier layout reads, both when migrating and when reading one
# read-only: each version 1 row is its own run `legacy-<id>`; rows of versions 1 and 2 have the
# empty writer (no writer of version 3 has that name).
_LEGACY = {"run": "'legacy-' || CAST(id AS TEXT)", "writer": "''"}


def create_statements(types: dict[str, str]) -> list[str]:
    """The statements that create an empty ledger of the current version.

    Args:
        types: the store's column types for `"id"` (an auto-numbered primary key), `"int"`
            (64-bit) and `"real"` (double precision).
    """
    return [
        f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')",
        *_table_statements(types),
    ]


def migrate_statements(version: int, types: dict[str, str], restart_ids: str | None) -> list[str]:
    """Version 1 or 2 to the current one, in one transaction, keeping every row and its id.

    The table is rebuilt (SQLite cannot change a table's key in place). Version 1 had no key,
    so two of its rows may share experiment and attempt number; giving each its own run keeps
    them all.

    Args:
        version: the ledger's version, 1 or 2.
        types: the store's column types (`create_statements`).
        restart_ids: the store's statement that sets the next id past the copied rows, or
            `None` when the database does so itself.
    """
    columns = ", ".join(COLUMNS)
    return [
        "ALTER TABLE attempts RENAME TO attempts_old",
        # Index names are database-wide: the old table's must go before the new one's exist.
        "DROP INDEX IF EXISTS attempts_by_experiment",
        "DROP INDEX IF EXISTS attempts_by_target",
        *(create_statements(types) if version == 1 else _table_statements(types)),
        f"INSERT INTO attempts ({columns}) SELECT {select_columns(version)} FROM attempts_old",
        "DROP TABLE attempts_old",
        f"UPDATE {META_TABLE} SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'",
        *([restart_ids] if restart_ids else []),
    ]


def select_columns(version: int) -> str:
    """The SELECT list giving rows of the current layout from a ledger of `version`."""
    missing = frozenset(COLUMNS) - {1: V1_COLUMNS, 2: V2_COLUMNS}.get(version, frozenset(COLUMNS))
    return ", ".join(f"{_LEGACY[c]} AS {c}" if c in missing else c for c in COLUMNS)


def insert_statement(placeholder: Callable[[str], str]) -> str:
    """Insert a row unless its key is taken; return its id (no row when it is taken)."""
    names = [c for c in COLUMNS if c != "id"]
    values = ", ".join(placeholder(name) for name in names)
    return (
        f"INSERT INTO attempts ({', '.join(names)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(KEY)}) DO NOTHING RETURNING id"
    )


def select_by_key_statement(placeholder: Callable[[str], str]) -> str:
    """The row of a key, every column."""
    where = " AND ".join(f"{c} = {placeholder(c)}" for c in KEY)
    return f"SELECT {', '.join(COLUMNS)} FROM attempts WHERE {where}"


def replace_statement(placeholder: Callable[[str], str]) -> str:
    """Replace the values of a key's row, keeping its id and first `created_at`."""
    updates = ", ".join(
        f"{c} = {placeholder(c)}" for c in COLUMNS if c not in (*KEY, "id", "created_at")
    )
    where = " AND ".join(f"{c} = {placeholder(c)}" for c in KEY)
    return f"UPDATE attempts SET {updates} WHERE {where}"


def _table_statements(types: dict[str, str]) -> list[str]:
    return [
        f"""CREATE TABLE attempts (
            id {types["id"]},
            experiment TEXT NOT NULL,
            run TEXT NOT NULL,
            attempt {types["int"]} NOT NULL,
            writer TEXT NOT NULL,
            config TEXT NOT NULL,
            seed {types["int"]},
            target_metric TEXT NOT NULL,
            target_value {types["real"]} NOT NULL,
            steps {types["int"]} NOT NULL,
            budget {types["int"]},
            samples {types["int"]},
            seconds {types["real"]},
            reached {types["int"]} NOT NULL CHECK (reached IN (0, 1)),
            outcome TEXT NOT NULL,
            best_value {types["real"]},
            curve TEXT,
            created_at {types["real"]} NOT NULL,
            UNIQUE (experiment, run, attempt, writer)
        )""",
        "CREATE INDEX attempts_by_target ON attempts (experiment, target_metric, target_value)",
    ]


def describe(
    tables: set[str],
    columns: Callable[[str], set[str]],
    meta: Callable[[], str | None],
    others_allowed: bool,
) -> int | None:
    """The ledger version of a database, `None` when it holds no ledger yet.

    Args:
        tables: the names of the database's own tables (without the engine's internal ones).
        columns: the column names of a table.
        meta: the recorded schema version (a string), or `None`.
        others_allowed: whether other programs' tables may sit beside a ledger (a PostgreSQL
            database is a shared namespace; an SQLite file is one program's).

    Raises:
        ForeignDatabase: when the database is not a keras-effort ledger.
    """
    others = tables - {"attempts", META_TABLE}
    if others and not others_allowed:
        raise ForeignDatabase(f"it holds other tables ({', '.join(sorted(others))})")
    if META_TABLE in tables:
        recorded = meta()
        if recorded is None or not recorded.isdigit():
            raise ForeignDatabase(f"its {META_TABLE} table records no schema version")
        return int(recorded)
    if "attempts" in tables:
        if columns("attempts") == V1_COLUMNS:
            return 1
        raise ForeignDatabase("it has an `attempts` table of other columns")
    return None


class ForeignDatabase(Exception):
    """A database that is not a keras-effort ledger (the store adds its location)."""
