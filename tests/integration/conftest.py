"""Fixtures shared by the integration suites that exercise the shipped RBAC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rollouts.testbed import LocalCluster

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac"
"""The roles and the admission policy, applied exactly as shipped (``kubectl apply -k``)."""


@pytest.fixture(scope="module")
def roles(testbed: LocalCluster) -> Iterator[None]:
    """deploy/rbac applied, until the module's tests are done."""
    applied = testbed.kubectl("apply", "-k", str(RBAC))
    assert applied.returncode == 0, applied.stderr
    yield
    testbed.kubectl("delete", "-k", str(RBAC))
