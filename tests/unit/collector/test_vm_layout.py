"""The cluster layout: which URL every request to VictoriaMetrics goes to, per tier, and the
settings that say so, with the errors for combinations that cannot work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hostvitals.collector.config.loader import ConfigError, load_settings
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.rollups.tiers import tiers_from
from hostvitals.collector.vm.client import VictoriaMetricsClient
from hostvitals.collector.vm.endpoints import Endpoints, tenant
from hostvitals.collector.vm.errors import BackendUnavailable
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from hostvitals.collector.vm.transport import MockTransport, Request, Response
from tests.support.collector_app import running, settings

INSERT = "http://vminsert.test:8480"
SELECT = "http://vmselect.test:8481"
SUCCESS = b'{"status":"success","data":{"resultType":"vector","result":[]}}'


@pytest.fixture(autouse=True)
def no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader reads ./config/config.yaml when there is one: not here."""
    monkeypatch.chdir(tmp_path)


def cluster_doc(**vm: Any) -> dict[str, Any]:
    return {
        "victoriametrics": {
            "layout": "cluster",
            "url": None,
            "insert_url": INSERT,
            "select_url": SELECT,
            "account_id": 42,
            **vm,
        },
        "tiers": {"rollups": []},
    }


def load(doc: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    """``doc`` through the loader, as a file and environment would give it."""
    overrides = {
        f"{section}.{key}": value for section, keys in doc.items() for key, value in keys.items()
    }
    return load_settings(None, env or {}, overrides)


# -- where each request goes ----------------------------------------------------------------


def test_a_single_node_takes_everything_at_its_url() -> None:
    e = Endpoints.single("http://vm.test:8428/")
    assert (e.write, e.read, e.roots) == ("http://vm.test:8428",) * 2 + (("http://vm.test:8428",),)


def test_a_cluster_writes_to_vminsert_and_reads_from_vmselect_under_the_tenant() -> None:
    e = Endpoints.cluster(INSERT + "/", SELECT, "42")
    assert e.write == f"{INSERT}/insert/42/prometheus"
    assert e.read == f"{SELECT}/select/42/prometheus"
    assert e.roots == (INSERT, SELECT)
    assert e.start_time_root == INSERT  # vminsert acknowledges the writes
    behind_vmauth = Endpoints.cluster("http://vmauth:8427", "http://vmauth:8427/", "7:3")
    assert behind_vmauth.roots == ("http://vmauth:8427",)  # one process, checked once
    assert behind_vmauth.read == "http://vmauth:8427/select/7:3/prometheus"


def test_the_tenant_is_the_account_or_account_and_project() -> None:
    assert tenant(0, None) == "0"
    assert tenant(42, None) == "42"
    assert tenant(42, 0) == "42:0"
    assert tenant(4_294_967_295, 7) == "4294967295:7"


def test_every_tier_gets_its_own_layout_and_the_fleets_tenant() -> None:
    doc = cluster_doc(project_id=5)
    doc["tiers"] = {
        "rollups": [
            {"name": "1m", "url": "http://vm-1m:8429", "resolution_s": 60, "retention_days": 7},
            {
                "name": "5m",
                "layout": "cluster",
                "insert_url": "http://ins-5m:8480",
                "select_url": "http://sel-5m:8481",
                "resolution_s": 300,
                "retention_days": 30,
            },
        ]
    }
    raw, one, five = tiers_from(load(doc))
    assert raw.endpoints == Endpoints.cluster(INSERT, SELECT, "42:5")
    assert one.endpoints == Endpoints.single("http://vm-1m:8429")
    assert five.endpoints.write == "http://ins-5m:8480/insert/42:5/prometheus"
    assert five.endpoints.read == "http://sel-5m:8481/select/42:5/prometheus"


def test_the_default_is_the_single_node_it_always_was() -> None:
    raw, *rollups = tiers_from(Settings())
    assert raw.endpoints == Endpoints.single("http://127.0.0.1:8428")
    assert [t.endpoints.write for t in rollups] == [
        "http://127.0.0.1:8429",
        "http://127.0.0.1:8430",
        "http://127.0.0.1:8431",
    ]


def recording(
    handler: Callable[[Request], Response] = lambda _r: Response(200, SUCCESS),
) -> MockTransport:
    return MockTransport(handler)


def test_the_client_imports_at_vminsert_exports_at_vmselect() -> None:
    transport = recording(lambda _r: Response(204))
    vm = VictoriaMetricsClient(
        Endpoints.cluster(INSERT, SELECT, "42"), 5.0, 0.5, transport=transport
    )
    vm.post_import(b"{}\n")
    vm.export('{host="a"}', 0, 1000)
    assert [r.url for r in transport.requests] == [
        f"{INSERT}/insert/42/prometheus/api/v1/import",
        f"{SELECT}/select/42/prometheus/api/v1/export",
    ]


def test_the_client_checks_both_and_reads_vminserts_start_time() -> None:
    def answer(request: Request) -> Response:
        if request.path == "/metrics":
            return Response(200, b"vm_app_start_timestamp 1700000000\n")
        return Response(503 if request.base_url == SELECT else 200)

    transport = recording(answer)
    vm = VictoriaMetricsClient(
        Endpoints.cluster(INSERT, SELECT, "42"), 5.0, 0.5, transport=transport
    )
    assert vm.start_time() == 1_700_000_000.0
    with pytest.raises(BackendUnavailable, match=r"^/health of vmselect\.test:8481 answered 503$"):
        vm.ping()
    assert [r.url for r in transport.requests] == [
        f"{INSERT}/metrics",
        f"{INSERT}/health",
        f"{SELECT}/health",
    ]


def test_the_reader_queries_and_passes_through_at_vmselect() -> None:
    transport = recording()
    reader = VictoriaMetricsReader(Endpoints.cluster(INSERT, SELECT, "42"), 5.0, transport)
    reader.query("up")
    reader.forward("/api/v1/label/host/values", [("match[]", "up")])
    assert [r.url for r in transport.requests] == [
        f"{SELECT}/select/42/prometheus/api/v1/query",
        f"{SELECT}/select/42/prometheus/api/v1/label/host/values",
    ]


# -- settings -------------------------------------------------------------------------------


def test_a_cluster_layout_loads_from_the_environment() -> None:
    env = {
        "HOSTVITALS__VICTORIAMETRICS__LAYOUT": "cluster",
        "HOSTVITALS__VICTORIAMETRICS__INSERT_URL": INSERT + "/",
        "HOSTVITALS__VICTORIAMETRICS__SELECT_URL": SELECT,
        "HOSTVITALS__VICTORIAMETRICS__ACCOUNT_ID": "42",
        "HOSTVITALS__TIERS__ROLLUPS": "[]",
    }
    vm = load_settings(None, env).victoriametrics
    assert (vm.layout, vm.insert_url, vm.select_url, vm.account_id) == (
        "cluster",
        INSERT,
        SELECT,
        42,
    )
    assert vm.url is None  # the single node's default does not apply


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            {"insert_url": None},
            "victoriametrics: layout 'cluster' needs insert_url: the base URLs of vminsert",
        ),
        (
            {"insert_url": None, "select_url": None},
            "layout 'cluster' needs insert_url and select_url",
        ),
        ({"url": "http://vm:8428"}, "url is for layout 'single'; with layout 'cluster' remove"),
        (
            {"account_id": None},
            r"tiers with layout 'cluster' \(raw\) need victoriametrics.account_id",
        ),
        (
            {"account_id": None, "project_id": 3},
            r"tiers with layout 'cluster' \(raw\) need victoriametrics.account_id",
        ),
        ({"account_id": -1}, "victoriametrics.account_id: Input should be greater than or equal"),
        ({"account_id": 2**32}, "victoriametrics.account_id: Input should be less than or equal"),
        (
            {"insert_url": f"{INSERT}/insert/42/prometheus"},
            "victoriametrics.insert_url: must be the base URL of vminsert",
        ),
        (
            {"select_url": f"{SELECT}/select/0/prometheus/"},
            "victoriametrics.select_url: must be the base URL of vmselect",
        ),
        ({"select_url": "vmselect:8481"}, "select_url: must be an http:// or https:// URL"),
        ({"layout": "sharded"}, "victoriametrics.layout: Input should be 'single' or 'cluster'"),
    ],
)
def test_bad_cluster_settings_say_what_is_wrong(change: dict[str, Any], says: str) -> None:
    doc = cluster_doc(**change)
    with pytest.raises(ConfigError, match=says):
        load(doc)


@pytest.mark.parametrize(
    ("vm", "says"),
    [
        (
            {"insert_url": INSERT},
            "insert_url needs layout 'cluster'; with layout 'single' .the default. give url only",
        ),
        ({"insert_url": INSERT, "select_url": SELECT}, "insert_url and select_url need layout"),
        ({"url": None}, "layout 'single' needs url"),
        ({"account_id": 0}, "account_id and project_id apply to tiers with layout 'cluster'"),
        ({"project_id": 1}, "account_id and project_id apply to tiers with layout 'cluster'"),
    ],
)
def test_bad_single_node_settings_say_what_is_wrong(vm: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load({"victoriametrics": vm})


def test_a_rollup_tier_is_checked_the_same_way() -> None:
    tier = {"name": "1m", "resolution_s": 60, "retention_days": 30}
    with pytest.raises(ConfigError, match=r"tiers.rollups\[0\]: .*layout 'single' needs url"):
        load_settings(None, {}, {"tiers.rollups": [tier]})
    clustered = {**tier, "layout": "cluster", "insert_url": INSERT}
    with pytest.raises(ConfigError, match=r"tiers.rollups\[0\]: .*needs select_url"):
        load_settings(None, {}, {"tiers.rollups": [clustered]})
    both = {**clustered, "select_url": SELECT}
    with pytest.raises(ConfigError, match=r"tiers with layout 'cluster' \(1m\) need"):
        load_settings(None, {}, {"tiers.rollups": [both]})
    tiers = load_settings(None, {}, {"tiers.rollups": [both], "victoriametrics.account_id": 9})
    assert tiers_from(tiers)[1].endpoints.write == f"{INSERT}/insert/9/prometheus"


async def test_health_names_vminsert_and_vmselect_without_the_password() -> None:
    app_settings = settings(
        victoriametrics={
            "layout": "cluster",
            "url": None,
            "insert_url": "http://hv:s3cret-pass@vmauth.test:8427",
            "select_url": SELECT,
            "account_id": 0,
        }
    )
    async with running(app_settings) as (_app, client, _vm):
        answer = await client.get("/api/v1/health")
    assert answer.status_code == 200
    where = answer.json()["victoriametrics"]
    assert (where["layout"], where["select_url"]) == ("cluster", SELECT)
    assert "s3cret-pass" not in answer.text
    assert where["insert_url"].endswith("@vmauth.test:8427")
