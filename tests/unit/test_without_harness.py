"""The controller's install works without the development harness, as in the controller image.

The image leaves ``rollouts/local`` and ``rollouts/testbed`` out and does not install the
``demo`` extra (``cryptography``). A child Python with those imports blocked stands in for it:
the controller and cluster commands load; ``demo`` and ``testbed`` say what is missing (exit 3).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCKED_RUN = """
import importlib.abc, sys
class NoHarness(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "cryptography" or name.startswith(("rollouts.local", "rollouts.testbed")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoHarness())
sys.argv = ["rollouts", *sys.argv[1:]]
from rollouts.cli.main import main
main()
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("command", [["controller", "--help"], ["get", "--help"], ["analyze", "--help"]])
def test_the_controller_and_cluster_commands_load_without_the_harness(command: list[str]) -> None:
    result = run(*command)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", [["demo"], ["testbed", "up"]])
def test_harness_commands_say_what_is_missing(command: list[str]) -> None:
    result = run(*command)
    assert result.returncode == 3
    assert "needs the development harness" in result.stderr
    assert "model-rollouts[demo]" in result.stderr


def test_the_controller_never_imports_the_harness() -> None:
    probe = BLOCKED_RUN.replace(
        "from rollouts.cli.main import main\nmain()",
        "import rollouts.controller.shell.app, rollouts.controller.shell.replay",
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
