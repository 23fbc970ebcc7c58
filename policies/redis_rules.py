"""Guardrails for the tenant's Redis ACL user: its own key pattern and no dangerous command."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from policies import tokens as t
from policies.rule import ResourceRule
from policies.unknowns import is_unknown

FORBIDDEN = {
    "keys",
    "scan",
    "flushall",
    "flushdb",
    "config",
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
    "function",
    "script",
    "debug",
    "shutdown",
    "acl",
    "module",
    "migrate",
    "restore",
    "psubscribe",
    "monitor",
    "replicaof",
    "slaveof",
}
_KEYS = re.compile(r"~tenant:[0-9a-f-]{36}:\*")
_CHANNELS = re.compile(r"&tenant:[0-9a-f-]{36}:\*")
#: Rules that open everything at once, whatever else the list says.
WIDE_OPEN = {"allkeys", "allchannels", "allcommands", "nopass", "+@all", "~*", "&*", "%RW~*"}


def _acl(props: dict[str, Any]) -> Iterable[str]:
    rules = props.get("rules")
    if rules is None:  # another kind of dynamic resource
        return
    rules = [str(r) for r in rules]
    yield from acl_rule_defects(rules)


def acl_rule_defects(rules: list[str]) -> Iterable[str]:
    """What is wrong with a tenant user's ACL rules (a SETUSER list or an access string)."""
    wide = sorted(r for r in rules if r.lower() in {w.lower() for w in WIDE_OPEN})
    if wide:
        yield f"opens everything with {', '.join(wide)}"
    channel_rules = [r for r in rules if r.startswith("&") or r == "allchannels"]
    if any(not _CHANNELS.fullmatch(r) for r in channel_rules):
        yield f"channel patterns {channel_rules}; expected only &tenant:<id>:*"
    key_rules = [r for r in rules if r.startswith("~") or r.startswith("%") or r == "allkeys"]
    if not key_rules or any(not _KEYS.fullmatch(r) for r in key_rules):
        yield f"key patterns {key_rules}; expected exactly ~tenant:<id>:*"
    if "-@all" not in rules:
        yield "rules do not start from -@all; expected an explicit allow-list"
    granted = {r[1:].lower() for r in rules if r.startswith("+")}
    bad = sorted(c for c in granted if c.split("|")[0] in FORBIDDEN or c.startswith("@"))
    if bad:
        yield f"grants forbidden commands or categories: {', '.join(bad)}"


def _elasticache(props: dict[str, Any]) -> Iterable[str]:
    access = props.get("accessString")
    if not isinstance(access, str) or is_unknown(access):
        return
    rules = access.split()
    if not rules or rules[0] not in ("on", "off"):
        yield "access string does not start with on or off"
    if any(r.startswith("reset") for r in rules):
        yield "access string contains reset (ElastiCache refuses it)"
    yield from acl_rule_defects([r for r in rules if r not in ("on", "off")])


RESOURCE_RULES = (
    ResourceRule(
        "elasticache-acl-allow-list",
        "Tenant ElastiCache users have the same allow-list as self-managed ones, as an access "
        "string that starts with on/off and has no reset.",
        "build it with infra.data_plane.access_string",
        (t.ELASTICACHE_USER,),
        _elasticache,
    ),
    ResourceRule(
        "redis-acl-allow-list",
        "Tenant Redis users reach only tenant:<id>:* keys through an explicit command allow-list.",
        "build the rules with tenancy.redis_acl.acl_rules",
        (t.DYNAMIC,),
        _acl,
    ),
)
