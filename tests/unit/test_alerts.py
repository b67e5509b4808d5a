"""The alert rules: valid for Prometheus, unit-tested with promtool, each with its runbook.

``promtool check rules`` parses every expression as Prometheus does; ``promtool test rules``
runs tests/alerts/alerts_test.yaml, which feeds series through time and says which alerts fire,
with which labels and annotations. promtool comes with the Debian ``prometheus`` package: a
missing one skips locally and fails under CI=true (tests.support.need).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from rollouts.local.prometheus import find_binary
from tests.support.need import need

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "helm" / "model-rollouts" / "files" / "alerts.yaml"
ALERT_TESTS = ROOT / "tests" / "alerts" / "alerts_test.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = find_binary("promtool")
    need(binary is not None, "promtool", "install the Debian package: apt-get install prometheus")
    assert binary is not None
    return subprocess.run([str(binary), *args], capture_output=True, text=True, check=False, timeout=120)


def rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alerts_fire_as_their_unit_tests_say() -> None:
    tested = promtool("test", "rules", str(ALERT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_is_explained_and_has_a_runbook(rule: dict[str, object]) -> None:
    annotations = rule["annotations"]
    assert isinstance(annotations, dict)
    assert {"summary", "description", "runbook_url"} <= set(annotations)
    anchor = str(annotations["runbook_url"]).rsplit("#", 1)[1]
    headings = {
        line.lstrip("#").strip().lower()
        for line in (ROOT / "docs" / "operations.md").read_text().splitlines()
        if line.startswith("### ")
    }
    assert anchor in headings, f"docs/operations.md has no runbook heading '### {anchor}'"


def test_every_alert_is_unit_tested() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert tested == {rule["alert"] for rule in rules()}
