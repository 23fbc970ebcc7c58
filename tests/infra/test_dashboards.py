"""The dashboards' ConfigMaps: one per committed dashboard, with the label the Grafana sidecar
watches (configurable), refused with the file named when a file is not a dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.dashboards import SidecarSelector, dashboard_configmaps, provision_dashboards
from infra.errors import InfraError
from policies.observability.dashboards import dashboards


def test_one_configmap_per_dashboard_with_the_sidecar_label() -> None:
    manifests = dashboard_configmaps("monitoring")
    assert [m["metadata"]["name"] for m in manifests] == sorted(
        f"grafana-dashboard-{uid}" for uid in dashboards()
    )
    for manifest in manifests:
        metadata = manifest["metadata"]
        assert metadata["namespace"] == "monitoring"
        assert metadata["labels"]["grafana_dashboard"] == "1", metadata["name"]
        assert metadata["annotations"] == {"grafana_folder": "CodexOS"}, metadata["name"]
        [(file_name, text)] = manifest["data"].items()
        assert json.loads(text)["uid"] == file_name.removesuffix(".json")


def test_the_label_and_folder_are_configurable() -> None:
    selector = SidecarSelector(label="dashboards", label_value="codexos", folder=None)
    manifest = dashboard_configmaps("grafana", selector)[0]
    assert manifest["metadata"]["labels"]["dashboards"] == "codexos"
    assert "grafana_dashboard" not in manifest["metadata"]["labels"]
    assert "annotations" not in manifest["metadata"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("broken.json", "{", r"broken.json: not JSON"),
        ("other.json", '{"uid": "codexos-cost"}', r"other.json: `uid` is 'codexos-cost'"),
        ("Bad_Name.json", '{"uid": "Bad_Name"}', r"is not a valid Kubernetes name"),
        ("huge.json", json.dumps({"uid": "huge", "pad": "x" * 1_100_000}), r"at most 1,048,576"),
    ],
)
def test_a_file_that_is_not_a_dashboard_is_refused_by_name(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(InfraError, match=message):
        dashboard_configmaps("monitoring", directory=tmp_path)


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="no dashboard JSON; run `tenancy dashboards generate`"):
        dashboard_configmaps("monitoring", directory=tmp_path)


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.seen.append((args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


def test_provisioned_as_kubernetes_configmaps() -> None:
    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project="codexos-tenancy", stack="platform", preview=False)

    @pulumi.runtime.test
    def provisioned() -> pulumi.Output[None]:
        maps = provision_dashboards("dashboards", "monitoring")

        def check(names: list[str]) -> None:
            assert sorted(names) == sorted(f"grafana-dashboard-{uid}" for uid in dashboards())

        return pulumi.Output.all(*[m.metadata.name for m in maps]).apply(check)

    provisioned()
    configmaps = [s for s in mocks.seen if s[0] == "kubernetes:core/v1:ConfigMap"]
    assert sorted(name for _, name, _ in configmaps) == sorted(
        f"dashboards-{uid}" for uid in dashboards()
    )
    for _, name, inputs in configmaps:
        assert inputs["metadata"]["labels"]["grafana_dashboard"] == "1", name
        assert inputs["metadata"]["namespace"] == "monitoring", name
