"""The seed's catalog (R6): present after the first migrate, restorable by ``catalog_seed``."""

from decimal import Decimal

CATALOG: list[tuple[str, str, Decimal, int]] = [
    ("PROD-001", "iPhone 15", Decimal("6999"), 100),
    ("PROD-002", "MacBook Pro", Decimal("14999"), 50),
    ("PROD-003", "AirPods Pro", Decimal("1999"), 200),
]
