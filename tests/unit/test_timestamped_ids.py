"""The business records' ids (orders, payments, shipments) come from one generator."""

from __future__ import annotations

import re
import time

from eventhub.ids import timestamped_id


def test_an_id_names_its_kind_its_millisecond_and_six_hex_digits() -> None:
    before = int(time.time() * 1000)
    made = timestamped_id("PAY")
    after = int(time.time() * 1000)
    match = re.fullmatch(r"PAY-(\d{13})-([0-9A-F]{6})", made)
    assert match, made
    assert before <= int(match[1]) <= after
