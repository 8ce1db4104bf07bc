"""The import contract (pyproject.toml, checked by `lint-imports`) names every router."""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from pathlib import Path

from fastapi import APIRouter

from hostvitals.collector import api

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_the_routers_contract_lists_exactly_the_router_modules() -> None:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    listed = next(c["modules"] for c in contracts if c["name"] == "Routers never import routers")
    routers = []
    for found in pkgutil.iter_modules(api.__path__):
        module = importlib.import_module(f"{api.__name__}.{found.name}")
        if isinstance(getattr(module, "router", None), APIRouter):
            routers.append(module.__name__)
    assert sorted(listed) == sorted(routers)
