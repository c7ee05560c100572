"""Readable ids for business records: ``ORD-1795722746473-27C4F4``.

A prefix naming the kind of record, the creation time in epoch milliseconds (so ids sort
roughly by age and say when they were made), and 3 random bytes in hex: 16.7 million values
per millisecond and prefix. Each such id is its record's primary key, created with an INSERT,
so the rare collision is an IntegrityError, never two records merged.
"""

from __future__ import annotations

import secrets
import time


def timestamped_id(prefix: str) -> str:
    """``<prefix>-<epoch ms>-<6 hex digits, upper case>``, e.g. ``PAY-1795722747019-0A1B2C``."""
    return f"{prefix}-{int(time.time() * 1000)}-{secrets.token_hex(3).upper()}"
