"""The reload registry: what runs on SIGHUP and on a changed file, and how outcomes count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hostvitals.collector.reload import Reloads
from hostvitals.collector.tls.peer import PeerCertificate


def count(registry: CollectorRegistry, what: str, outcome: str) -> float:
    value = registry.get_sample_value(
        "hostvitals_collector_reloads_total", {"what": what, "outcome": outcome}
    )
    return 0.0 if value is None else value


def test_a_changed_file_runs_only_its_entry(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    reloads = Reloads(registry)
    watched, other = tmp_path / "a", tmp_path / "b"
    watched.write_text("1")
    other.write_text("1")
    ran: list[str] = []
    reloads.add("a", lambda: ran.append("a"), [watched])
    reloads.add("b", lambda: ran.append("b"), [other])
    reloads.check()
    assert ran == []
    (tmp_path / "new").write_text("2")
    os.replace(tmp_path / "new", watched)  # a rename, as a Secret volume or make-certs does
    reloads.check()
    reloads.check()
    assert ran == ["a"]
    assert count(registry, "a", "ok") == 1 and count(registry, "b", "ok") == 0


def test_a_failed_reload_is_counted_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    reloads = Reloads(registry)
    ran: list[str] = []

    def broken() -> None:
        raise ValueError("cannot use certificate /x.pem")

    reloads.add("tls", broken)
    reloads.add("credentials", lambda: ran.append("credentials"))
    assert reloads.reload_all("SIGHUP") is False
    assert ran == ["credentials"]
    assert count(registry, "tls", "failed") == 1 and count(registry, "tls", "ok") == 0
    assert "reloading tls failed (SIGHUP), keeping the running one" in caplog.text


def test_a_file_that_disappears_and_comes_back_is_a_change(tmp_path: Path) -> None:
    reloads = Reloads(CollectorRegistry())
    path = tmp_path / "tokens"
    path.write_text("t")
    ran: list[int] = []
    reloads.add("tokens", lambda: ran.append(1), [path])
    path.unlink()
    reloads.check()
    path.write_text("t")
    reloads.check()
    assert ran == [1, 1]


def test_peer_names_are_the_cn_then_the_dns_names() -> None:
    cert = {
        "subject": ((("organizationName", "x"),), (("commonName", "web-1"),)),
        "subjectAltName": (("DNS", "web-1"), ("DNS", "web-1.example"), ("IP Address", "10.0.0.1")),
    }
    peer = PeerCertificate.from_peercert(cert)
    assert peer is not None
    assert peer.names == ("web-1", "web-1.example")
    assert PeerCertificate.from_peercert({}) is None
    assert PeerCertificate.from_peercert(None) is None
