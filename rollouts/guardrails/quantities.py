"""Kubernetes resource quantities (``"1"``, ``"500m"``, ``"1Gi"``, ``"1e3"``) as exact fractions.

Why our own parser: the guardrails compare what a candidate asks for with what the baseline
asks for and what nodes offer, and a float would turn ``"0.1"`` into 0.1000000000000000055 and
``"1Ei"`` into a rounded number; :class:`fractions.Fraction` keeps every quantity exact. The
official client's ``parse_quantity`` would do, but pure modules import no Kubernetes library.

The grammar is the API server's (``k8s.io/apimachinery/pkg/api/resource``)::

    quantity  ::= [+-] number [suffix]
    number    ::= digits | digits "." [digits] | "." digits
    suffix    ::= binarySI | decimalSI | exponent
    binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei           (powers of 1024)
    decimalSI ::= n | u | m | k | M | G | T | P | E     (powers of 1000)
    exponent  ::= (e | E) [+-] digits                   (powers of 10)

>>> parse_quantity("500m")
Fraction(1, 2)
>>> parse_quantity("1Gi")
Fraction(1073741824, 1)
>>> parse_quantity("1.5e3")
Fraction(1500, 1)

Manifests written in YAML often carry numbers rather than strings (``nvidia.com/gpu: 1``), so
integers and floats are accepted too; a float is read through its shortest decimal form, so
``0.1`` means exactly one tenth, as it would written as the string ``"0.1"``.
"""

from __future__ import annotations

import re
from fractions import Fraction

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<binary>[KMGTPE]i)|[eE](?P<exponent>[+-]?[0-9]{1,3})|(?P<decimal>[numkMGTPE]))?"
)

_BINARY_POWERS = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

QUANTITY_HINT = 'write a quantity such as "1", "500m" or "16Gi"'


class InvalidQuantityError(ValueError):
    """A value that is not a Kubernetes quantity; the message says what was given."""


def parse_quantity(value: object) -> Fraction:
    """The exact amount a quantity stands for; raises :class:`InvalidQuantityError` otherwise.

    >>> parse_quantity("2")
    Fraction(2, 1)
    >>> parse_quantity(1)
    Fraction(1, 1)
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidQuantityError(f"{value!r} is not a quantity: {QUANTITY_HINT}")
    if isinstance(value, int):
        return Fraction(value)
    text = repr(value) if isinstance(value, float) else value
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise InvalidQuantityError(f"{value!r} is not a quantity: {QUANTITY_HINT}")
    amount = Fraction(match["number"])
    if match["binary"]:
        amount *= Fraction(1024) ** _BINARY_POWERS[match["binary"]]
    elif match["exponent"]:
        amount *= Fraction(10) ** int(match["exponent"])
    elif match["decimal"]:
        amount *= Fraction(10) ** _DECIMAL_EXPONENTS[match["decimal"]]
    return -amount if match["sign"] == "-" else amount
