"""Hostile and careless input for ``rollouts lint``: every manifest refused at its field, no crash.

Three layers, each with the reason it exists:

- the hostile-spec corpus (tests/cases/hostile.py, 176 manifests): lint refuses each one and
  names the field the API server names too (tests/integration/test_hostile_specs_apiserver.py);
- hostile *texts* — a hyphen in a variables key, bytes that are not UTF-8, a list used as a
  mapping key, 10,000 nested lists, a "billion laughs" alias bomb, a self-referencing alias, a
  text over the API server's 3 MiB limit: each is one problem line and exit 1 in bounded
  memory, never a traceback (these never reach a server as JSON, so only lint can meet them;
  how long lint takes is not asserted: speed belongs to benchmarks);
- wire strictness and timestamps: lint refuses what the server refuses (``"50"``, ``true``,
  ``"yes"``, malformed date-times) and accepts what it accepts (``2026-11-28t13:50:00z``), and
  every date-time the server stores can be parsed, so neither the controller nor
  ``rollouts get`` can be wedged by one.
"""

from __future__ import annotations

import io
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

import tests.cases.hostile as hostile_module
from rollouts.api.lint import MAX_DEPTH, lint_bytes, lint_object, lint_text
from rollouts.api.resource import ModelRollout
from rollouts.api.timestamps import TimestampError, is_date_time, parse_timestamp
from rollouts.cli.main import app
from rollouts.cli.views import age, rollout_view
from tests.cases.hostile import HOSTILE, Hostile
from tests.cases.rollouts import valid_rollout

# --- the corpus -----------------------------------------------------------------------------


def test_corpus_is_large_and_its_count_is_recorded() -> None:
    assert len(HOSTILE) >= 100
    assert len({case.name for case in HOSTILE}) == len(HOSTILE)
    docstring = hostile_module.__doc__ or ""
    assert f"holds {len(HOSTILE)} manifests" in docstring


@pytest.mark.parametrize("case", HOSTILE, ids=lambda case: case.name)
def test_lint_refuses_each_hostile_rollout_at_its_field(case: Hostile) -> None:
    rollout, problems = lint_object(case.rollout())
    assert rollout is None, "lint accepted a manifest the API server refuses"
    errors = [p for p in problems if p.severity == "error"]
    assert any(p.path == case.path for p in errors), [(p.path, p.message) for p in errors]
    assert all(p.hint for p in errors), "every error carries a hint"


def test_the_corpus_breaks_a_manifest_that_is_valid() -> None:
    rollout, problems = lint_object(valid_rollout())
    assert rollout is not None, problems


# --- hostile texts --------------------------------------------------------------------------

VALID_TEXT = yaml.safe_dump(valid_rollout(), sort_keys=False)

BILLION_LAUGHS = "".join(
    [
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n',
        *(
            f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def _with_variables_key(key: str) -> str:
    return VALID_TEXT.replace("  analysis:\n", f"  analysis:\n    variables:\n      {key}: fraud\n", 1)


HOSTILE_TEXTS: dict[str, tuple[str | bytes, str]] = {
    # name: (text or bytes, a fragment of the one problem's message)
    "hyphen-in-variables-key": (_with_variables_key("my-team"), "keys must match"),
    "not-utf8": (VALID_TEXT.encode() + b"  note: caf\xe9\n", "not UTF-8 text"),
    "list-as-key": (VALID_TEXT + "? [a, b]\n: c\n", "mapping key must be a plain value"),
    "mapping-as-key": (VALID_TEXT + "? {a: b}\n: c\n", "mapping key must be a plain value"),
    "nested-lists-10000": ("spec: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested deeper than"),
    "nested-maps-10000": ("spec: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", "nested deeper than"),
    "billion-laughs": (BILLION_LAUGHS, "expands to more than"),
    "self-referencing-alias": ("spec: &s {steps: *s}\n", "refers to the collection that contains it"),
    "over-3-mib": ("spec: " + "x" * (3 * 1024 * 1024) + "\n", "longer than"),
    "duplicate-key": (VALID_TEXT + "kind: ModelRollout\n", "duplicate key 'kind'"),
    "tab-indentation": ("spec:\n\tsteps: []\n", "not valid YAML"),
    "control-character": ("spec: \x07\n", "not valid YAML"),
    "unknown-tag": ("spec: !!python/object:os.system {}\n", "not valid YAML"),
    "scalar-document": ("just a string\n", "must be a mapping"),
    "list-document": ("- kind: ModelRollout\n", "must be a mapping"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_hostile_text_is_one_problem_not_a_crash(name: str) -> None:
    text, fragment = HOSTILE_TEXTS[name]
    data = text if isinstance(text, bytes) else text.encode()
    tracemalloc.start()
    try:
        reports = lint_bytes(data, f"{name}.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 1024 * 1024, f"bounded memory: peak {peak} bytes"
    assert not all(report.ok for report in reports)
    messages = [p.message for report in reports for p in report.problems if p.severity == "error"]
    assert any(fragment in message for message in messages), messages


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_cli_exits_1_with_a_problem_line_on_hostile_text(name: str, tmp_path: Path) -> None:
    text, _ = HOSTILE_TEXTS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = CliRunner().invoke(app, ["lint", str(path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), "a traceback, not a problem line"
    assert "error:" in result.output
    assert "Traceback" not in result.output


def test_nesting_within_the_limit_is_still_read() -> None:
    nested = "spec: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n"
    (report,) = lint_text("kind: ModelRollout\n" + nested, "deep.yaml")
    assert all("nested deeper" not in p.message for p in report.problems)


def test_aliases_within_the_budget_are_expanded() -> None:
    obj = valid_rollout()
    text = (
        yaml.safe_dump(obj, sort_keys=False).replace("  baseline:\n", "  baseline: &base\n", 1)
        + "x-copy: *base\n"
    )
    (report,) = lint_text(text, "alias.yaml")
    assert [p.path for p in report.problems] == ["x-copy"]  # the alias expanded; only the key is unknown


def test_unquoted_timestamps_stay_strings_as_kubectl_sends_them() -> None:
    text = VALID_TEXT + "  retry:\n    requestedAt: 2026-11-28T06:00:00Z\n    version: 2026-11-20\n"
    (report,) = lint_text(text, "retry.yaml")
    assert report.ok, report.problems


# --- wire strictness ------------------------------------------------------------------------


def _with(path: list[str | int], value: Any) -> dict[str, Any]:
    obj = valid_rollout()
    node: Any = obj
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["spec", "steps", 0, "setWeight"], "50"),
        (["spec", "steps", 0, "setWeight"], "5_0"),
        (["spec", "steps", 0, "setWeight"], True),
        (["spec", "paused"], "yes"),
        (["spec", "paused"], 1),
        (["spec", "analysis", "alpha"], "0.05"),
        (["spec", "analysis", "alpha"], float("nan")),
        (["spec", "analysis", "metrics", 3, "guard", "max"], float("inf")),
        (["spec", "analysis", "errorBudget"], 3.5),
    ],
)
def test_values_the_api_server_does_not_convert_are_refused(path: list[str | int], value: Any) -> None:
    rollout, problems = lint_object(_with(path, value))
    assert rollout is None
    wanted = ".".join(str(p) for p in path).replace(".0.", "[0].").replace(".3.", "[3].")
    assert any(p.path == wanted for p in problems), [(p.path, p.message) for p in problems]


def test_json_numbers_from_the_api_server_still_parse() -> None:
    obj = _with(["spec", "steps", 0, "setWeight"], 5.0)  # JSON 5.0 is an integer to the server
    obj["spec"]["analysis"]["alpha"] = 0  # replaced below: ints are valid numbers
    obj["spec"]["analysis"]["alpha"] = 1 / 20
    obj["spec"]["analysis"]["metrics"][3]["guard"]["max"] = 70000  # an int where a float is declared
    rollout = ModelRollout.from_wire(obj)
    assert rollout.spec.steps[0].set_weight == 5
    assert rollout.spec.analysis.metrics[3].guard is not None
    assert rollout.spec.analysis.metrics[3].guard.max == 70000.0


# --- timestamps -----------------------------------------------------------------------------

# Verdicts of kube-openapi's strfmt.IsDateTime (the API server's date-time check), by case.
SERVER_DATE_TIMES = {
    "2026-11-28T06:00:00Z": True,
    "2026-11-28t13:50:00z": True,
    "2026-11-28T13:50:00.123456789Z": True,
    "2026-11-28T13:50:00+05:30": True,
    "2026-11-28T13:50:00-00:00": True,
    "2026-11-28T13:50:00,5Z": True,  # the pattern's "." is any character
    "2026-11-28T13:50:00+99:99": True,  # offsets are not range-checked
    "2026-11-28T13:50:00Zt-anything": True,  # only the text between the first two t's is read
    "0000-01-01T00:00:00Z": True,
    "2024-02-29T00:00:00Z": True,
    "2026-11-28T13:50:00": False,
    "2026-11-28 13:50:00Z": False,
    "2026-11-28T24:00:00Z": False,
    "2026-11-28T23:60:00Z": False,
    "2026-12-31T23:59:60Z": False,
    "2026-02-29T00:00:00Z": False,
    "2026-11-28T13:50Z": False,
    "2026-11-28T13:50:00.Z": False,
    "2026-11-28T13:50:00+0530": False,
    "2026-1-28T13:50:00Z": False,
    "1972-12-31Tx": False,
    "zor": False,
    "": False,
}


@pytest.mark.parametrize(("text", "accepted"), sorted(SERVER_DATE_TIMES.items()))
def test_date_times_are_judged_as_the_api_server_judges_them(text: str, accepted: bool) -> None:
    assert is_date_time(text) is accepted
    if accepted:
        assert parse_timestamp(text).tzinfo is not None
    else:
        with pytest.raises(TimestampError):
            parse_timestamp(text)


def test_parsed_moments_are_right() -> None:
    assert parse_timestamp("2026-11-28t13:50:00z") == datetime(2026, 11, 28, 13, 50, tzinfo=UTC)
    assert parse_timestamp("2026-11-28T13:50:00.25+01:30") == datetime(
        2026, 11, 28, 12, 20, 0, 250000, tzinfo=UTC
    )
    assert parse_timestamp("2026-11-28T13:50:00.9999999Z").microsecond == 999999
    assert parse_timestamp("0000-06-01T00:00:00Z") == datetime.min.replace(tzinfo=UTC)
    assert parse_timestamp("9999-12-31T23:59:59-05:00") == datetime.max.replace(tzinfo=UTC)


def test_a_lowercase_timestamp_in_a_stored_rollout_neither_fails_parsing_nor_the_view() -> None:
    obj = valid_rollout()
    obj["spec"]["approvals"] = [{"step": 4, "version": "2026-11-20", "requestedAt": "2026-11-28t13:50:00z"}]
    obj["spec"]["abort"] = {
        "reason": "x",
        "version": "2026-11-20",
        "requestedAt": "2026-11-28t13:51:00+01:00",
    }
    obj["status"] = {
        "phase": "Progressing",
        "currentStep": 4,
        "startedAt": "2026-11-28t13:00:00z",
        "planStartedAt": "2026-11-28t13:00:00.5z",
        "stepStartedAt": "2026-11-28t13:40:00z",
    }
    rollout = ModelRollout.from_wire(obj)
    assert rollout.spec.approvals[0].requested_at == "2026-11-28t13:50:00z"
    console = Console(width=120, file=io.StringIO())
    console.print(rollout_view(obj))
    assert "approve" in console.file.getvalue()  # type: ignore[attr-defined]
    assert age("2026-11-28t13:00:00z", datetime(2026, 11, 28, 14, 0, tzinfo=UTC)) == "1h"
