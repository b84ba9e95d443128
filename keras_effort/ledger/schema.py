"""The ledger's tables, their version, and the migrations from the earlier layouts.

The same statements serve SQLite and PostgreSQL; only column types and placeholders differ, and
the stores supply those (`Store.types`, `Store.placeholder`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

SCHEMA_VERSION = 3
"""Version 3 added `writer` to the key; version 2 added `run`; version 1 had no version."""

META_TABLE = "keras_effort_meta"

# Every column of an attempt row, in table order (`id` first, then the `Attempt` fields), with
# its SQL type: `{id}` (an auto-numbered primary key), `{int}` (64-bit) and `{real}` (double
# precision) are the store's (`Store.types`). A new column goes here, and in `MIGRATIONS`.
COLUMN_TYPES = (
    ("id", "{id}"),
    ("experiment", "TEXT NOT NULL"),
    ("run", "TEXT NOT NULL"),
    ("attempt", "{int} NOT NULL"),
    ("writer", "TEXT NOT NULL"),
    ("config", "TEXT NOT NULL"),
    ("seed", "{int}"),
    ("target_metric", "TEXT NOT NULL"),
    ("target_value", "{real} NOT NULL"),
    ("steps", "{int} NOT NULL"),
    ("budget", "{int}"),
    ("samples", "{int}"),
    ("seconds", "{real}"),
    ("reached", "{int} NOT NULL CHECK (reached IN (0, 1))"),
    ("outcome", "TEXT NOT NULL"),
    ("best_value", "{real}"),
    ("curve", "TEXT"),
    ("created_at", "{real} NOT NULL"),
)
COLUMNS = tuple(name for name, _ in COLUMN_TYPES)
# The writer is in the key so that two processes (or two searches) using one run name never
# overwrite each other's rows.
KEY = ("experiment", "run", "attempt", "writer")


@dataclass(frozen=True)
class Migration:
    """What the next version changed: the columns it added and its row key.

    Attributes:
        added: each added column and how a row of the older version reads it (an SQL
            expression of that row's columns), both when migrating and when read read-only.
        key: the new version's row key.
    """

    added: Mapping[str, str]
    key: tuple[str, ...]


# From each earlier version to the next one; `Ledger` walks them from a ledger's version up to
# `SCHEMA_VERSION`. Version 1 (keras-effort 0.1, no version recorded) had no `run` and no key:
# each of its rows becomes its own run `legacy-<id>`. Rows of versions 1 and 2 get the empty
# writer (no writer of version 3 has that name).
MIGRATIONS: dict[int, Migration] = {
    1: Migration({"run": "'legacy-' || CAST(id AS TEXT)"}, ("experiment", "run", "attempt")),
    2: Migration({"writer": "''"}, KEY),
}


def columns_of(version: int) -> tuple[str, ...]:
    """The columns of a ledger of `version`, in table order."""
    later = {c for v, step in MIGRATIONS.items() if v >= version for c in step.added}
    return tuple(c for c in COLUMNS if c not in later)


def create_statements(types: dict[str, str]) -> list[str]:
    """The statements that create an empty ledger of the current version.

    Args:
        types: the store's column types (`COLUMN_TYPES`).
    """
    return [*_meta_statements(SCHEMA_VERSION), *_table_statements(types, SCHEMA_VERSION)]


def migration_statements(version: int, types: dict[str, str], restart_ids: str | None) -> list[str]:
    """From `version` to the next one (`MIGRATIONS[version]`), keeping every row and its id.

    The table is rebuilt (SQLite cannot change a table's key in place). Version 1 had no key,
    so two of its rows may share experiment and attempt number; giving each its own run keeps
    them all.

    Args:
        version: the ledger's version, a key of `MIGRATIONS`.
        types: the store's column types (`COLUMN_TYPES`).
        restart_ids: the store's statement that sets the next id past the copied rows, or
            `None` when the database does so itself.
    """
    added = MIGRATIONS[version].added
    columns = columns_of(version + 1)
    select = ", ".join(f"{added[c]} AS {c}" if c in added else c for c in columns)
    return [
        *(_meta_statements(version) if version == 1 else []),  # version 1 recorded none
        "ALTER TABLE attempts RENAME TO attempts_old",
        # Index names are database-wide: the old table's must go before the new one's exist.
        "DROP INDEX IF EXISTS attempts_by_experiment",
        "DROP INDEX IF EXISTS attempts_by_target",
        *_table_statements(types, version + 1),
        f"INSERT INTO attempts ({', '.join(columns)}) SELECT {select} FROM attempts_old",
        "DROP TABLE attempts_old",
        f"UPDATE {META_TABLE} SET value = '{version + 1}' WHERE key = 'schema_version'",
        *([restart_ids] if restart_ids else []),
    ]


def select_columns(version: int) -> str:
    """The SELECT list giving rows of the current layout from a ledger of `version`."""
    legacy = {c: e for v, step in MIGRATIONS.items() if v >= version for c, e in step.added.items()}
    return ", ".join(f"{legacy[c]} AS {c}" if c in legacy else c for c in COLUMNS)


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


def _meta_statements(version: int) -> list[str]:
    return [
        f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema_version', '{version}')",
    ]


def _table_statements(types: dict[str, str], version: int) -> list[str]:
    """The attempts table of `version` (2 or later: version 1 is only migrated from)."""
    declared = dict(COLUMN_TYPES)
    columns = [f"{c} {declared[c].format(**types)}" for c in columns_of(version)]
    key = MIGRATIONS[version - 1].key
    body = ",\n    ".join([*columns, f"UNIQUE ({', '.join(key)})"])
    return [
        f"CREATE TABLE attempts (\n    {body}\n)",
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
        if columns("attempts") == set(columns_of(1)):
            return 1
        raise ForeignDatabase("it has an `attempts` table of other columns")
    return None


class ForeignDatabase(Exception):
    """A database that is not a keras-effort ledger (the store adds its location)."""
