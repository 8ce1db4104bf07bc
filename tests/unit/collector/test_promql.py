"""PromQL text from values: string literals that round-trip any text, and selectors."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostvitals.collector.vm.promql import quote, selector

# A PromQL double-quoted string literal, and the escapes it may hold.
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
UNESCAPE = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


def literals(expr: str) -> list[str]:
    """The unescaped values of every string literal in ``expr``."""
    return [
        re.sub(r"\\(.)", lambda m: UNESCAPE[m.group(1)], raw, flags=re.DOTALL)
        for raw in LITERAL.findall(expr)
    ]


def outside_literals(expr: str) -> str:
    return LITERAL.sub('""', expr)


# -- quoting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("web-1", '"web-1"'),
        ("", '""'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb", '"a\\nb"'),
        ("a\r\tb", '"a\\r\\tb"'),
        ('\\"', '"\\\\\\""'),
        ("häst-🐴", '"häst-🐴"'),
    ],
)
def test_quote_escapes_backslash_quote_and_newline(value: str, expected: str) -> None:
    assert quote(value) == expected


@given(st.text())
def test_quote_round_trips_any_text(value: str) -> None:
    quoted = quote(value)
    assert LITERAL.fullmatch(quoted), quoted
    assert literals(quoted) == [value]


# -- selectors --------------------------------------------------------------------------------


def test_selector_forms() -> None:
    assert selector("node_load1", None) == "node_load1"
    assert selector("node_load1", "web-1") == 'node_load1{host="web-1"}'
    assert (
        selector("node_cpu_seconds_total", 'a"b', mode="idle", cpu="0")
        == 'node_cpu_seconds_total{host="a\\"b",cpu="0",mode="idle"}'
    )
    assert selector("node_cpu_seconds_total", None, mode="idle") == (
        'node_cpu_seconds_total{mode="idle"}'
    )
