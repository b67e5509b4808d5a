"""Query templates: every placeholder escaped for where it sits, unsafe values refused."""

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
