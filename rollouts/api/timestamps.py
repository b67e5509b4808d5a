"""RFC 3339 timestamps as Kubernetes writes them, and back — accepting exactly what it accepts.

Status stores times as strings (``2026-11-28T06:00:00Z``) because that is what the API server
stores and what ``kubectl`` shows; code compares ``datetime`` objects. Sub-second precision is
kept (``2026-11-28T06:00:00.250000Z``) so a restarted controller computes the same windows.

Why a hand-written parser: a field with ``format: date-time`` is checked by the API server with
kube-openapi's ``strfmt.IsDateTime``, which is more liberal than ``datetime.fromisoformat``: it
lower-cases the text (``2026-11-28t13:50:00z`` passes), takes any one character before the
fraction digits, allows offset hours and minutes up to 99, and looks only at the text between
the first and the second ``t``. A value the server stored must never make the controller or
the CLI raise later (that wedged reconciles and crashed ``rollouts get``), and a value the
server refuses must be refused by ``rollouts lint`` too. So :func:`is_date_time` is a line-for-line
port of ``IsDateTime`` and :func:`parse_timestamp` reads every string it accepts:

>>> parse_timestamp("2026-11-28t13:50:00z").isoformat()
'2026-11-28T13:50:00+00:00'
>>> parse_timestamp("2026-11-28T13:50:00.25+01:30").isoformat()
'2026-11-28T12:20:00.250000+00:00'
>>> is_date_time("2026-11-28 13:50:00Z"), is_date_time("2026-02-30T00:00:00Z")
(False, False)
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# kube-openapi strfmt.DateTimePattern, applied to the lower-cased time part. Its "." is any
# character (not only a dot), exactly as in Go's RE2 (neither matches a line feed).
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-])([0-9]{2}):([0-9]{2}))")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


class TimestampError(ValueError):
    """A string that is not an RFC 3339 date-time as the Kubernetes API server checks it."""


def _date_of(text: str) -> tuple[int, int, int] | None:
    """Go's ``time.Parse("2006-01-02", text)``: four-digit year (0000 allowed), real day."""
    found = _DATE.fullmatch(text)
    if found is None:
        return None
    year, month, day = (int(part) for part in found.groups())
    try:
        date(2000 if year == 0 else year, month, day)  # year 0 is a leap year, like 2000
    except ValueError:
        return None
    return year, month, day


def _split(text: str) -> tuple[tuple[int, int, int], re.Match[str]] | None:
    if len(text) < 4:
        return None
    parts = text.lower().split("t")
    if len(parts) < 2:
        return None
    day = _date_of(parts[0])
    found = _TIME.fullmatch(parts[1])
    if day is None or found is None:
        return None
    hour, minute, second = found.group(1, 2, 3)
    if not (hour <= "23" and minute <= "59" and second <= "59"):
        return None
    return day, found


def is_date_time(text: str) -> bool:
    """True when the API server's ``format: date-time`` check accepts ``text``."""
    return _split(text) is not None


def parse_timestamp(text: str) -> datetime:
    """Any string :func:`is_date_time` accepts → an aware UTC ``datetime``.

    Offsets are applied by hand (Python's ``timezone`` refuses offsets of 24 hours or more,
    which the server accepts); a moment outside ``datetime``'s years 1-9999 is clamped to the
    nearest end, which keeps every comparison the controller makes (older/newer) right.
    Raises :class:`TimestampError` (a ``ValueError``) for anything else.
    """
    split = _split(text)
    if split is None:
        raise TimestampError(
            f"{text!r} is not an RFC 3339 date-time; write it as Kubernetes does, e.g. 2026-11-28T06:00:00Z"
        )
    (year, month, day), found = split
    fraction = (found.group(4) or "")[1:]
    micros = int((fraction + "000000")[:6])
    offset = timedelta(0)
    if found.group(5) != "z":
        sign = 1 if found.group(6) == "+" else -1
        offset = sign * timedelta(hours=int(found.group(7)), minutes=int(found.group(8)))
    if year == 0:
        return _EARLIEST
    local = datetime(
        year, month, day, int(found.group(1)), int(found.group(2)), int(found.group(3)), micros, tzinfo=UTC
    )
    try:
        return local - offset
    except OverflowError:
        return _EARLIEST if offset > timedelta(0) else _LATEST


def format_timestamp(moment: datetime) -> str:
    """``datetime`` (aware) → ``2026-11-28T06:00:00Z`` (microseconds only when non-zero)."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
