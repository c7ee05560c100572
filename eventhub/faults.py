"""Fault injection for demos and tests, off unless an operator switches a fault on."""

from __future__ import annotations

import random
import time

from django.db.models import F

from .models import FaultRule


class InjectedFault(RuntimeError):
    """Raised by a handler that an operator told to fail."""


_SWITCHES: dict[str, str] = {}


def fault_switch(name: str, description: str) -> str:
    """Declare a fault switch that is not a subscriber (a simulated gateway, a carrier).

    Declared switches are offered beside the subscribers on the dashboard and accepted by
    its fault API; the code that owns the switch asks ``fault_fires(name)``. Returns name.
    """
    _SWITCHES[name] = description
    return name


def fault_switches() -> dict[str, str]:
    """Declared non-subscriber switches: name -> what switching it on does."""
    return dict(sorted(_SWITCHES.items()))


def fault_fires(name: str, rule: FaultRule | None = None) -> bool:
    """Whether the switch ``name`` says this call fails; no latency, no exception.

    For switches consulted inside a handler's transaction (a simulated gateway or carrier),
    where sleeping would hold the database's write lock. A NEXT_N rule counts down here.
    """
    if rule is None:
        rule = FaultRule.objects.filter(subscriber=name, enabled=True).first()
    if rule is None:
        return False
    if rule.mode == FaultRule.Mode.ALWAYS:
        return True
    if rule.mode == FaultRule.Mode.NEXT_N:
        return bool(
            FaultRule.objects.filter(pk=rule.pk, remaining__gt=0).update(
                remaining=F("remaining") - 1
            )
        )
    return rule.mode == FaultRule.Mode.PERCENT and random.uniform(0, 100) < rule.percent


def apply_fault(subscriber: str) -> None:
    """Sleep and/or raise as the subscriber's active fault rule says; no rule, no effect.

    Called before the handler's transaction opens, so a NEXT_N count goes down for good.
    """
    rule = FaultRule.objects.filter(subscriber=subscriber, enabled=True).first()
    if rule is None:
        return
    if rule.latency_ms:
        time.sleep(rule.latency_ms / 1000)
    if not fault_fires(subscriber, rule):
        return
    if rule.mode == FaultRule.Mode.ALWAYS:
        raise InjectedFault(f"fault injected: {subscriber} fails always")
    if rule.mode == FaultRule.Mode.NEXT_N:
        raise InjectedFault(f"fault injected: {subscriber} fails the next {rule.remaining}")
    raise InjectedFault(f"fault injected: {subscriber} fails {rule.percent}% of attempts")
