"""Durations as people write them in a ModelRollout: ``"90s"``, ``"15m"``, ``"1h30m"``.

Why not ``datetime.timedelta``: pydantic serialises a timedelta as ISO 8601 (``"PT15M"``), so a
spec read and written back would change under the user's feet. A :class:`Duration` *is* the
string the user wrote (a ``str`` on the wire and in the CRD schema) and carries its length,
parsed once when the model is validated: code reads ``spec.analysis.interval.seconds`` or
``.delta`` instead of parsing the same text again at every reconcile.

The accepted grammar is the subset of Go's ``time.ParseDuration`` made of whole hours, minutes
and seconds, in that order, each at most once. It is written without look-arounds because the
Kubernetes API server checks CRD patterns with Go's RE2, and CEL's ``duration()`` parses the same
strings, so the CRD can compare durations (``duration(self.interval) >= duration('10s')``).

>>> Duration("1h30m").seconds
5400.0
>>> Duration("90s").delta
datetime.timedelta(seconds=90)
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

DURATION_PATTERN = r"^([0-9]{1,6}h([0-9]{1,6}m)?([0-9]{1,6}s)?|[0-9]{1,6}m([0-9]{1,6}s)?|[0-9]{1,6}s)$"
"""RE2-compatible pattern shared by the pydantic models and the generated CRD."""

DURATION_HINT = 'write a duration such as "90s", "15m" or "1h30m" (hours, minutes, seconds)'

_PARTS = re.compile(r"(?P<value>[0-9]+)(?P<unit>[hms])")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


class Duration(str):
    """A duration string validated against :data:`DURATION_PATTERN`, its length parsed once."""

    seconds: float
    """The length in seconds."""

    def __new__(cls, text: str) -> Duration:
        """The duration ``text``; ``ValueError`` outside the grammar (never a silent 0)."""
        duration = super().__new__(cls, text)
        duration.seconds = seconds(text)
        return duration

    @property
    def delta(self) -> timedelta:
        """The length as a timedelta."""
        return timedelta(seconds=self.seconds)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """A string with the pattern (as the CRD declares it), made a Duration once valid."""
        del source, handler
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(pattern=DURATION_PATTERN, max_length=24),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


def seconds(duration: str) -> float:
    """Return the number of seconds in a duration string such as ``"1h30m"``.

    Raises ``ValueError`` for a string outside the grammar, so a caller never gets a silent 0.
    """
    if not re.fullmatch(DURATION_PATTERN, duration):
        raise ValueError(f"{duration!r} is not a duration: {DURATION_HINT}")
    return sum(float(match["value"]) * _UNIT_SECONDS[match["unit"]] for match in _PARTS.finditer(duration))


def format_seconds(value: float) -> str:
    """Write a number of seconds back in the same grammar, rounding down to whole seconds.

    >>> format_seconds(5400)
    '1h30m'
    >>> format_seconds(0)
    '0s'
    """
    total = int(value)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(
        f"{amount}{unit}" for amount, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if amount
    )
    return text or "0s"
