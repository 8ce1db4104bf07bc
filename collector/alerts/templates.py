"""Rendering label and annotation templates, a small subset of Prometheus' Go templates.

The syntax and its check at load time are in :mod:`hostvitals.collector.config.vocabulary`.
The same text is valid in Prometheus and vmalert rule files, where ``$threshold`` is replaced
by the number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

from hostvitals.collector.alerts.model import format_number
from hostvitals.collector.config.vocabulary import TEMPLATE_ACTION, TEMPLATE_EXPR

_SI: Final = (
    (1e24, "Y"),
    (1e21, "Z"),
    (1e18, "E"),
    (1e15, "P"),
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
)


def render(
    text: str, labels: Mapping[str, str], value: float, threshold: float | None = None
) -> str:
    def replace(match: re.Match[str]) -> str:
        parsed = TEMPLATE_EXPR.match(match.group(1))
        if parsed is None:  # refused at load time; keep the text rather than fail
            return match.group(0)
        name, pipe = parsed.group(1), parsed.group(2)
        if name.startswith("labels."):
            return labels.get(name[len("labels.") :], "")
        number = value if name == "value" else threshold
        if number is None:
            return ""
        if pipe == "humanize":
            return humanize(number)
        if pipe == "humanizePercentage":
            return humanize(number * 100) + "%"
        return format_value(number)

    return TEMPLATE_ACTION.sub(replace, text)


def for_export(text: str, threshold: float | None) -> str:
    """The template for a Prometheus rule file: ``$threshold`` becomes the number."""

    def replace(match: re.Match[str]) -> str:
        parsed = TEMPLATE_EXPR.match(match.group(1))
        if parsed is None or parsed.group(1) != "threshold":
            return match.group(0)
        if threshold is None:
            return ""
        if parsed.group(2) == "humanizePercentage":
            return humanize(threshold * 100) + "%"
        return format_number(threshold)

    return TEMPLATE_ACTION.sub(replace, text)


def format_value(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}"


def humanize(value: float) -> str:
    """Like Prometheus' ``humanize``: 1234567 -> ``1.235M``."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return f"{value:.4g}"
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.4g}{prefix}"
    for scale, prefix in ((1e-3, "m"), (1e-6, "u"), (1e-9, "n")):
        if abs(value) < 1 and abs(value) >= scale:
            return f"{value / scale:.4g}{prefix}"
    return f"{value:.4g}"
