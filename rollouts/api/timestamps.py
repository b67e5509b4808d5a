"""RFC 3339 timestamps as Kubernetes writes them, and back.

Status stores times as strings (``2026-11-28T06:00:00Z``) because that is what the API server
stores and what ``kubectl`` shows; code compares ``datetime`` objects. Sub-second precision is
kept (``2026-11-28T06:00:00.250000Z``) so a restarted controller computes the same windows.
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(moment: datetime) -> str:
    """``datetime`` (aware) → ``2026-11-28T06:00:00Z`` (microseconds only when non-zero)."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """``2026-11-28T06:00:00Z`` (or with an offset) → an aware UTC ``datetime``."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
