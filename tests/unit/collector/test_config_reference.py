"""docs/configuration.md holds the settings reference exactly as the models render it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostvitals.collector.config.reference import reference_tables
from hostvitals.collector.config.settings import ServerSettings, Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
BEGIN = "<!-- settings reference: begin -->"
END = "<!-- settings reference: end -->"


def test_the_configuration_doc_matches_the_rendered_reference() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert documented.strip() == reference_tables().strip(), (
        "docs/configuration.md is out of date: render it with "
        "`python -m hostvitals.collector.config.reference`"
    )


def test_every_key_has_its_environment_variable_and_default() -> None:
    table = reference_tables()
    assert (
        "| `server.port` | integer, >= 1, <= 65535 | `8000` | `HOSTVITALS__SERVER__PORT` |" in table
    )
    assert "`HOSTVITALS__ALERTS__DEFAULT_RULES__CPU_PERCENT`" in table
    assert "| `limits.max_body_bytes` | integer, > 0 | `8388608` (8 MiB) |" in table
    assert "Each item of `alerts.notifiers`" in table


def test_a_key_without_a_docstring_is_refused() -> None:
    class Undocumented(ServerSettings):
        extra_key: int = 1

    class Root(Settings):
        server: Undocumented = Undocumented()

    with pytest.raises(ValueError, match=r"server\.extra_key has no docstring"):
        reference_tables(Root)
