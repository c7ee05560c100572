"""A refused request in the log: one line, not a traceback.

Django logs a view's ``PermissionDenied`` (the admin's 403s) on ``django.request`` at WARNING
with the exception's whole traceback: a page of lines for a routine refusal, which buries the
real errors. ``OneLineRefusals`` (a filter on that logger, see settings.LOGGING) rewrites such
a record as one line, who was refused what where, and drops the traceback. Every other record
(a 500 above all) keeps its traceback.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied


def _escaped(text: str) -> str:
    """As Django escapes what it logs of a request: no control character reaches the log."""
    return text.encode("unicode_escape").decode("ascii")


class OneLineRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, PermissionDenied):
            return True
        request = getattr(record, "request", None)
        user = getattr(request, "user", None)
        who = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        record.msg = "Forbidden (%s): %s %s by %s"
        record.args = (
            _escaped(str(exc) or "permission denied"),
            getattr(request, "method", "-"),
            _escaped(getattr(request, "path", "-")),
            _escaped(who),
        )
        record.exc_info = None
        record.exc_text = None
        return True
