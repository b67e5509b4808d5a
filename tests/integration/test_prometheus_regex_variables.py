"""Issue 10 item 16 against a real Prometheus: a variable in a regex matcher matches only itself.

Prometheus holds one series per team, with team names full of regex metacharacters (``.*``,
``a|b``, ``[ab]`` ...) next to the plain names they would match as patterns. For any value
(hypothesis), ``{team=~"{{team}}"}`` must return exactly the series whose label equals the value
and ``{team!~"{{team}}"}`` every other one: a variable can never widen (or narrow) a selector.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.templates import render
from rollouts.local.prometheus import PrometheusServer
from tests.support.prometheus import MakePrometheus

# Against Debian's Prometheus 2.x and the test bed's 3.x build (tests/support/prometheus.py).
pytestmark = pytest.mark.prometheus_majors("2", "3")

TEAMS = (
    "payments", "pay", "a", "b", "aa", "ab", "x", "a.b", "axb", ".*", "a|b", "(x)", "[ab]", "a+",
    "^a$", "a{2}", "a?", "\\d", "q\"t", "back\\slash", "$", "dot.", "star*",
)  # fmt: skip
AT = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
ALPHABET = '.*+?()|[]{}^$\\"abx d'


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics() -> str:
    lines = ["# TYPE team_requests_total gauge"]
    lines += [f'team_requests_total{{team="{_escape_label(team)}"}} 1 {AT.timestamp():.3f}' for team in TEAMS]
    return "\n".join([*lines, "# EOF"]) + "\n"


@pytest.fixture
def server(prometheus_factory: MakePrometheus) -> PrometheusServer:
    return prometheus_factory(backfill=openmetrics())


def teams(server: PrometheusServer, template: str, value: str) -> set[str]:
    """The team labels of the series a rendered template selects in the real Prometheus."""
    query = render(template, {"team": value})
    response = requests.get(
        f"{server.url}/api/v1/query",
        params={"query": query, "time": f"{AT.timestamp() + 1:.3f}"},
        timeout=10,
    )
    assert response.status_code == 200, (query, response.text)
    return {item["metric"]["team"] for item in response.json()["data"]["result"]}


def test_every_stored_team_matches_only_itself(server: PrometheusServer) -> None:
    assert teams(server, 'team_requests_total{team=~".+"}', "") == set(TEAMS)  # all are there
    for team in TEAMS:
        assert teams(server, 'team_requests_total{team=~"{{team}}"}', team) == {team}
        assert teams(server, "team_requests_total{team=~'{{team}}'}", team) == {team}
        assert teams(server, 'team_requests_total{team!~"{{team}}"}', team) == set(TEAMS) - {team}


def test_the_templates_own_regex_stays_a_regex(server: PrometheusServer) -> None:
    assert teams(server, 'team_requests_total{team=~"{{team}}|payments"}', ".*") == {".*", "payments"}


@given(st.one_of(st.sampled_from(TEAMS), st.text(alphabet=ALPHABET, min_size=1, max_size=6)))
@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_value_selects_exactly_its_own_series(server: PrometheusServer, value: str) -> None:
    expected = {value} & set(TEAMS)
    assert teams(server, 'team_requests_total{team=~"{{team}}"}', value) == expected
    assert teams(server, 'team_requests_total{team!~"{{team}}"}', value) == set(TEAMS) - expected
