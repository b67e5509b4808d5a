"""``rollouts analyze`` on the sample observation files: decisions, exit codes, JSON, plot, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollouts.cli.main import app

EXAMPLES = Path(__file__).parents[3] / "examples" / "observations"
SPEC = EXAMPLES / "rollout.yaml"


def analyze(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["analyze", str(SPEC), *args])
    return result.exit_code, result.output


def test_cpu_fallback_is_rolled_back_at_the_first_look() -> None:
    code, output = analyze("--observations", str(EXAMPLES / "cpu-fallback.json"))
    assert code == 1
    assert "decision: FAIL (action rollback) at look 1" in output
    assert "latency: candidate slower: median 3.99 s vs 102 ms (39x), p90 9.68 s vs 233 ms (42x)" in output
    assert "CLES 1.00" in output


def test_json_report_has_every_look_and_the_decision() -> None:
    code, output = analyze("--observations", str(EXAMPLES / "error-regression.json"), "-o", "json")
    report = json.loads(output)
    assert code == 1
    decision = report["decision"]
    assert (decision["verdict"], decision["action"]) == ("FAIL", "rollback")
    assert [look["look"] for look in report["looks"]] == list(range(1, decision["look"] + 1))
    assert set(report["tuning"]) == {"alpha", "expectedSamples", "rho2"}
    errors = report["looks"][-1]["metrics"][0]
    assert errors["name"] == "errors"
    assert errors["reason"].startswith("errors: candidate worse")


def test_healthy_candidate_is_never_rolled_back() -> None:
    code, output = analyze("--observations", str(EXAMPLES / "healthy.json"), "-o", "yaml")
    assert code in (0, 3)
    assert "rollback" not in output.split("looks:")[0]


def test_plot_is_written(tmp_path: Path) -> None:
    target = tmp_path / "evidence.png"
    code, _ = analyze("--observations", str(EXAMPLES / "cpu-fallback.json"), "--plot", str(target))
    assert code == 1
    assert target.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give either --observations FILE or --prometheus URL"),
        (["--observations", "/no/such/file.json"], "cannot read file"),
        (["--prometheus", "http://127.0.0.1:9"], "--prometheus needs --start and --end"),
        (
            [
                "--prometheus",
                "http://127.0.0.1:9",
                "--start",
                "2026-11-20T10:00:00Z",
                "--end",
                "2026-11-20T10:00:30Z",
            ],
            "shorter than one analysis interval",
        ),
        (
            ["--prometheus", "http://127.0.0.1:9", "--start", "yesterday", "--end", "today"],
            "not an RFC 3339 time",
        ),
    ],
)
def test_unusable_input_exits_2_with_a_message(args: list[str], message: str) -> None:
    code, output = analyze(*args)
    assert code == 2
    assert message in output


def test_malformed_observations_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "model-rollouts/observations/v1", "intervals": [{"start": 1}]}')
    code, output = analyze("--observations", str(broken))
    assert code == 2
    assert "intervals[0]" in output


def test_invalid_spec_exits_2(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "apiVersion: rollouts.modelops.io/v1alpha1\nkind: ModelRollout\nmetadata: {name: x}\nspec: {}\n"
    )
    result = CliRunner().invoke(app, ["analyze", str(spec), "--observations", str(EXAMPLES / "healthy.json")])
    assert result.exit_code == 2
    assert "invalid ModelRollout" in result.output


def test_unreachable_prometheus_is_error_not_pass() -> None:
    code, output = analyze(
        "--prometheus",
        "http://127.0.0.1:9",
        "--start",
        "2026-11-20T10:00:00Z",
        "--end",
        "2026-11-20T10:02:00Z",
    )
    assert code == 3
    assert "query failed: cannot query Prometheus" in output
