"""What the ledger raises and warns."""

from __future__ import annotations


class LedgerError(RuntimeError):
    """The ledger cannot be opened, read or written; the message names its path or database."""


class LedgerWriteWarning(UserWarning):
    """A write failed during training; the attempt is kept in memory and retried."""
