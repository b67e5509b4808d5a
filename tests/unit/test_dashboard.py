"""The Grafana dashboard is well formed: one templated data source, known variables, unique ids.

Its queries are evaluated against a real Prometheus by tests/e2e/test_dashboard.py.
"""

from __future__ import annotations

from tests.support import dashboard as board

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def test_every_panel_and_target_uses_the_templated_data_source() -> None:
    dashboard = board.load()
    first = board.variables(dashboard)[0]
    assert (first["name"], first["type"], first["query"]) == ("datasource", "datasource", "prometheus")
    for panel in board.panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    for variable in board.variables(dashboard)[1:]:
        assert variable["datasource"] == DATASOURCE, variable["name"]


def test_queries_use_only_defined_variables_and_ids_are_unique() -> None:
    dashboard = board.load()
    defined = {variable["name"] for variable in board.variables(dashboard)}
    values = dict.fromkeys((*defined, *board.BUILT_INS), "x")
    for query in board.queries(dashboard):
        board.substitute(query.expr, values)  # KeyError names an undefined variable
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {panel["title"] for panel in board.panels(dashboard)} >= {
        "Rollouts by phase",
        "Rollbacks by reason",
        "Waiting for a person",
        "Weight and step",
        "Evidence of harm against its threshold",
        "Error rate: candidate vs baseline",
        "Latency p90: candidate vs baseline",
        "Reconciles by result",
        "Reconcile latency",
        "Work queue",
        "API server errors",
        "Leader",
    }


def test_the_rollout_variables_follow_the_namespace_and_the_rollout() -> None:
    by_name = {variable["name"]: variable["query"]["query"] for variable in board.variables(board.load())[1:]}
    assert by_name["namespace"] == "label_values(modelrollout_info, namespace)"
    assert set(board.VARIABLE.findall(by_name["rollout"])) == {"namespace"}
    for side in ("baseline", "candidate"):
        assert set(board.VARIABLE.findall(by_name[side])) == {"namespace", "rollout"}
