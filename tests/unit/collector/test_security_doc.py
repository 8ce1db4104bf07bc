"""docs/security.md holds the role matrix exactly as the route table renders it."""

from __future__ import annotations

from pathlib import Path

from hostvitals.collector.access.matrix import BEGIN, END, role_matrix

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"


def test_the_security_doc_matches_the_route_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert documented.strip() == role_matrix().strip(), (
        "docs/security.md is out of date: render the matrix with "
        "`python -m hostvitals.collector.access.matrix`"
    )


def test_the_matrix_shows_each_route_and_refusal() -> None:
    matrix = role_matrix()
    assert (
        "| POST | `/api/v1/silences` | create a silence | operator | 401 | 403 | yes | yes | 403 |"
        in matrix
    )
    assert (
        "| GET | `/api/v1/health` | health for load balancers | public "
        "| yes | yes | yes | yes | yes |" in matrix
    )
    assert (
        "| POST | `/api/v1/ingest` | push a frame | agent | 401 | 403 | 403 | 403 | yes |" in matrix
    )
