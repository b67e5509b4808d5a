"""rollouts lint: every malformed ModelRollout gets the right field path, message and a hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rollouts.api.lint import lint_object, lint_text
from rollouts.api.resource import ModelRollout
from rollouts.cli.main import app
from tests.cases.rollouts import MALFORMED, Malformed, valid_rollout

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").rglob("*.yaml"))
ROLLOUT_EXAMPLES = [p for p in EXAMPLES if "kind: ModelRollout" in p.read_text()]


def test_valid_rollout_has_no_errors() -> None:
    rollout, problems = lint_object(valid_rollout())
    assert rollout is not None
    assert [p for p in problems if p.severity == "error"] == []


def test_corpus_is_large_enough() -> None:
    assert len(MALFORMED) >= 15
    assert len({case.name for case in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.name)
def test_malformed_rollout_is_reported_at_its_field(case: Malformed) -> None:
    rollout, problems = lint_object(case.rollout())
    assert rollout is None
    errors = [p for p in problems if p.severity == "error"]
    assert errors, "a malformed rollout must produce an error"
    matching = [p for p in errors if p.path == case.path]
    assert matching, f"no error at {case.path}; got {[(p.path, p.message) for p in errors]}"
    assert any(case.message in p.message for p in matching), [p.message for p in matching]
    assert all(p.hint for p in matching), "every error carries a hint"


def test_misspelt_field_gets_a_suggestion() -> None:
    obj = valid_rollout()
    obj["spec"]["analysis"]["intervall"] = "1m"
    _, problems = lint_object(obj)
    (problem,) = problems
    assert problem.path == "spec.analysis.intervall"
    assert "did you mean 'interval'" in problem.hint


def test_line_numbers_point_into_the_yaml() -> None:
    text = yaml.safe_dump(MALFORMED[3].rollout(), sort_keys=False)
    (report,) = lint_text(text, "x.yaml")
    (problem,) = [p for p in report.problems if p.severity == "error"]
    line = text.splitlines()[problem.line - 1] if problem.line else ""
    assert "setWeight: 150" in line


def test_duplicate_yaml_keys_are_errors() -> None:
    text = "apiVersion: a\napiVersion: b\nkind: ModelRollout\n"
    (report,) = lint_text(text, "dup.yaml")
    assert not report.ok
    assert "duplicate key 'apiVersion'" in report.problems[0].message
    assert report.problems[0].line == 2


def test_other_kinds_are_refused_with_a_hint() -> None:
    (report,) = lint_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "cm.yaml")
    assert not report.ok
    assert report.problems[0].path == "kind"


def test_plan_warnings_do_not_fail() -> None:
    obj = valid_rollout()
    obj["spec"]["steps"] = [{"setWeight": 100}, {"analyze": {"duration": "1m"}}]
    rollout, problems = lint_object(obj)
    assert rollout is not None
    assert problems and all(p.severity == "warning" for p in problems)
    assert any("only guard metrics" in p.message for p in problems)
    assert any("nothing waits for a PASS" in p.message for p in problems)


def test_a_native_histogram_read_through_a_bucket_series_is_flagged() -> None:
    document = valid_rollout()
    latency = document["spec"]["analysis"]["metrics"][1]["latency"]
    del latency["slo"]
    latency["histogram"] = "native"
    rollout, problems = lint_object(document)
    assert rollout is not None
    (warning,) = problems
    assert (warning.path, warning.severity) == ("spec.analysis.metrics[1].latency.buckets", "warning")
    assert "_bucket" in warning.message
    latency["buckets"] = 'model_request_duration_seconds{version="{{version}}"}'
    assert lint_object(document)[1] == []


@pytest.mark.parametrize("path", ROLLOUT_EXAMPLES, ids=lambda p: p.name)
def test_examples_lint_clean(path: Path) -> None:
    reports = lint_text(path.read_text(), str(path))
    assert reports and all(report.ok for report in reports), [r.problems for r in reports]


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(valid_rollout()))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(MALFORMED[0].rollout()))
    runner = CliRunner()
    ok = runner.invoke(app, ["lint", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "ok:" in ok.output
    failed = runner.invoke(app, ["lint", str(bad), "-o", "json"])
    assert failed.exit_code == 1
    (document,) = json.loads(failed.output)
    assert document["ok"] is False
    assert document["problems"][0]["path"] == "spec.candidate.replica"
    missing = runner.invoke(app, ["lint", str(tmp_path / "absent.yaml")])
    assert missing.exit_code == 1
    assert "cannot read file" in missing.output


@pytest.mark.parametrize("path", ROLLOUT_EXAMPLES, ids=lambda p: p.name)
def test_examples_round_trip_through_the_models_unchanged(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        if not document or document.get("kind") != "ModelRollout":
            continue
        assert ModelRollout.model_validate(document).to_wire() == document
