"""Reading the files under deploy/ and checking them against the code they deploy (the
compose files' and the Kubernetes manifests' tests share these)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from hostvitals.collector import statedb
from hostvitals.collector.access.authn import Authenticator, check_exposure, is_loopback
from hostvitals.collector.access.store import AccessStore
from hostvitals.collector.access.throttle import Throttle
from hostvitals.collector.access.users import UserStore
from hostvitals.collector.config.loader import ConfigError
from hostvitals.collector.config.settings import Settings
from tests.support.certs import Certs

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NS = "hostvitals"
Doc = dict[str, Any]


def read_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def flags(args: list[str]) -> dict[str, str]:
    return dict(a.lstrip("-").split("=", 1) for a in args if a.startswith("-") and "=" in a)


def expected_flags() -> dict[str, tuple[str, str]]:
    """Per tier, the -retentionPeriod and -dedup.minScrapeInterval the default settings need."""
    tiers = Settings().tiers
    rollups = {t.name: (f"{t.retention_days}d", f"{t.resolution_s}s") for t in tiers.rollups}
    return {"raw": (f"{tiers.raw_retention_days}d", "1ms")} | rollups


def service_of(url: str) -> tuple[str, int | None]:
    """The service a URL names (first host label; a namespace, if given, must be ours)."""
    parts = urlsplit(url)
    labels = (parts.hostname or "").split(".")
    assert len(labels) == 1 or labels[1] == NS, url
    return labels[0], parts.port


def check_tiers(settings: Settings, vm_args: dict[str, list[str]], ports: dict[str, int]) -> None:
    """The tiers are the default ones, and each URL names a VictoriaMetrics run for its tier."""
    no_urls: Any = {"rollups": {"__all__": {"url"}}}
    assert settings.tiers.model_dump(exclude=no_urls) == Settings().tiers.model_dump(
        exclude=no_urls
    )
    urls = {"raw": settings.victoriametrics.url} | {t.name: t.url for t in settings.tiers.rollups}
    assert len({service_of(u)[0] for u in urls.values()}) == len(urls), "tiers share a store"
    for tier, url in urls.items():
        name, port = service_of(url)
        assert name in vm_args, f"tier {tier}: {url} names no VictoriaMetrics"
        assert port == ports[name], url
        given = flags(vm_args[name])
        actual = (given.get("retentionPeriod"), given.get("dedup.minScrapeInterval"))
        assert actual == expected_flags()[tier], name


def auth_on_and_tls_wired(settings: Settings) -> None:
    """Safe defaults: beyond loopback the collector refuses to start with no credential and
    starts with one; it serves HTTPS and takes frames only with a client certificate."""
    assert not settings.auth.allow_anonymous
    store = AccessStore(statedb.connect(None))
    auth = settings.auth
    authn = Authenticator(
        store,
        [],
        loopback=is_loopback(settings.server.host),
        allow_anonymous=auth.allow_anonymous,
        users=UserStore(
            statedb.connect(None), idle_s=auth.session_idle_s, absolute_s=auth.session_max_s
        ),
        throttle=Throttle(
            limit=auth.guess_limit,
            base_s=auth.guess_backoff_s,
            max_s=auth.guess_backoff_max_s,
            forget_s=auth.guess_forget_s,
            size=auth.guess_table_size,
        ),
    )
    with pytest.raises(ConfigError, match="no credential configured"):
        check_exposure(settings, authn)
    store.add_token("first admin", "admin")
    check_exposure(settings, authn)
    tls = settings.tls
    assert tls.enabled and tls.client_ca_file is not None and tls.require_client_cert_on_ingest


def tls_files_in(paths: list[Path | None], mount: Path) -> None:
    for path in paths:
        assert path is not None and path.parent == mount, (path, mount)


AGENT_TLS_KEYS = (
    "HOSTVITALS_AGENT_CA_FILE",
    "HOSTVITALS_AGENT_CLIENT_CERT",
    "HOSTVITALS_AGENT_CLIENT_KEY",
)


def agent_env_with_real_files(env: dict[str, str], certs: Certs) -> dict[str, str]:
    """The agent checks its TLS files at load: these tests' files stand in for the mount."""
    assert all(key in env for key in AGENT_TLS_KEYS), "the agent's TLS files are not wired"
    cert, key = certs.agent("node-1")
    return {**env, **dict(zip(AGENT_TLS_KEYS, (str(certs.ca), str(cert), str(key)), strict=True))}
