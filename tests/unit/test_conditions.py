"""The README names every condition the controller writes, and the code writes only those."""

from __future__ import annotations

import re
from pathlib import Path

from rollouts.api.conditions import ConditionType

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_lists_every_condition_type() -> None:
    text = (ROOT / "README.md").read_text()
    status = text[text.index("### Status") :]
    listed = status[status.index("`conditions`") : status.index("`history`")]
    assert {kind.value for kind in ConditionType} <= set(re.findall(r"`(\w+)`", listed))


def test_the_controller_writes_conditions_only_through_the_enum() -> None:
    sources = (ROOT / "rollouts" / "controller").glob("*.py")
    literal = re.compile(r"""(condition\(|type=)\s*["']""")
    offenders = [path.name for path in sources if literal.search(path.read_text())]
    assert offenders == []
