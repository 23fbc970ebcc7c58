"""The `tenancy members`, `tenancy tenants settings|features` and `tenancy plans check`
commands against a real registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from tenancy.cli.main import app
from tenancy.db.bootstrap import RegistryUrls
from tenancy.db.session import Database
from tenancy.feature_refs import refs_in_source
from tenancy.invitations import invite
from tenancy.members import Actor
from tests.db.factories import make_tenant

runner = CliRunner()


def run(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_members_commands(cli_env: RegistryUrls, db: Database) -> None:
    acme = make_tenant(db, "acme")
    invited = run("members", "invite", "bob@example.com", "--tenant", "acme", "--role", "admin")
    assert invited["email"] == "bob@example.com" and invited["state"] == "pending"
    assert "token" not in json.dumps(invited), "the token goes out by e-mail only"
    token = invite(db, acme.tenant.id, Actor.platform(), "carol@example.com").token
    joined = run("members", "accept", token)
    assert joined["state"] == "accepted" and joined["email"] == "carol@example.com"

    listed = run("members", "list", "--tenant", "acme")
    assert {m["email"]: m["role"] for m in listed["members"]} == {
        "owner@acme.example.com": "owner",
        "carol@example.com": "member",
    }
    assert [i["email"] for i in listed["invitations"]] == ["bob@example.com"]
    as_carol = run("members", "list", "--tenant", "acme", "--as", "carol@example.com")
    assert as_carol["invitations"] == [], "a member does not see invitations"

    resent = run("members", "resend", invited["id"], "--tenant", "acme")
    assert resent["sent_count"] == 2
    assert run("members", "revoke", invited["id"], "--tenant", "acme")["state"] == "revoked"
    changed = run(
        "members", "set-role", "carol@example.com", "--role", "viewer", "--tenant", "acme"
    )
    assert changed == {"email": "carol@example.com", "from": "member", "to": "viewer"}
    assert run("members", "leave", "carol@example.com", "--tenant", "acme")["left"] is True

    refused = runner.invoke(
        app, ["members", "remove", "owner@acme.example.com", "--tenant", "acme"]
    )
    assert refused.exit_code == 1
    assert "would leave tenant acme without an owner" in str(refused.exception)
    denied = runner.invoke(
        app, ["members", "invite", "x@example.com", "--tenant", "acme", "--as", "nobody@x.com"]
    )
    assert denied.exit_code == 1 and "user nobody@x.com not found" in str(denied.exception)


def test_settings_and_features_commands(cli_env: RegistryUrls, db: Database) -> None:
    make_tenant(db, "acme", plan="free")
    stored = run(
        "tenants", "settings", "set", "acme", "customizations.locale=en-US", "features.agents=true"
    )
    assert stored["customizations"] == {"locale": "en-US"} and stored["features"] == {
        "agents": True
    }
    assert run("tenants", "settings", "get", "acme")["customizations"] == {"locale": "en-US"}
    bad = runner.invoke(app, ["tenants", "settings", "set", "acme", "customizations.font=x"])
    assert bad.exit_code == 1 and "settings `customizations.font` is 'x'" in str(bad.exception)

    granted = run("tenants", "features", "grant", "acme", "sso", "--reason", "pilot")
    assert granted == {"overrides": {"sso": True}}
    shown = {f["feature"]: f for f in run("tenants", "features", "show", "acme")["features"]}
    assert shown["sso"] == {"feature": "sso", "available": True, "source": "override"}
    assert shown["custom_domain"]["available"] is False


def test_plans_check_finds_features_in_no_plan(
    cli_env: RegistryUrls, db: Database, tmp_path: Path, superuser: psycopg.Connection
) -> None:
    code = tmp_path / "tenancy"
    code.mkdir()
    (code / "routes.py").write_text(
        "from tenancy.web.features import requires_feature\n"
        "# requires_feature('in_a_comment') does not count\n"
        "a = requires_feature('sso')\n"
        "b = requires_feature(feature='time_travel')\n"
        "c = is_entitled(plan, overrides, 'teleport')\n"
    )
    result = runner.invoke(app, ["plans", "check", "--code-root", str(tmp_path), "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.output)["problems"]
    assert [p.split(": feature")[0] for p in problems] == [
        "tenancy/routes.py:4",
        "tenancy/routes.py:5",
    ]
    assert "feature `time_travel` is in no plan; expected one of: agents," in problems[0]

    (code / "routes.py").write_text("a = requires_feature('sso')\n")
    assert runner.invoke(app, ["plans", "check", "--code-root", str(tmp_path)]).exit_code == 0
    acme = make_tenant(db, "acme")
    superuser.execute(  # a plan that dropped a feature leaves its override behind
        "INSERT INTO registry.feature_overrides VALUES (%s, 'retired', true, 'x', 'x', now())",
        (acme.tenant.id,),
    )
    stale = runner.invoke(
        app, ["plans", "check", "--code-root", str(tmp_path), "--registry", "--json"]
    )
    assert stale.exit_code == 1
    assert json.loads(stale.output)["problems"] == [
        "registry: tenant acme: override names feature `retired`, which is in no plan"
    ]


def test_the_project_code_names_only_features_of_the_catalog() -> None:
    refs = refs_in_source("x = requires_feature('sso')\ny = f(feature='z')\n", "m.py")
    assert [(r.feature, r.line) for r in refs] == [("sso", 1)]
    result = runner.invoke(app, ["plans", "check"])
    assert result.exit_code == 0, result.output
