"""Every ``>>>`` example in the rollouts package is executed, so the examples stay true.

(The analysis package has its own: tests/unit/analysis/test_docstrings.py.)
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rollouts

MODULES = sorted(
    module.name for module in pkgutil.walk_packages(rollouts.__path__, "rollouts.") if not module.ispkg
)


def test_the_package_has_worked_examples() -> None:
    examples = sum(
        len(test.examples)
        for name in MODULES
        for test in doctest.DocTestFinder().find(importlib.import_module(name))
    )
    assert examples > 0


@pytest.mark.parametrize("name", MODULES)
def test_worked_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
