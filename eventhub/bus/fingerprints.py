"""Failure fingerprints: the exception type and the first frame in the project's own code.

Dead letters that fail the same way group together even when their messages differ (an
order ID, an amount): ``ValueError at notifications.handlers:send_order_confirmation``. The frame
is the outermost one whose file lies under the project root but outside the bus itself
(``eventhub/bus``, which calls every handler) and outside installed packages: the
handler's own code. Pure text parsing of ``traceback.format_exc()`` output, so it runs
where the failure is recorded and on stored tracebacks alike.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MAX_LENGTH = 200

_FRAME_RE = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+, in (?P<function>\S+)', re.M)
_SECTION = "Traceback (most recent call last):"
_NOT_OURS = ("site-packages", "dist-packages", ".venv")
_BUS = ("eventhub", "bus")


def exception_type(error: str) -> str:
    """``"KeyError: 'sku'"`` -> ``"KeyError"`` (the form ``fail_attempt`` receives)."""
    return error.split(":", 1)[0].strip()[:MAX_LENGTH]


def project_frame(tb: str, root: PurePath = PROJECT_ROOT) -> str | None:
    """``module:function`` of the first project frame of the last exception in ``tb``."""
    last = tb.rsplit(_SECTION, 1)[-1]  # a chained exception: the one that was raised last
    for match in _FRAME_RE.finditer(last):
        try:
            relative = PurePath(match["file"]).relative_to(root)
        except ValueError:
            continue  # the standard library, <frozen ...>, <string>
        parts = relative.parts
        if any(part in _NOT_OURS for part in parts) or parts[: len(_BUS)] == _BUS:
            continue
        if relative.suffix == ".py":
            module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        else:
            module = relative.as_posix()
        return f"{module}:{match['function']}"
    return None


def fingerprint_of(error: str, tb: str, root: PurePath = PROJECT_ROOT) -> str:
    """``"Type at module:function"``, or just the type when no frame is the project's."""
    kind = exception_type(error)
    frame = project_frame(tb, root)
    return (f"{kind} at {frame}" if frame else kind)[:MAX_LENGTH]
