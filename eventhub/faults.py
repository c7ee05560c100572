"""Fault injection for demos and tests, off unless an operator switches a fault on."""

from __future__ import annotations

import random
import time

from django.db.models import F

from .models import FaultRule


class InjectedFault(RuntimeError):
    """Raised by a handler that an operator told to fail."""


def apply_fault(subscriber: str) -> None:
    """Sleep and/or raise as the subscriber's active fault rule says; no rule, no effect."""
    rule = FaultRule.objects.filter(subscriber=subscriber, enabled=True).first()
    if rule is None:
        return
    if rule.latency_ms:
        time.sleep(rule.latency_ms / 1000)
    if rule.mode == FaultRule.Mode.ALWAYS:
        raise InjectedFault(f"fault injected: {subscriber} fails always")
    # Called before the handler's transaction opens, so the count goes down for good.
    if rule.mode == FaultRule.Mode.NEXT_N and (
        FaultRule.objects.filter(pk=rule.pk, remaining__gt=0).update(remaining=F("remaining") - 1)
    ):
        raise InjectedFault(f"fault injected: {subscriber} fails the next {rule.remaining}")
    if rule.mode == FaultRule.Mode.PERCENT and random.uniform(0, 100) < rule.percent:
        raise InjectedFault(f"fault injected: {subscriber} fails {rule.percent}% of attempts")
