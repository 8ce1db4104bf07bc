"""Credentials for tests: API tokens of each role and a registered agent, made in an app's
access store (the way `hostvitals-collector tokens add` and `agents add` make them)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from hostvitals.collector.access.store import AccessStore


@dataclass(frozen=True)
class Credentials:
    viewer: str
    operator: str
    admin: str
    agent: str
    agent_ref: str
    peer: str | None = None  # the cluster's peer token, when the app has one

    def by_role(self, role: str) -> str | None:
        return None if role == "anonymous" else getattr(self, role)


def bearer(secret: str | None) -> dict[str, str]:
    return {} if secret is None else {"Authorization": f"Bearer {secret}"}


def make_credentials(app: FastAPI, host: str, agent_id: str | None = None) -> Credentials:
    store: AccessStore = app.state.access_store
    secrets = {role: store.add_token(f"test {role}", role)[1] for role in ("viewer", "operator")}
    admin = store.add_token("test admin", "admin")[1]
    agent, agent_secret = store.add_agent(host, agent_id)
    return Credentials(secrets["viewer"], secrets["operator"], admin, agent_secret, agent.id)
