"""The Kubernetes manifests in deploy/kubernetes against the Kubernetes OpenAPI schemas.

kubernetes-validate carries the schemas of each Kubernetes release, so this runs offline.
Strict: a property the schema does not know (a typo, a field in the wrong place) fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hostvitals.collector.selfmetrics import SelfMetrics

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))
# The oldest release the manifests are meant for (autoscaling/v2, policy/v1) and the newest
# the validator knows.
VERSIONS = ["1.27", kubernetes_validate.latest_version()]


def resources() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc)
        for path in MANIFESTS
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in resources() if doc["kind"] == kind]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "doc"), resources(), ids=[n for n, _ in resources()])
def test_resource_is_valid(name: str, doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_refuses_a_misplaced_field() -> None:
    (hpa,) = by_kind("HorizontalPodAutoscaler")
    broken = {**hpa, "spec": {**hpa["spec"], "maxReplica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_hpa_scales_the_collector_on_metrics_the_adapter_serves_and_the_collector_has() -> None:
    (hpa,) = by_kind("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    (collector,) = [s for s in by_kind("StatefulSet") if s["metadata"]["name"] == target["name"]]
    assert target["kind"] == "StatefulSet"
    (rules_map,) = [c for c in by_kind("ConfigMap") if c["metadata"]["name"].endswith("rules")]
    rules = yaml.safe_load(rules_map["data"]["config.yaml"])["externalRules"]
    served = {rule["name"]["as"]: rule for rule in rules}
    wanted = [m["external"]["metric"]["name"] for m in hpa["spec"]["metrics"]]
    assert wanted and all(m["type"] == "External" for m in hpa["spec"]["metrics"])
    assert set(wanted) <= set(served)
    exported = {family.name for family in SelfMetrics().registry.collect()}
    for name in wanted:
        assert name in exported, f"the collector does not export {name}"
        assert served[name]["seriesQuery"].startswith(name + "{")
    assert "hostvitals_collector_saturation_ratio" in wanted
    assert hpa["metadata"]["namespace"] == collector["metadata"]["namespace"]


def test_disruption_budget_selects_the_collector_pods() -> None:
    budgets = {b["metadata"]["name"]: b for b in by_kind("PodDisruptionBudget")}
    (collector,) = [s for s in by_kind("StatefulSet") if s["metadata"]["name"] == "collector"]
    selector = budgets["collector"]["spec"]["selector"]["matchLabels"]
    labels = collector["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


def test_autoscaler_and_disruption_budget_agree_with_the_statefulset() -> None:
    """The HPA starts from the replicas the StatefulSet runs, and a drain may take one
    replica at a time however many run: at least one other keeps answering."""
    (hpa,) = by_kind("HorizontalPodAutoscaler")
    (collector,) = [s for s in by_kind("StatefulSet") if s["metadata"]["name"] == "collector"]
    budget = next(b for b in by_kind("PodDisruptionBudget") if b["metadata"]["name"] == "collector")
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert low == collector["spec"]["replicas"] >= 2
    assert high > low
    # One at a time, for any replica count from minReplicas up.
    assert budget["spec"]["maxUnavailable"] == 1 < low
