"""The Dagster UI: webserver and daemon on loopback, the asset graph opened in Debian's headless
Chromium through Playwright, assets, checks and schedules present; the whole process group
stopped after."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tenancy.devstack.ports import free_port
from tests.browser import chromium_page
from tests.support import wait_for_http

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ASSETS = ("usage_events", "daily_tenant_usage", "monthly_tenant_usage", "tenant_quota_status")
LOCATION = "pipelines.definitions"
SCHEDULES = (
    "ingest_schedule",
    "daily_rollup_schedule",
    "quota_enforcement_schedule",
    "monthly_rollup_schedule",
    "invoice_draft_schedule",
    "billing_schedule",
    "retention_sweep_schedule",
    "domain_checks_schedule",
    "lakehouse_upkeep_schedule",
)
BILLING_ASSETS = ("invoice_ledger", "stripe_invoices")
SENSORS = ("late_usage_sensor", "stripe_payment_events_sensor")


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group (the webserver's code servers too), SIGKILL stragglers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(proc.pid):
            break
        os.killpg(proc.pid, sig)
        deadline = time.monotonic() + 20
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            proc.poll()  # reap the leader so it does not linger as a zombie
            time.sleep(0.2)
    proc.wait(timeout=5)


def _graphql(url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]  # type: ignore[no-any-return]


def _repositories(url: str) -> list[dict[str, Any]]:
    data = _graphql(
        url, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"
    )
    return data["repositoriesOrError"].get("nodes") or []


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("dagster-home")
    shutil.copy(ROOT / "pipelines" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "TENANCY_RUN_DIR": str(home / "run")}
    # Create the instance's storage once, before two processes race to create it (they would
    # both write alembic's version table and leave it with two heads).
    subprocess.run(
        [str(BIN / "dagster"), "instance", "migrate"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    port = free_port()
    web = _start(
        [
            str(BIN / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "pipelines.definitions",
        ],
        env,
        home / "webserver.log",
    )
    daemon = _start(
        [str(BIN / "dagster-daemon"), "run", "-m", "pipelines.definitions"],
        env,
        home / "daemon.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        wait_for_http(
            f"{url}/server_info", web, 120, lambda: (home / "webserver.log").read_text()[-3000:]
        )
        while not _repositories(url):  # the code location loads after the server answers
            if time.monotonic() > deadline:
                raise RuntimeError((home / "webserver.log").read_text()[-3000:])
            time.sleep(1)
        yield url
    finally:
        _stop(web)
        _stop(daemon)
    for proc in (web, daemon):
        assert proc.poll() is not None and not _group_alive(proc.pid), (
            "no process of the group survives"
        )


def test_asset_graph_renders_in_chromium(webserver: str, tmp_path: Path) -> None:
    shot = Path(os.environ.get("TENANCY_UI_SCREENSHOT", tmp_path / "asset-graph.png"))
    with chromium_page() as page:
        page.goto(f"{webserver}/asset-groups")
        page.get_by_text("Global asset lineage").first.wait_for(timeout=90_000)
        skip = page.get_by_role("button", name="Skip", exact=True)  # first-visit dialog
        if skip.count():
            skip.first.click()
        page.goto(f"{webserver}/locations/{LOCATION}/asset-groups/usage")
        for asset in ASSETS[:3]:
            page.get_by_text(asset, exact=True).first.wait_for(timeout=90_000)
        usage = page.inner_text("body")
        page.screenshot(path=str(shot))
        page.goto(f"{webserver}/locations/{LOCATION}/asset-groups/quotas")
        page.get_by_text(ASSETS[3], exact=True).first.wait_for(timeout=90_000)
        quotas = page.inner_text("body")
    for asset in ASSETS[:3]:
        assert asset in usage, f"{asset} not on the usage group's graph"
    assert ASSETS[3] in quotas, f"{ASSETS[3]} not on the quotas group's graph"
    assert shot.stat().st_size > 10_000, "a screenshot of the rendered graph"


def test_schedules_sensor_and_checks_are_loaded(webserver: str) -> None:
    query = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
        schedules { name cronSchedule executionTimezone } sensors { name }
        assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } } } } } }"""
    repo = _graphql(webserver, query)["repositoriesOrError"]["nodes"][0]
    assert {s["name"] for s in repo["schedules"]} == set(SCHEDULES)
    assert all(s["executionTimezone"] == "UTC" for s in repo["schedules"])
    assert {s["name"] for s in repo["sensors"]} == set(SENSORS)
    assert {n["assetKey"]["path"][0] for n in repo["assetNodes"]} == {
        *ASSETS,
        *BILLING_ASSETS,
        "tenant_purges",
        "retention_sweep",
        "domain_ownership_checks",
        "lakehouse_files",
    }
    checks = {
        c["name"] for n in repo["assetNodes"] for c in n["assetChecksOrError"].get("checks", [])
    }
    assert (
        "daily_tenant_usage_totals_reconcile" in checks and "usage_events_quarantine_rate" in checks
    )
    assert {"stripe_invoices_reconciled", "invoice_ledger_totals_match_lines"} <= checks
    assert "retention_sweep_holds_untouched" in checks
