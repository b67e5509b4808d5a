"""Query templates: every placeholder escaped for where it sits, unsafe values refused."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.templates import TemplateError, render


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
