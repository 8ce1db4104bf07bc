"""deploy/compose.replicas.yaml: N collector replicas behind HAProxy, sharing one fleet.

Docker is not needed: each service's command line is parsed by the real collector and agent
command-line parsers and settings models, the HAProxy configuration is read for the names
and ports it must share with the services (and checked by ``haproxy -c`` itself), and the
certificate ``make certs`` makes must name every host a client checks.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hostvitals.agent.__main__ import parse_args
from hostvitals.agent.config import load_config
from hostvitals.collector.__main__ import build_parser, settings_from_args
from hostvitals.collector.config.settings import Settings
from tests.support.certs import Certs, make_certs
from tests.support.deploy import (
    AGENT_TLS_KEYS,
    DEPLOY,
    ROOT,
    Doc,
    agent_env_with_real_files,
    auth_on_and_tls_wired,
    check_tiers,
    flags,
    read_docs,
    tls_files_in,
)

COMPOSE = read_docs(DEPLOY / "compose.replicas.yaml")[0]
SERVICES: dict[str, Doc] = COMPOSE["services"]
COLLECTOR = SERVICES["collector"]
LB = SERVICES["collector-lb"]
HAPROXY_CFG_IN_IMAGE = "/usr/local/etc/haproxy/haproxy.cfg"  # the official image's default


def commands_of(argv: list[str]) -> list[list[str]]:
    """The commands a service runs: its argv, or each command of an ``sh -c`` script."""
    if argv[:2] != ["sh", "-c"]:
        return [argv]
    words = shlex.split(argv[2], posix=True)
    runs: list[list[str]] = [[]]
    for word in words:
        if word in ("|", "||", "&&", ";"):
            runs.append([])
        elif word.endswith(";"):
            runs[-1].append(word[:-1])
            runs.append([])
        else:
            runs[-1].append(word)
    return [run[1:] if run[:1] == ["exec"] else run for run in runs if run]


def mount(service: Doc, target_dir: Path) -> tuple[str, str]:
    """The (source, mode) of the volume a service mounts at ``target_dir``."""
    for volume in service["volumes"]:
        parts = volume.split(":")
        if len(parts) >= 2 and Path(parts[1]) == target_dir:
            return parts[0], parts[2] if len(parts) > 2 else "rw"
    raise AssertionError(f"nothing is mounted at {target_dir}")


def haproxy_sections(text: str) -> dict[str, list[list[str]]]:
    """``section name`` -> its lines as words (comments dropped)."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw[0].isspace():
            current = sections.setdefault(line.strip(), [])
        else:
            current.append(line.split())
    return sections


def option(lines: list[list[str]], keyword: str) -> list[str]:
    (found,) = [words for words in lines if words[0] == keyword]
    return found


@pytest.fixture
def collector_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings `hostvitals-collector serve`, as the service runs it, starts with."""
    monkeypatch.chdir(tmp_path)  # no config/config.yaml: the image's working directory has none
    for name in [n for n in os.environ if n.startswith("HOSTVITALS")]:
        monkeypatch.delenv(name)
    for name, value in COLLECTOR["environment"].items():
        monkeypatch.setenv(name, str(value))
    runs = commands_of(COLLECTOR["command"])
    assert runs[-1][:2] == ["hostvitals-collector", "serve"], "the replica does not serve last"
    for run in runs:
        if run[0] == "hostvitals-collector":
            build_parser().parse_args(run[1:])  # each one parses (exits 2 otherwise)
    assert ["hostvitals-collector", "tokens", "add"] in [r[:3] for r in runs]
    return settings_from_args(build_parser().parse_args(runs[-1][1:]))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("replica-certs"), "node-1")


def test_replicas_find_each_other_through_the_service_name(collector_settings: Settings) -> None:
    settings = collector_settings
    auth_on_and_tls_wired(settings)
    cluster = settings.cluster
    assert cluster.peers == [] and cluster.peers_from_dns is not None
    url = urlsplit(cluster.peers_from_dns)
    # The name Docker's DNS answers with every replica's address: this service's own.
    assert (url.scheme, url.hostname, url.port) == ("https", "collector", settings.server.port)
    assert "container_name" not in COLLECTOR and "hostname" not in COLLECTOR
    assert COLLECTOR["deploy"]["replicas"] >= 2
    assert "ports" not in COLLECTOR, "a published port allows one replica per host"
    # Peers authenticate with the token file and are checked against the CA, both mounted.
    certs_dir = Path("/etc/hostvitals/tls")
    assert mount(COLLECTOR, certs_dir) == ("../var/certs", "ro")
    tls = settings.tls
    peer_files = [cluster.peer_token_file, cluster.peer_ca_file or tls.client_ca_file]
    tls_files_in([tls.cert_file, tls.key_file, tls.client_ca_file, *peer_files], certs_dir)


def test_each_replica_has_its_own_state(collector_settings: Settings) -> None:
    state = collector_settings.state.dir
    assert state is not None
    anonymous = [v for v in COLLECTOR["volumes"] if ":" not in v]
    assert anonymous == [str(state)], "a named volume would be shared by every replica"


def test_replicas_use_every_tier(collector_settings: Settings) -> None:
    vms = {n: s for n, s in SERVICES.items() if "victoria-metrics" in s.get("image", "")}
    assert set(vms) <= set(COLLECTOR["depends_on"])
    ports = {
        n: int(flags(s["command"])["httpListenAddr"].rsplit(":", 1)[1]) for n, s in vms.items()
    }
    check_tiers(collector_settings, {n: s["command"] for n, s in vms.items()}, ports)


def test_the_load_balancer_fronts_the_replicas(collector_settings: Settings) -> None:
    assert re.fullmatch(r"haproxy:\d+\.\d+\.\d+", LB["image"]), "pin a release"
    source, mode = mount(LB, Path(HAPROXY_CFG_IN_IMAGE))
    assert mode == "ro"
    sections = haproxy_sections((DEPLOY / source).read_text(encoding="utf-8"))
    port = collector_settings.server.port
    assert f"{port}:{port}" in LB["ports"]
    (frontend,) = [lines for name, lines in sections.items() if name.startswith("frontend ")]
    assert option(frontend, "bind") == ["bind", f":{port}"]
    backend = sections[f"backend {option(frontend, 'default_backend')[1]}"]
    assert option(backend, "balance") == ["balance", "source"]
    server = option(backend, "server-template")
    # Every address of the replicas' service name, at the port they serve on.
    assert server[3] == f"collector:{port}" and "check" in server
    resolvers = server[server.index("resolvers") + 1]
    assert option(sections[f"resolvers {resolvers}"], "nameserver")[2] == "127.0.0.11:53"
    assert "init-addr" in server and server[server.index("init-addr") + 1] == "none"
    # Health: the collector's own check, over HTTPS with its certificate verified.
    probe = next(words for words in backend if words[:2] == ["http-check", "send"])
    assert probe[probe.index("uri") + 1] == "/api/v1/health"
    assert "/api/v1/health" in " ".join(COLLECTOR["healthcheck"]["test"])
    assert server[server.index("verify") + 1] == "required" and "check-ssl" in server
    ca = Path(server[server.index("ca-file") + 1])
    assert mount(LB, ca.parent) == mount(COLLECTOR, Path("/etc/hostvitals/tls"))
    assert collector_settings.tls.client_ca_file == Path("/etc/hostvitals/tls") / ca.name
    assert server[server.index("verifyhost") + 1] == "collector"


def test_haproxy_accepts_the_configuration(tmp_path: Path, certs: Certs) -> None:
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    assert haproxy is not None, "haproxy is not installed: run `make system-deps`"
    source, _ = mount(LB, Path(HAPROXY_CFG_IN_IMAGE))
    text = (DEPLOY / source).read_text(encoding="utf-8")
    # The CA file is the container's mount: here it is this test's CA.
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text.replace("/etc/hostvitals/tls/ca.pem", str(certs.ca)), encoding="utf-8")
    done = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_agents_reach_the_load_balancer(certs: Certs) -> None:
    agent = SERVICES["agent"]
    env = {k: re.sub(r"\$\{\w+:-(.*)\}", r"\1", v) for k, v in agent["environment"].items()}
    tls_files_in([Path(env[key]) for key in AGENT_TLS_KEYS], Path("/etc/hostvitals/tls"))
    env = agent_env_with_real_files(env, certs)
    (argv,) = commands_of(agent["command"])
    assert argv[0] == "hostvitals-agent"
    config = load_config(None, environ=env, flags=vars(parse_args(argv[1:])))
    lb_port = int(LB["ports"][0].split(":")[1])
    assert [(urlsplit(u).hostname, urlsplit(u).port) for u in config.delivery.collector_urls] == [
        ("collector-lb", lb_port)
    ]
    assert all(u.startswith("https://") for u in config.delivery.collector_urls)
    assert "collector-lb" in agent["depends_on"]


def test_make_certs_names_every_host_a_client_checks(collector_settings: Settings) -> None:
    """Agents check the name they connect to (the load balancer passes TLS through), replicas
    the looked-up name, the load balancer's health checks the name it verifies."""
    (line,) = [
        line for line in (ROOT / "Makefile").read_text().splitlines() if "make-certs.sh" in line
    ]
    found = re.search(r'SERVER_NAMES="([^"]*)"', line)
    assert found is not None, line
    names = set(found.group(1).split())
    peers = urlsplit(str(collector_settings.cluster.peers_from_dns)).hostname
    agent_urls = [a for a in SERVICES["agent"]["command"] if a.startswith("https://")]
    assert {peers, "collector", *(urlsplit(u).hostname for u in agent_urls)} <= names
