"""The ledger's tables, their version, and the one migration from the unversioned first layout.

The same statements serve SQLite and PostgreSQL; only column types and placeholders differ, and
the stores supply those (`Store.types`, `Store.placeholder`).
"""

from __future__ import annotations

from collections.abc import Callable

SCHEMA_VERSION = 2
"""Version 2 added `run` and the key `(experiment, run, attempt)`; version 1 had no version."""

META_TABLE = "keras_effort_meta"

# Every column of an attempt row, in table order (`id` first, then the `Attempt` fields).
COLUMNS = (
    "id",
    "experiment",
    "run",
    "attempt",
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
KEY = ("experiment", "run", "attempt")

# The first ledger layout (keras-effort 0.1, no version recorded): no `run`, no key.
V1_COLUMNS = frozenset(COLUMNS) - {"run"}


def create_statements(types: dict[str, str]) -> list[str]:
    """The statements that create an empty ledger of the current version.

    Args:
        types: the store's column types for `"id"` (an auto-numbered primary key), `"int"`
            (64-bit) and `"real"` (double precision).
    """
    return [
        f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')",
        f"""CREATE TABLE attempts (
            id {types["id"]},
            experiment TEXT NOT NULL,
            run TEXT NOT NULL,
            attempt {types["int"]} NOT NULL,
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
            UNIQUE (experiment, run, attempt)
        )""",
        "CREATE INDEX attempts_by_target ON attempts (experiment, target_metric, target_value)",
    ]


def migrate_v1_statements(types: dict[str, str]) -> list[str]:
    """Version 1 to 2, in one transaction: each old row becomes its own run `legacy-<id>`.

    Version 1 had no key, so two of its rows may share experiment and attempt number; giving
    each its own run keeps every row and their ids.
    """
    columns = ", ".join(COLUMNS)
    selected = ", ".join(LEGACY_RUN if c == "run" else c for c in COLUMNS)
    return [
        "ALTER TABLE attempts RENAME TO attempts_v1",
        "DROP INDEX IF EXISTS attempts_by_experiment",
        *create_statements(types),
        f"INSERT INTO attempts ({columns}) SELECT {selected} FROM attempts_v1",
        "DROP TABLE attempts_v1",
    ]


# How a version 1 row's run reads, both when migrating and when reading one read-only.
LEGACY_RUN = "'legacy-' || CAST(id AS TEXT)"


def select_columns(version: int) -> str:
    """The SELECT list giving rows of the current layout from a ledger of `version`."""
    if version == 1:
        return ", ".join(f"{LEGACY_RUN} AS run" if c == "run" else c for c in COLUMNS)
    return ", ".join(COLUMNS)


def upsert_statement(placeholder: Callable[[str], str]) -> str:
    """Insert a row, or update the row with the same key: a rewrite never duplicates.

    The first `created_at` is kept, so a retried write leaves the row exactly as it was.
    """
    names = [c for c in COLUMNS if c != "id"]
    values = ", ".join(placeholder(name) for name in names)
    updates = ", ".join(f"{c} = excluded.{c}" for c in names if c not in (*KEY, "created_at"))
    return (
        f"INSERT INTO attempts ({', '.join(names)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates} RETURNING id"
    )


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
