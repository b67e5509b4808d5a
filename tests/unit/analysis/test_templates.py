"""Query templates: every placeholder escaped for where it sits, unsafe values refused."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.templates import Combined, TemplateError, render, render_combined


@pytest.mark.parametrize(
    ("template", "value", "rendered"),
    [
        ('up{v="{{version}}"}', "2026-11-20", 'up{v="2026-11-20"}'),
        ('up{v="{{version}}"}', 'a"b', 'up{v="a\\"b"}'),
        ('up{v="{{version}}"}', "a\\", 'up{v="a\\\\"}'),
        ('up{v="{{version}}"}', "line\nbreak", 'up{v="line\\nbreak"}'),
        ("up{v='{{version}}'}", "it's", "up{v='it\\'s'}"),
        ("up{v='{{version}}'}", 'say "hi"', "up{v='say \"hi\"'}"),
        ("up{v=`{{version}}`}", 'raw"\\', 'up{v=`raw"\\`}'),
        ('up{v="x\\"{{version}}"}', "1", 'up{v="x\\"1"}'),
        ("rate(x[{{version}}])", "5m", "rate(x[5m])"),
        ("up # {{version}} in a comment", "anything at all", "up # {{version}} in a comment"),
    ],
)
def test_escaping_by_context(template: str, value: str, rendered: str) -> None:
    assert render(template, {"version": value}) == rendered


@pytest.mark.parametrize(
    ("template", "value", "message"),
    [
        ("up{v=`{{version}}`}", "a`b", "has a backtick"),
        ("up{v=~{{version}}}", 'x"} or vector(1)', "not a bare token"),
        ("up{v={{missing}}}", "x", "unknown variable {{missing}}"),
    ],
)
def test_unsafe_values_are_refused(template: str, value: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render(template, {"version": value})


@given(st.text())
@settings(deadline=None)
def test_no_value_escapes_its_double_quoted_string(value: str) -> None:
    rendered = render('m{version="{{version}}"} + 1', {"version": value})
    # Read the string literal back the way PromQL does: it must end exactly where it did.
    body = rendered[len('m{version="') :]
    index, decoded = 0, []
    while body[index] != '"':
        if body[index] == "\\":
            decoded.append({"n": "\n", "r": "\r"}.get(body[index + 1], body[index + 1]))
            index += 2
        else:
            decoded.append(body[index])
            index += 1
    assert "".join(decoded) == value
    assert body[index:] == '"} + 1'


def read_string(body: str) -> tuple[str, str]:
    """Decode a double-quoted PromQL string literal at the start of ``body`` (after its quote).

    Returns the decoded text and what follows the closing quote, the way PromQL's lexer reads it.
    """
    index, decoded = 0, []
    while body[index] != '"':
        if body[index] == "\\":
            decoded.append({"n": "\n", "r": "\r"}.get(body[index + 1], body[index + 1]))
            index += 2
        else:
            decoded.append(body[index])
            index += 1
    return "".join(decoded), body[index + 1 :]


@pytest.mark.parametrize(
    ("template", "value", "rendered"),
    [
        ('up{team=~"{{team}}"}', ".*", 'up{team=~"\\\\.\\\\*"}'),
        ('up{team!~"{{team}}"}', "a|b", 'up{team!~"a\\\\|b"}'),
        ('up{team =~ "{{team}}"}', "(x)", 'up{team =~ "\\\\(x\\\\)"}'),
        ("up{team=~'{{team}}'}", "[a]", "up{team=~'\\\\[a\\\\]'}"),
        ("up{team=~`{{team}}`}", "a.b", "up{team=~`a\\.b`}"),
        ('up{team=~"{{team}}|ops"}', "x+", 'up{team=~"x\\\\+|ops"}'),
        ('up{team="{{team}}"}', ".*", 'up{team=".*"}'),  # an equality matcher is no regex
        ('up{a=~"x", team="{{team}}"}', ".*", 'up{a=~"x", team=".*"}'),
    ],
)
def test_regex_matchers_take_values_literally(template: str, value: str, rendered: str) -> None:
    assert render(template, {"team": value}) == rendered


@given(st.text())
@settings(deadline=None)
def test_a_value_in_a_regex_matcher_matches_exactly_itself(value: str) -> None:
    rendered = render('m{team=~"{{team}}"} + 1', {"team": value})
    pattern, rest = read_string(rendered[len('m{team=~"') :])
    assert rest == "} + 1"  # the value never leaves its string
    assert re.fullmatch(pattern, value, flags=re.DOTALL)  # Prometheus anchors and sets (?s)
    assert not re.fullmatch(pattern, value + "x", flags=re.DOTALL)
    assert not re.fullmatch(pattern, "x" + value, flags=re.DOTALL)
    if value:
        assert not re.fullmatch(pattern, value[:-1], flags=re.DOTALL)


@given(st.text(alphabet=".*+?()|[]{}^$\\ab"))
@settings(deadline=None)
def test_metacharacters_never_widen_a_regex_matcher(value: str) -> None:
    pattern, _ = read_string(render('m{team!~"{{team}}"}', {"team": value})[len('m{team!~"') :])
    for other in ("", "a", "b", "ab", "anything", ".*", value + value):
        assert bool(re.fullmatch(pattern, other, flags=re.DOTALL)) is (other == value)


# --- both cohorts in one query (issue 14) -------------------------------------------------------

V = ("v1.2", "v2")
"""Baseline and candidate, as the provider passes them."""


@pytest.mark.parametrize(
    ("template", "query", "label"),
    [
        ('m{version="{{version}}"}', 'm{version=~"v1\\\\.2|v2"}', "version"),
        ("m{version='{{version}}'}", "m{version=~'v1\\\\.2|v2'}", "version"),
        ('m{ version = "{{version}}" }', 'm{ version=~"v1\\\\.2|v2" }', "version"),
        ('m{version="{{version}}", code=~"5.."}', 'm{version=~"v1\\\\.2|v2", code=~"5.."}', "version"),
        (
            'm{rollout="{{rollout}}",version="{{version}}"}',
            'm{rollout="r\\"1",version=~"v1\\\\.2|v2"}',
            "version",
        ),
        (
            'm{v="{{version}}"} or n{v="{{version}}"}',
            'm{v=~"v1\\\\.2|v2"} or n{v=~"v1\\\\.2|v2"}',
            "v",
        ),
        (
            '{__name__="m", app_version="{{version}}"}',
            '{__name__="m", app_version=~"v1\\\\.2|v2"}',
            "app_version",
        ),
        ('m{version="{{version}}"} # {{version}}', 'm{version=~"v1\\\\.2|v2"} # {{version}}', "version"),
    ],
)
def test_equality_matchers_on_one_label_combine(template: str, query: str, label: str) -> None:
    combined = render_combined(template, {"rollout": 'r"1'}, "version", V)
    assert combined == Combined(query, label)


@pytest.mark.parametrize(
    "template",
    [
        'm{version=~"{{version}}"}',  # already a regex matcher
        'm{version!="{{version}}"}',
        'm{version="v-{{version}}"}',  # not the whole value
        'm{version="{{version}}-x"}',
        'm{version="{{rollout}}{{version}}"}',
        'm{a="{{version}}", b="{{version}}"}',  # two labels
        'label_replace(m, "v", "{{version}}", "", "")',  # a function argument
        'm{version="{{version}}"} + on() group_left label_replace(n, "v", "{{version}}", "", "")',
        "m{version=`{{version}}`}",  # a raw string
        'm{"version"="{{version}}"}',  # a quoted (UTF-8) label name
        "m{version={{version}}}",  # outside a string
        'm{version="x"}',  # no {{version}}: nothing to split by
    ],
)
def test_any_other_use_falls_back_to_one_query_per_cohort(template: str) -> None:
    assert render_combined(template, {"rollout": "r"}, "version", V) is None


def test_a_dot_in_a_version_matches_only_a_dot() -> None:
    combined = render_combined('m{version="{{version}}"}', {}, "version", ("v1.2", "v2"))
    assert combined is not None
    pattern, _ = read_string(combined.query[len('m{version=~"') :])
    assert [bool(re.fullmatch(pattern, v)) for v in ("v1.2", "v2", "v1x2", "v12", "v1.2|v2")] == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_an_empty_value_falls_back() -> None:
    # label="" also matches series without the label; a split by that label could not place them.
    assert render_combined('m{version="{{version}}"}', {}, "version", ("", "v2")) is None


def test_combined_values_are_escaped_for_the_string_and_the_regex() -> None:
    combined = render_combined('m{version="{{version}}"}', {}, "version", ('a"|.*', "b\\"))
    assert combined is not None
    pattern, rest = read_string(combined.query[len('m{version=~"') :])
    assert rest == "}"
    for value in ('a"|.*', "b\\"):
        assert re.fullmatch(pattern, value, flags=re.DOTALL)
    for other in ("a", ".*", 'a"', "b", "anything", "", 'a"x.*'):
        assert not re.fullmatch(pattern, other, flags=re.DOTALL)


@given(
    st.lists(
        st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?", fullmatch=True),
        min_size=2,
        max_size=2,
    )
)
@settings(deadline=None)
def test_a_combined_query_matches_exactly_the_two_versions(versions: list[str]) -> None:
    # Versions are Kubernetes label values (rollouts.api.base.LabelValue): only "." is special.
    combined = render_combined('m{version="{{version}}"}', {}, "version", versions)
    assert combined is not None
    pattern, _ = read_string(combined.query[len('m{version=~"') :])
    for version in versions:
        assert re.fullmatch(pattern, version)
        dotless = version.replace(".", "x")  # v1.2 never matches v1x2
        assert not re.fullmatch(pattern, dotless) or dotless in versions
    assert not re.fullmatch(pattern, "".join(versions) + "x")
