"""Every worked example in the analysis docstrings is executed, so the numbers stay true."""

import doctest
import importlib
import pkgutil

import pytest

import analysis

MODULES = sorted(
    module.name for module in pkgutil.walk_packages(analysis.__path__, "analysis.") if not module.ispkg
)


@pytest.mark.parametrize("name", MODULES)
def test_worked_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
