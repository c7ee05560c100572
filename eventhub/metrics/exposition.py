"""The Prometheus text format (version 0.0.4), from our families and from OpenTelemetry data.

Written here rather than pulled in with prometheus_client: a scrape is one text rendering of
what ``readings`` and the process's OpenTelemetry reader already hold, with no registry.
"""

from __future__ import annotations

import math
import re

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum

from .families import Family, HistogramSample, Labels, Sample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def _value(number: float) -> str:
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if float(number).is_integer():
        return str(int(number))
    return repr(float(number))


def _escape(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = [*labels, *extra]
    if not pairs:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in pairs) + "}"


def render(families: list[Family]) -> str:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for sample in family.samples:
            if isinstance(sample, HistogramSample):
                for bound, count in sample.buckets:
                    le = (("le", _value(bound)),)
                    lines.append(f"{family.name}_bucket{_labels(sample.labels, le)} {count}")
                inf = (("le", "+Inf"),)
                lines.append(f"{family.name}_bucket{_labels(sample.labels, inf)} {sample.count}")
                lines.append(f"{family.name}_sum{_labels(sample.labels)} {_value(sample.sum)}")
                lines.append(f"{family.name}_count{_labels(sample.labels)} {sample.count}")
            else:
                lines.append(f"{family.name}{_labels(sample.labels)} {_value(sample.value)}")
    return "\n".join(lines) + "\n"


def prometheus_name(name: str, unit: str, *, counter: bool) -> str:
    """OpenTelemetry's ``http.server.request.duration`` (s) -> ``..._duration_seconds``."""
    base = _INVALID.sub("_", name)
    suffix = _UNIT_SUFFIX.get(unit, "")
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    if counter and not base.endswith("_total"):
        base = f"{base}_total"
    return base


def _attributes(attributes: object) -> Labels:
    items = dict(attributes or {}).items()  # type: ignore[call-overload]
    return tuple(sorted((_INVALID.sub("_", str(k)), str(v)) for k, v in items))


def from_opentelemetry(data: MetricsData | None) -> list[Family]:
    """Families from an OpenTelemetry reader's cumulative data (sums, gauges, histograms)."""
    families: dict[str, Family] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points = metric.data
                if isinstance(points, Histogram):
                    name = prometheus_name(metric.name, metric.unit or "", counter=False)
                    family = families.setdefault(
                        name, Family(name, "histogram", metric.description or metric.name)
                    )
                    for point in points.data_points:
                        cumulative, running = [], 0
                        for bound, count in zip(
                            point.explicit_bounds, point.bucket_counts, strict=False
                        ):
                            running += count
                            cumulative.append((float(bound), running))
                        family.samples.append(  # type: ignore[arg-type]
                            HistogramSample(
                                _attributes(point.attributes),
                                tuple(cumulative),
                                point.count,
                                float(point.sum),
                            )
                        )
                elif isinstance(points, Sum | Gauge):
                    counter = isinstance(points, Sum) and points.is_monotonic
                    name = prometheus_name(metric.name, metric.unit or "", counter=counter)
                    kind = "counter" if counter else "gauge"
                    family = families.setdefault(
                        name, Family(name, kind, metric.description or metric.name)
                    )
                    for point in points.data_points:
                        family.samples.append(  # type: ignore[arg-type]
                            Sample(_attributes(point.attributes), float(point.value))
                        )
    return list(families.values())
