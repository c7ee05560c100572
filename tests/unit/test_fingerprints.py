"""Failure fingerprints: exception type + first project frame, blind to the message text."""

from __future__ import annotations

from pathlib import PurePath

from eventhub.bus.fingerprints import fingerprint_of, project_frame

ROOT = PurePath("/srv/eventhub")


def traceback_text(message: str, handler_file: str = "notifications/handlers.py") -> str:
    return f"""Traceback (most recent call last):
  File "/srv/eventhub/eventhub/bus/delivery.py", line 158, in execute
    sub.handler(received)
  File "/srv/eventhub/{handler_file}", line 41, in on_order_created
    send_mail(order)
  File "/srv/eventhub/.venv/lib/python3.12/site-packages/django/mail.py", line 88, in send_mail
    return mail.send()
  File "/usr/lib/python3.12/smtplib.py", line 341, in connect
    raise ConnectionRefusedError(111, "Connection refused")
ConnectionRefusedError: {message}
"""


def test_two_failures_that_differ_only_in_their_message_share_a_fingerprint():
    first = fingerprint_of(
        "ConnectionRefusedError: order ORD-1 refused",
        traceback_text("order ORD-1 refused"),
        ROOT,
    )
    second = fingerprint_of(
        "ConnectionRefusedError: order ORD-2 refused by host 10.0.0.7",
        traceback_text("order ORD-2 refused by host 10.0.0.7"),
        ROOT,
    )
    assert first == second == "ConnectionRefusedError at notifications.handlers:on_order_created"


def test_a_different_first_project_frame_gives_a_different_fingerprint():
    mail = fingerprint_of("KeyError: 'a'", traceback_text("'a'"), ROOT)
    stock = fingerprint_of("KeyError: 'a'", traceback_text("'a'", "inventory/handlers.py"), ROOT)
    assert mail != stock
    assert stock == "KeyError at inventory.handlers:on_order_created"


def test_a_different_exception_type_at_the_same_frame_gives_a_different_fingerprint():
    assert fingerprint_of("KeyError: x", traceback_text("x"), ROOT) != fingerprint_of(
        "ValueError: x", traceback_text("x"), ROOT
    )


def test_without_a_project_frame_the_fingerprint_is_the_exception_type():
    only_bus_and_stdlib = """Traceback (most recent call last):
  File "/srv/eventhub/eventhub/bus/delivery.py", line 150, in execute
    received = decode(event, attempt=attempt.number)
  File "/usr/lib/python3.12/json/decoder.py", line 355, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"""
    assert fingerprint_of("JSONDecodeError: Expecting value", only_bus_and_stdlib, ROOT) == (
        "JSONDecodeError"
    )
    assert fingerprint_of("WorkerLost: the worker died", "", ROOT) == "WorkerLost"


def test_a_chained_exception_is_fingerprinted_by_the_one_raised_last():
    chained = (
        traceback_text("first")
        + "\nDuring handling of the above exception, another exception occurred:\n\n"
        + """Traceback (most recent call last):
  File "/srv/eventhub/orders/sagas.py", line 12, in on_payment_failed
    raise RuntimeError("compensation failed")
RuntimeError: compensation failed
"""
    )
    assert project_frame(chained, ROOT) == "orders.sagas:on_payment_failed"


def test_the_default_root_is_this_checkout():
    here = PurePath(__file__)
    tb = f'  File "{here}", line 1, in test_x\n'
    assert fingerprint_of("AssertionError", tb) == (
        "AssertionError at tests.unit.test_fingerprints:test_x"
    )
