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

Worked example: ``up{version="{{version}}"}`` with version ``a"b`` renders as
``up{version="a\"b"}``; with version ``2026-11-20`` it renders unchanged but filled in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
BARE_TOKEN = re.compile(r"^[A-Za-z0-9_:.]+$")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}


class TemplateError(ValueError):
    """A template that cannot be rendered safely: an unknown variable or an unsafe value."""


def _escape(value: str, quote: str) -> str:
    escapes = {**_ESCAPES, quote: "\\" + quote}
    return "".join(escapes.get(char, char) for char in value)


def _fill(name: str, value: str, quote: str | None) -> str:
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
    """
    output: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(template):
        placeholder = PLACEHOLDER.match(template, index)
        if placeholder:
            name = placeholder.group(1)
            if name not in variables:
                known = ", ".join(sorted(variables)) or "none"
                raise TemplateError(f"unknown variable {{{{{name}}}}} (known: {known})")
            output.append(_fill(name, variables[name], quote))
            index = placeholder.end()
            continue
        char = template[index]
        output.append(char)
        if quote is None and char in "\"'`":
            quote = char
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
