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

:func:`render_combined` renders one query for both cohorts where ``{{version}}`` is only the
whole value of equality matchers on one label: ``version="{{version}}"`` becomes
``version=~"<baseline>|<candidate>"``, each value regex-escaped as above (issue 14: half the
queries; docs/analysis.md, Reading Prometheus).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Placeholder:
    """A ``{{name}}`` in a template, and where it sits."""

    name: str
    quote: str | None
    """The quote of the string it sits in; None: outside any string."""
    regex: bool
    """Whether that string is the right-hand side of ``=~`` or ``!~``."""
    in_braces: bool
    """Whether it sits between a selector's ``{`` and ``}``."""


def _pieces(template: str) -> list[str | _Placeholder]:
    """The template read the way the PromQL lexer reads it: literal text and placeholders."""
    pieces: list[str | _Placeholder] = []
    literal: list[str] = []
    quote: str | None = None
    regex = False
    depth = 0
    index = 0
    while index < len(template):
        placeholder = PLACEHOLDER.match(template, index)
        if placeholder:
            pieces += ["".join(literal), _Placeholder(placeholder.group(1), quote, regex, depth > 0)]
            literal = []
            index = placeholder.end()
            continue
        char = template[index]
        literal.append(char)
        if quote is None and char in "\"'`":
            quote = char
            regex = template[:index].rstrip().endswith(("=~", "!~"))
        elif quote is not None and char == quote:
            quote = None
            regex = False
        elif quote in ('"', "'") and char == "\\" and index + 1 < len(template):
            literal.append(template[index + 1])
            index += 1
        elif quote is None and char == "#":
            literal.append(template[index + 1 :])
            break
        elif quote is None and char in "{}":
            depth += 1 if char == "{" else -1
        index += 1
    pieces.append("".join(literal))
    return pieces


def _value(placeholder: _Placeholder, variables: Mapping[str, str]) -> str:
    if placeholder.name not in variables:
        known = ", ".join(sorted(variables)) or "none"
        raise TemplateError(f"unknown variable {{{{{placeholder.name}}}}} (known: {known})")
    return variables[placeholder.name]


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
    return "".join(
        piece
        if isinstance(piece, str)
        else _fill(piece.name, _value(piece, variables), piece.quote, piece.regex)
        for piece in _pieces(template)
    )


_EQUALITY = re.compile(r"[{,]\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<quote>[\"'])$")
"""The end of the text before a placeholder that is the whole value of ``label="..."``."""


@dataclass(frozen=True)
class Combined:
    """One query for several values of a variable, and the label that tells their series apart."""

    query: str
    label: str


def render_combined(
    template: str, variables: Mapping[str, str], name: str, values: Sequence[str]
) -> Combined | None:
    r"""``template`` rendered once for all ``values`` of ``{{name}}``, or None when it cannot be.

    Why: a look reads every metric for both cohorts, and one query per cohort doubles the
    queries Prometheus answers (issue 14). When ``{{name}}`` is only ever the whole value of
    equality label matchers on one label (``version="{{version}}"``, the documented form), the
    matchers become one regex matcher of the values, each regex-escaped (Prometheus anchors it,
    so ``1\.2`` matches ``1.2`` only), and each returned series belongs to the value of that
    label. Any other use (in a regex matcher, inside a longer string or a function argument,
    outside a selector, on two different labels), a template without ``{{name}}``, or an empty
    value (``label=""`` also matches series without the label) gives None: one query per value.

    >>> print(render_combined('m{version="{{version}}", code=~"5.."}', {}, "version", ["1.2", "v2"]))
    Combined(query='m{version=~"1\\\\.2|v2", code=~"5.."}', label='version')
    >>> render_combined('m{version=~"{{version}}"}', {}, "version", ["v1", "v2"]) is None
    True
    """
    pieces = _pieces(template)
    labels: set[str] = set()
    output: list[str] = []
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            output.append(piece)
            continue
        if piece.name != name:
            output.append(_fill(piece.name, _value(piece, variables), piece.quote, piece.regex))
            continue
        before = _EQUALITY.search(output[-1])
        after = pieces[index + 1]
        if not (before and piece.in_braces and isinstance(after, str) and after.startswith(before["quote"])):
            return None
        labels.add(before["label"])
        output[-1] = output[-1][: before.start("label")] + before["label"] + "=~" + before["quote"]
        output.append("|".join(_fill(name, value, piece.quote, regex=True) for value in values))
    if len(labels) != 1 or not all(values):
        return None
    return Combined("".join(output), labels.pop())
