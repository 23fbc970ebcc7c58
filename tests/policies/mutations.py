"""A catalog of harmful edits to a rendered tenant stack, each naming the rule that must catch it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from infra.args import TenantStackArgs
from infra.render import RenderedResource
from policies import tokens as t

ADMIN = "arn:aws:iam::123456789012:role/codexos-platform-admin"


@dataclass(frozen=True)
class Mutation:
    name: str
    rule: str
    target: Callable[[RenderedResource], bool]  # which resource the edit touches
    edit: Callable[[RenderedResource], RenderedResource | None]  # None drops it
    applies: Callable[[TenantStackArgs], bool] = lambda args: True

    def apply(self, resources: list[RenderedResource]) -> tuple[list[RenderedResource], str]:
        out, touched = [], []
        for r in resources:
            if self.target(r):
                touched.append(r.name)
                edited = self.edit(r)
                if edited is None:
                    continue
                r = edited
            out.append(r)
        assert touched, f"{self.name}: no resource to edit"
        return out, touched[0]


def _doc(resource: RenderedResource, prop: str = "policy") -> dict[str, Any]:
    return dict(json.loads(resource.props[prop]))


def _with(resource: RenderedResource, **props: Any) -> RenderedResource:
    return replace(resource, props={**resource.props, **props})


def _policy_with(
    resource: RenderedResource, prop: str, change: Callable[[list[Any]], list[Any]]
) -> RenderedResource:
    document = _doc(resource, prop)
    document["Statement"] = change(list(document["Statement"]))
    return _with(resource, **{prop: json.dumps(document)})


def _widen_trust(r: RenderedResource) -> RenderedResource:
    def change(statements: list[Any]) -> list[Any]:
        issuer = next(iter(statements[0]["Condition"]["StringEquals"])).rsplit(":", 1)[0]
        return [
            {
                **statements[0],
                "Condition": {"StringLike": {f"{issuer}:sub": "system:serviceaccount:*:*"}},
            }
        ]

    return _policy_with(r, "assumeRolePolicy", change)


def _open_key(r: RenderedResource) -> RenderedResource:
    opened = {
        "Sid": "Anyone",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
    }
    return _policy_with(r, "policy", lambda s: [*s, opened])


def _drop_sse_denies(r: RenderedResource) -> RenderedResource:
    return _policy_with(
        r, "policy", lambda s: [x for x in s if not x.get("Sid", "").startswith("DenyPut")]
    )


def _pass_admin(r: RenderedResource) -> RenderedResource:
    hop = {
        "Sid": "Hop",
        "Effect": "Allow",
        "Action": ["iam:PassRole", "sts:AssumeRole"],
        "Resource": ADMIN,
    }
    return _policy_with(r, "policy", lambda s: [*s, hop])


def _egress_anywhere(r: RenderedResource) -> RenderedResource:
    spec = json.loads(json.dumps(r.props["spec"]))
    spec["egress"][0]["to"] = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    return _with(r, spec=spec)


def _privileged(r: RenderedResource) -> RenderedResource:
    meta = r.props["metadata"]
    labels = {**meta["labels"], "pod-security.kubernetes.io/enforce": "privileged"}
    return _with(r, metadata={**meta, "labels": labels})


def _redis(extra: str) -> Callable[[RenderedResource], RenderedResource]:
    return lambda r: _with(r, rules=[*r.props["rules"], extra])


def _is(type_: str, suffix: str = "") -> Callable[[RenderedResource], bool]:
    return lambda r: r.type == type_ and r.name.endswith(suffix)


def _dedicated(args: TenantStackArgs) -> bool:
    return args.dedicated_bucket


def _stopped_but_running(r: RenderedResource) -> RenderedResource:
    meta = r.props["metadata"]
    spec = {**r.props["spec"], "replicas": 3}
    return _with(
        r, metadata={**meta, "labels": {**meta["labels"], "tenant-status": "suspended"}}, spec=spec
    )


def _privileged_container(r: RenderedResource) -> RenderedResource:
    spec = json.loads(json.dumps(r.props["spec"]))
    spec["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    return _with(r, spec=spec)


def _route_to_port_80(r: RenderedResource) -> RenderedResource:
    spec = json.loads(json.dumps(r.props["spec"]))
    spec["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {"number": 80}
    return _with(r, spec=spec)


def _serves_domains(args: TenantStackArgs) -> bool:
    return bool(args.verified_domains) and not args.stopped


CATALOG = (
    Mutation("irsa-trust-wildcard-sub-no-aud", "irsa-trust-pinned", _is(t.IAM_ROLE), _widen_trust),
    Mutation(
        "key-policy-principal-star-kms-star", "kms-key-policy-scoped", _is(t.KMS_KEY), _open_key
    ),
    Mutation(
        "sse-kms-deny-removed",
        "sse-kms-denies-present",
        _is(t.IAM_ROLE_POLICY, "-role-policy"),
        _drop_sse_denies,
    ),
    Mutation(
        "passrole-assumerole-on-admin",
        "iam-no-escalation",
        _is(t.IAM_ROLE_POLICY, "-role-policy"),
        _pass_admin,
    ),
    Mutation(
        "bucket-versioning-removed",
        "dedicated-bucket-kept",
        _is(t.BUCKET_VERSIONING),
        lambda r: None,
        _dedicated,
    ),
    Mutation(
        "bucket-lifecycle-removed",
        "dedicated-bucket-kept",
        _is(t.BUCKET_LIFECYCLE),
        lambda r: None,
        _dedicated,
    ),
    Mutation(
        "bucket-policy-removed",
        "dedicated-bucket-kept",
        _is(t.BUCKET_POLICY),
        lambda r: None,
        _dedicated,
    ),
    Mutation(
        "bucket-unprotected",
        "tenant-data-protected",
        _is(t.BUCKET),
        lambda r: replace(r, protect=False),
        _dedicated,
    ),
    Mutation(
        "key-unprotected",
        "tenant-data-protected",
        _is(t.KMS_KEY),
        lambda r: replace(r, retain_on_delete=False),
    ),
    Mutation(
        "egress-to-anywhere",
        "egress-narrow",
        _is(t.NETWORK_POLICY, "-netpol-egress"),
        _egress_anywhere,
    ),
    Mutation("pod-security-privileged", "pod-security-restricted", _is(t.NAMESPACE), _privileged),
    Mutation(
        "service-account-token-on",
        "service-account-no-token",
        _is(t.SERVICE_ACCOUNT),
        lambda r: _with(r, automountServiceAccountToken=True),
    ),
    Mutation(
        "redis-allchannels",
        "redis-acl-allow-list",
        _is(t.DYNAMIC, "-redis-user"),
        _redis("allchannels"),
    ),
    Mutation(
        "redis-plus-all", "redis-acl-allow-list", _is(t.DYNAMIC, "-redis-user"), _redis("+@all")
    ),
    Mutation(
        "redis-allkeys", "redis-acl-allow-list", _is(t.DYNAMIC, "-redis-user"), _redis("allkeys")
    ),
    Mutation(
        "redis-every-key", "redis-acl-allow-list", _is(t.DYNAMIC, "-redis-user"), _redis("~*")
    ),
    Mutation(
        "redis-every-channel", "redis-acl-allow-list", _is(t.DYNAMIC, "-redis-user"), _redis("&*")
    ),
    Mutation(
        "suspended-workload-still-running",
        "workload-stopped-and-restricted",
        _is(t.DEPLOYMENT),
        _stopped_but_running,
    ),
    Mutation(
        "privileged-container",
        "workload-stopped-and-restricted",
        _is(t.DEPLOYMENT),
        _privileged_container,
    ),
    Mutation(
        "route-backend-service-removed",
        "route-backend-rendered",
        _is(t.SERVICE),
        lambda r: None,
        _serves_domains,
    ),
    Mutation(
        "route-backend-port-not-exposed",
        "route-backend-rendered",
        _is(t.INGRESS),
        _route_to_port_80,
        _serves_domains,
    ),
)
