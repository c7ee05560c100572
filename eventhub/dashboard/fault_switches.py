"""The dashboard's fault switches: read and set the FaultRule of a subscriber or of a declared
switch such as a simulated gateway (R5, demos)."""

from __future__ import annotations

from typing import Any

from ..bus import subscribers
from ..faults import fault_switches
from ..models import FaultRule

MAX_LATENCY_MS = 60_000
MAX_REMAINING = 1000


class FaultSwitchError(ValueError):
    """Input naming its faulty field."""


def fault_rule_json(rule: FaultRule) -> dict[str, Any]:
    return {
        "subscriber": rule.subscriber,
        "enabled": rule.enabled,
        "mode": rule.mode,
        "remaining": rule.remaining,
        "percent": rule.percent,
        "latencyMs": rule.latency_ms,
    }


def fault_rules() -> list[dict[str, Any]]:
    return [fault_rule_json(r) for r in FaultRule.objects.order_by("subscriber")]


def _bounded(value: Any, field: str, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
        raise FaultSwitchError(f"{field}: must be an integer from 0 to {upper}")
    return value


def fault_rule_set(
    *,
    subscriber: str,
    enabled: bool,
    mode: str,
    remaining: int = 0,
    percent: int = 0,
    latency_ms: int = 0,
) -> FaultRule:
    """Switch a subscriber's (or a declared switch's) fault on or off; an unknown name or
    mode is refused."""
    if subscribers.get(subscriber) is None and subscriber not in fault_switches():
        raise FaultSwitchError(f"subscriber: no subscriber or fault switch named {subscriber!r}")
    if mode not in FaultRule.Mode.values:
        raise FaultSwitchError(f"mode: must be one of {', '.join(FaultRule.Mode.values)}")
    rule, _ = FaultRule.objects.update_or_create(
        subscriber=subscriber,
        defaults={
            "enabled": bool(enabled),
            "mode": mode,
            "remaining": _bounded(remaining, "remaining", MAX_REMAINING),
            "percent": _bounded(percent, "percent", 100),
            "latency_ms": _bounded(latency_ms, "latencyMs", MAX_LATENCY_MS),
        },
    )
    return rule
