r"""Render PromQL query templates so that no variable value can change the query's meaning.

Templates name variables as ``{{name}}``: ``{{version}}``, ``{{interval}}`` and the spec's own
``analysis.variables``. A version string is data from the cluster; pasted into a query as-is,
``2026"} or vector(1) or {x="`` would turn a label matcher into a different query. So rendering
reads the template the way the PromQL lexer does and escapes each value for where it lands:

- inside a double-quoted string: backslash, double quote and line breaks are escaped;
- inside a single-quoted string: backslash, single quote and line breaks are escaped;
- inside a backtick (raw) string: PromQL has no escapes, so a value with a backtick is refused;
- outside any string (``rate(x[{{interval}}])``): only a bare token (letters, digits, ``_ : .``)
  is accepted; anything else is refused with a hint to quote the placeholder.

A string that is the right-hand side of a regex label matcher (``=~`` or ``!~``) is a regular
expression, so there a value is first regex-escaped (RE2 syntax, which Prometheus uses: each of
``\ . + * ? ( ) | [ ] { } ^ $`` gets a backslash) and then escaped for the string. Why: a
variable ``team: ".*"`` in ``{team=~"{{team}}"}`` would otherwise match every team's series,
and a candidate's numbers would be read from someone else's; escaped, it matches the label value
``.*`` and nothing else (Prometheus anchors regex matchers at both ends). The template's own
regex text around the placeholder stays a regex: ``{version=~"{{version}}|canary"}`` matches the
version or ``canary``. Regexes that are function arguments (``label_replace``) are not label
matchers and are not recognised: the value is string-escaped only there.

Worked example: ``up{version="{{version}}"}`` with version ``a"b`` renders as
``up{version="a\"b"}``; with version ``2026-11-20`` it renders unchanged but filled in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
BARE_TOKEN = re.compile(r"^[A-Za-z0-9_:.]+$")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$")
"""Characters with a meaning in an RE2 regular expression outside a character class."""


class TemplateError(ValueError):
    """A template that cannot be rendered safely: an unknown variable or an unsafe value."""


def _escape(value: str, quote: str) -> str:
    escapes = {**_ESCAPES, quote: "\\" + quote}
    return "".join(escapes.get(char, char) for char in value)


def regex_escape(value: str) -> str:
    r"""``value`` as an RE2 regular expression that matches exactly ``value``.

    >>> regex_escape("v1.2")
    'v1\\.2'
    >>> regex_escape(".*|x")
    '\\.\\*\\|x'
    """
    return "".join("\\" + char if char in REGEX_SPECIAL else char for char in value)


def _fill(name: str, value: str, quote: str | None, regex: bool) -> str:
    if regex:
        value = regex_escape(value)
    if quote in ('"', "'"):
        return _escape(value, quote)
    if quote == "`":
        if "`" in value:
            raise TemplateError(
                f"{{{{{name}}}}} sits in a `raw` string and its value {value!r} has a backtick"
            )
        return value
    if not BARE_TOKEN.match(value):
        raise TemplateError(
            f"{{{{{name}}}}} sits outside a quoted string and its value {value!r} is not a bare token; "
            f'quote it in the template, e.g. label="{{{{{name}}}}}"'
        )
    return value


def render(template: str, variables: Mapping[str, str]) -> str:
    r"""The query with every ``{{name}}`` replaced by its escaped value.

    >>> render('up{version="{{version}}"}', {"version": 'a"b'})
    'up{version="a\\"b"}'
    >>> render("rate(x[{{ interval }}])", {"interval": "60s"})
    'rate(x[60s])'

    In a regex matcher the value is a literal, never a pattern (the doubled backslashes are
    PromQL string escapes: Prometheus reads ``\\.`` as the regex ``\.``):

    >>> print(render('up{team=~"{{team}}"}', {"team": ".*"}))
    up{team=~"\\.\\*"}
    >>> print(render('up{v!~"{{v}}|canary"}', {"v": 'a"}'}))
    up{v!~"a\"\\}|canary"}
    """
    output: list[str] = []
    quote: str | None = None
    regex = False
    """Whether the string being read is the right-hand side of ``=~`` or ``!~``."""
    index = 0
    while index < len(template):
        placeholder = PLACEHOLDER.match(template, index)
        if placeholder:
            name = placeholder.group(1)
            if name not in variables:
                known = ", ".join(sorted(variables)) or "none"
                raise TemplateError(f"unknown variable {{{{{name}}}}} (known: {known})")
            output.append(_fill(name, variables[name], quote, regex and quote is not None))
            index = placeholder.end()
            continue
        char = template[index]
        output.append(char)
        if quote is None and char in "\"'`":
            quote = char
            regex = template[:index].rstrip().endswith(("=~", "!~"))
        elif quote is not None and char == quote:
            quote = None
        elif quote in ('"', "'") and char == "\\" and index + 1 < len(template):
            output.append(template[index + 1])
            index += 1
        elif quote is None and char == "#":
            output.append(template[index + 1 :])
            break
        index += 1
    return "".join(output)
