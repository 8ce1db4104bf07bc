"""The container and Kubernetes files under deploy/ agree with the code they deploy.

Neither Docker nor Kubernetes is needed: the files are read as YAML and checked against the
collector's configuration model, the agent's and a fresh rule export.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hostvitals.agent.__main__ import parse_args
from hostvitals.agent.config import DEFAULT_STATE_DIR, load_config
from hostvitals.collector.config.loader import load_settings
from hostvitals.collector.config.settings import Settings
from tests.support.certs import Certs, make_certs
from tests.support.deploy import (
    AGENT_TLS_KEYS,
    DEPLOY,
    NS,
    ROOT,
    Doc,
    agent_env_with_real_files,
    auth_on_and_tls_wired,
    check_tiers,
    flags,
    read_docs,
    service_of,
    tls_files_in,
)


def _k8s(kind: str) -> dict[str, Doc]:
    docs = [d for p in sorted((DEPLOY / "kubernetes").glob("*.yaml")) for d in read_docs(p)]
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


COMPOSE = read_docs(DEPLOY / "compose.yaml")[0]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("deploy-certs"), "node-1")


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: p.name)
def test_yaml_parses(path: Path) -> None:
    assert read_docs(path)


def test_compose_collector_is_configured_for_the_vm_services(tmp_path: Path) -> None:
    services: dict[str, Doc] = COMPOSE["services"]
    collector = services["collector"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    env = {k: str(v) for k, v in collector["environment"].items()}
    settings = load_settings(empty, env, {})
    vms = {n: s for n, s in services.items() if "victoria-metrics" in s["image"]}
    assert set(vms) <= set(collector["depends_on"])
    ports = {
        n: int(flags(s["command"])["httpListenAddr"].rsplit(":", 1)[1]) for n, s in vms.items()
    }
    check_tiers(settings, {n: s["command"] for n, s in vms.items()}, ports)
    for vm in vms.values():
        volume, target = vm["volumes"][0].split(":")
        assert volume in COMPOSE["volumes"] and flags(vm["command"])["storageDataPath"] == target
    volume, target = collector["volumes"][0].split(":")
    assert volume in COMPOSE["volumes"] and Path(target) == settings.state.dir
    assert settings.server.host == "0.0.0.0"
    auth_on_and_tls_wired(settings)
    certs_dir, mount, mode = collector["volumes"][1].split(":")
    assert certs_dir == "../var/certs" and mode == "ro"
    tls = settings.tls
    tls_files_in([tls.cert_file, tls.key_file, tls.client_ca_file], Path(mount))
    init = services["collector-init"]
    assert (
        "tokens add" in " ".join(init["command"]) and init["volumes"][0] == collector["volumes"][0]
    )
    assert collector["depends_on"]["collector-init"]["condition"] == (
        "service_completed_successfully"
    )
    assert f"{settings.server.port}:{settings.server.port}" in collector["ports"]
    assert "/api/v1/health" in " ".join(collector["healthcheck"]["test"])


def test_compose_agent_reports_the_docker_host_to_the_collector(certs: Certs) -> None:
    agent = COMPOSE["services"]["agent"]
    assert agent["pid"] == "host"
    assert agent["command"][0] == "hostvitals-agent"
    env = {k: re.sub(r"\$\{\w+:-(.*)\}", r"\1", v) for k, v in agent["environment"].items()}
    wired = [Path(env[key]) for key in AGENT_TLS_KEYS]
    tls_files_in(list(wired), Path(agent["volumes"][1].split(":")[1]))
    # make certs names the agent's certificate after the host it reports.
    assert wired[1].name == f"agent-{env['HOSTVITALS_AGENT_HOST']}.pem"
    env = agent_env_with_real_files(env, certs)
    config = load_config(None, environ=env, flags=vars(parse_args(agent["command"][1:])))
    assert [service_of(u) for u in config.delivery.collector_urls] == [("collector", 8000)]
    assert all(u.startswith("https://") for u in config.delivery.collector_urls)
    volume, target = agent["volumes"][0].split(":")
    assert volume in COMPOSE["volumes"] and Path(target) == config.state_dir


def _vm_statefulsets() -> dict[str, Doc]:
    sets = _k8s("StatefulSet").items()
    return {n: s for n, s in sets if "victoria-metrics" in str(s["spec"]["template"])}


def test_k8s_vm_statefulsets_keep_their_data_on_a_volume() -> None:
    vms = _vm_statefulsets()
    assert len(vms) == 1 + len(Settings().tiers.rollups)
    for name, sts in vms.items():
        container = sts["spec"]["template"]["spec"]["containers"][0]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        claims = [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]]
        assert [mounts[c] for c in claims] == [flags(container["args"])["storageDataPath"]], name


def pod_labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def test_k8s_collector_config_is_valid_and_wired(tmp_path: Path) -> None:
    services = _k8s("Service")
    sts = _k8s("StatefulSet")["collector"]
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounts = {m["name"]: Path(m["mountPath"]) for m in container["volumeMounts"]}
    config_volume = next(v for v in pod["volumes"] if "configMap" in v)
    config_map = _k8s("ConfigMap")[config_volume["configMap"]["name"]]
    config_path = Path(container["command"][container["command"].index("--config") + 1])
    assert config_path.parent == mounts[config_volume["name"]]
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"][config_path.name])
    settings = load_settings(path, {}, {})
    auth_on_and_tls_wired(settings)
    secret_volume = next(v for v in pod["volumes"] if "secret" in v)
    tls = settings.tls
    tls_files_in([tls.cert_file, tls.key_file, tls.client_ca_file], mounts[secret_volume["name"]])
    init = pod["initContainers"][0]
    assert "tokens add" in " ".join(init["command"])

    claims = [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]]
    assert settings.state.dir in [mounts[c] for c in claims]
    peers_service = sts["spec"]["serviceName"]
    headless = services[peers_service]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert headless["selector"].items() <= pod_labels(sts).items()
    port = settings.server.port
    assert [p["port"] for p in headless["ports"]] == [port]
    # Every replica the autoscaler starts: the addresses of the headless Service's name,
    # checked against that name; the first replica by its stable name, to lead alerting.
    assert settings.cluster.peers_from_dns == f"https://{peers_service}.{NS}.svc:{port}"
    first = f"https://{sts['metadata']['name']}-0.{peers_service}.{NS}.svc:{port}"
    assert settings.cluster.peers == [first]
    # Replicas authenticate to each other: a peer token from a Secret, certificates checked.
    assert sts["spec"]["replicas"] >= 2
    peer_token = settings.cluster.peer_token_file
    assert peer_token is not None
    secret_mounts = {mounts[v["name"]] for v in pod["volumes"] if "secret" in v}
    assert peer_token.parent in secret_mounts
    assert (settings.cluster.peer_ca_file or settings.tls.client_ca_file) is not None
    assert [p["port"] for p in services["collector"]["spec"]["ports"]] == [port]
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["port"] == "https" and readiness["scheme"] == "HTTPS"
    assert readiness["path"] == "/api/v1/health"
    # /metrics needs a viewer token with auth on: liveness is the port accepting connections.
    assert container["livenessProbe"]["tcpSocket"]["port"] == "https"
    assert set(container["resources"]) == {"requests", "limits"}

    vm_args: dict[str, list[str]] = {}
    ports: dict[str, int] = {}
    for name, service in services.items():
        selector = service["spec"].get("selector", {}).items()
        for vm in _vm_statefulsets().values():
            if selector <= vm["spec"]["template"]["metadata"]["labels"].items():
                vm_args[name] = vm["spec"]["template"]["spec"]["containers"][0]["args"]
                ports[name] = service["spec"]["ports"][0]["port"]
    check_tiers(settings, vm_args, ports)


def test_k8s_agent_runs_on_every_node_as_the_node(certs: Certs) -> None:
    pod = _k8s("DaemonSet")["agent"]["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    assert {"operator": "Exists"} in pod["tolerations"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    host = next(e for e in container["env"] if e["name"] == "HOSTVITALS_AGENT_HOST")
    assert host["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    env["HOSTVITALS_AGENT_HOST"] = "node-1"
    assert container["command"] == ["hostvitals-agent"]
    secret = next(v for v in pod["volumes"] if "secret" in v)
    secret_mount = next(m for m in container["volumeMounts"] if m["name"] == secret["name"])
    tls_files_in([Path(str(env[key])) for key in AGENT_TLS_KEYS], Path(secret_mount["mountPath"]))
    env = agent_env_with_real_files({k: str(v) for k, v in env.items()}, certs)
    config = load_config(None, environ=env, flags=vars(parse_args(container.get("args", []))))
    assert all(u.startswith("https://") for u in config.delivery.collector_urls)
    assert config.host == "node-1"
    assert [service_of(u) for u in config.delivery.collector_urls] == [("collector", 8000)]
    assert 8000 in [p["port"] for p in _k8s("Service")["collector"]["spec"]["ports"]]
    host_paths = {v["name"]: Path(v["hostPath"]["path"]) for v in pod["volumes"] if "hostPath" in v}
    mounted = {Path(m["mountPath"]): m for m in container["volumeMounts"]}
    state = mounted[config.state_dir]
    assert host_paths[state["name"]] == config.state_dir == DEFAULT_STATE_DIR
    assert not state.get("readOnly")
    # The node's own file systems, read-only, where the agent's path settings look for them.
    paths = config.paths
    for setting, on_node in ((paths.procfs, "/proc"), (paths.sysfs, "/sys"), (paths.rootfs, "/")):
        assert setting != Path(on_node), "the container's own would be read, not the node's"
        mount = mounted[setting]
        assert mount["readOnly"] is True
        assert host_paths[mount["name"]] == Path(on_node)


def test_rule_file_equals_a_fresh_export() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTVITALS")}
    args = ["rules", "export", "--config", "config/config.yaml", "--target", "vmalert"]
    command = [sys.executable, "-m", "hostvitals.collector", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    committed = (DEPLOY / "alerts" / "hostvitals-rules.yml").read_text(encoding="utf-8")
    assert committed == result.stdout, "regenerate it: see deploy/alerts/README.md"


def test_dockerfile_builds_the_dashboard_first_and_drops_root() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) >= 2
    web = lines[stages[0] : stages[1]]
    web_name = web[0].split()[-1]
    assert re.fullmatch(r"FROM node:\S+ AS \S+", web[0])
    assert any("npm ci" in line for line in web) and any("npm run build" in line for line in web)
    runtime = lines[stages[-1] :]
    assert runtime[0].startswith("FROM python:3.11-slim")
    copy = next(i for i, line in enumerate(runtime) if line.startswith(f"COPY --from={web_name}"))
    assert "collector/static" in runtime[copy]
    install = next(i for i, line in enumerate(runtime) if "pip install" in line)
    assert copy < install and ".[collector]" in runtime[install]
    users = [line.split()[1].split(":")[0] for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
