"""Pytest configuration shared by every suite."""

from __future__ import annotations

pytest_plugins: list[str] = ["tests.support.cluster", "tests.support.helm", "tests.support.prometheus"]
