"""Guardrail cases for Redis ACL users, self-managed and ElastiCache: policies/redis_rules.py."""

from __future__ import annotations

from policies import tokens as t
from tests.policies.tenant_under_test import TENANT, Cases

ACL = {
    "username": f"tenant-{TENANT}",
    "rules": ["resetkeys", f"~tenant:{TENANT}:*", "-@all", "+get", "+set"],
}

REDIS_CASES: Cases = {
    "redis-acl-allow-list": (
        t.DYNAMIC,
        ACL,
        {**ACL, "rules": [f"~tenant:{TENANT}:*", "-@all", "+get", "+flushall", "+function|flush"]},
        "grants forbidden commands or categories: flushall, function|flush",
    ),
    "elasticache-acl-allow-list": (
        t.ELASTICACHE_USER,
        {"accessString": f"on ~tenant:{TENANT}:* &tenant:{TENANT}:* -@all +get"},
        {"accessString": f"on ~tenant:{TENANT}:* allchannels -@all +get"},
        "opens everything with allchannels",
    ),
}
