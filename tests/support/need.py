"""One rule for missing test dependencies: skip on a laptop, fail under ``CI=true``.

A test that needs the test bed or a Prometheus binary calls :func:`need`. On a developer's
machine without them the test is skipped with the reason and the command that fixes it; in CI
the same absence is a failure, so a broken install can never turn into a silently green run.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where nothing may be skipped for absence."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(available: bool, what: str, fix: str) -> None:
    """Skip (locally) or fail (in CI) unless ``available``; ``fix`` says how to get ``what``."""
    if available:
        return
    message = f"{what} is not available: {fix}"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)
