"""What an operator's reason may hold: one line of text, without characters that disguise it.

A reason (of a replay, a redrive, a pause, a discard, an edit & retry) is shown in the admin
log and on the dashboard. A control character (a newline, an escape, a NUL) or a Unicode
bidirectional control (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C: they reorder
the text around them as it is displayed) would let it show as something other than what it
says. Every entry point asks ``reason_problem`` (the commands, the admin's forms, the
dashboard's endpoints, and the bus functions that write a reason), so the rule is here once.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Unicode's Bidi_Control characters."""
LINE_BREAKS = ("Cc", "Zl", "Zp")
"""Control characters (newlines, tabs, escapes, NUL, C1) and the line and paragraph
separators: a reason is one line of plain text."""


def reason_problem(text: str) -> str | None:
    """Why ``text`` may not be a reason (without the field's name), or None if it may."""
    for position, char in enumerate(text, start=1):
        code = f"U+{ord(char):04X} at character {position}"
        if char == "\x00":
            return f"must not contain NUL characters ({code})"
        if unicodedata.category(char) in LINE_BREAKS:
            return f"must be one line of text, without control characters ({code})"
        if char in BIDI_CONTROLS:
            return f"must not contain bidirectional text controls, which can disguise it ({code})"
    return None


def reason_checked(text: str, refused: type[Exception], *, field: str = "reason") -> str:
    """``text``, or ``refused("<field>: <problem>")``."""
    problem = reason_problem(text)
    if problem is not None:
        raise refused(f"{field}: {problem}")
    return text


def validate_reason(text: str) -> None:
    """The same rule as a form field's validator (the form shows it by the field)."""
    problem = reason_problem(text)
    if problem is not None:
        raise ValidationError(f"The reason {problem}.", code="reason")
