"""`tenancy domains add|verify|list|remove` against the real DNS server and registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.db.session import Database
from tests.db.factories import make_tenant
from tests.dns_server import DnsServer
from tests.domains.claims import RECORD


def test_cli_add_verify_list_remove(
    cli_env: object,
    db: Database,
    dns: DnsServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    make_tenant(db, "acme")
    monkeypatch.setenv("TENANCY_DNS_RESOLVER", dns.address)
    runner = CliRunner()
    added = runner.invoke(app, ["domains", "add", "acme", "shop.acme.test", "--json"])
    assert added.exit_code == 0, added.output
    token = json.loads(added.stdout)["token"]
    failed = runner.invoke(app, ["domains", "verify", "acme", "shop.acme.test"])
    assert failed.exit_code == 1 and "no TXT record" in failed.output
    dns.set_records({RECORD.format("shop.acme.test"): [token]})
    verified = runner.invoke(app, ["domains", "verify", "acme", "shop.acme.test", "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["status"] == "verified"
    listed = runner.invoke(app, ["domains", "list", "--tenant", "acme", "--json"])
    assert [d["domain"] for d in json.loads(listed.stdout)] == ["shop.acme.test"]
    removed = runner.invoke(app, ["domains", "remove", "acme", "shop.acme.test", "--json"])
    assert removed.exit_code == 0 and json.loads(removed.stdout)["status"] == "released"
    refused = runner.invoke(app, ["domains", "add", "acme", "*.acme.test"])
    assert refused.exit_code == 1 and "not a wildcard" in refused.output
