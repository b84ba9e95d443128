"""The ledger: a durable record of training attempts, one row per attempt.

The ledger is the single input of every effort view: the callbacks and the tuner write
attempts, `Ledger.runtime_distribution` feeds `keras_effort.effort`. It lives in one SQLite file
(the embedded default, from the standard library) or, for several machines, in a PostgreSQL
database given by URL (the `postgres` extra); both have the same tables, schema version and
guarantees.
"""

from keras_effort.ledger.attempt import OUTCOMES, Attempt, runtime_distribution_of
from keras_effort.ledger.errors import LedgerError, LedgerWriteWarning
from keras_effort.ledger.ledger import Ledger
from keras_effort.ledger.schema import SCHEMA_VERSION

__all__ = [
    "OUTCOMES",
    "SCHEMA_VERSION",
    "Attempt",
    "Ledger",
    "LedgerError",
    "LedgerWriteWarning",
    "runtime_distribution_of",
]
