"""The domain ownership checks, recorded on each domain's registry row."""

from collections import Counter

import dagster as dg

from pipelines.domains.resources import DomainCheckSettings
from pipelines.resources import RegistryResource
from tenancy.domains import recheck_open


@dg.asset(group_name="domains", kinds={"postgres"})
def domain_ownership_checks(
    context: dg.AssetExecutionContext, registry: RegistryResource, domains: DomainCheckSettings
) -> dg.MaterializeResult:  # type: ignore[type-arg]  # Dagster reads the bare annotation
    """Every pending and proven custom domain looked up in DNS: its result and any change of
    state (verified, active, failed, revoked after the grace period, expired) written to its
    registry row with an audit entry. A resolver failure changes no domain."""
    with registry.database() as db:
        outcomes = recheck_open(db, domains.settings())
    results = Counter(o.check.result.value if o.check else "skipped" for o in outcomes)
    changes = [
        f"{o.domain.domain}: {o.previous.value} -> {o.domain.status.value}"
        for o in outcomes
        if o.changed
    ]
    for change in changes:
        context.log.info(change)
    return dg.MaterializeResult(
        metadata={
            "checked": len(outcomes),
            **{f"result_{name}": count for name, count in sorted(results.items())},
            "changes": dg.MetadataValue.md("\n".join(f"- {c}" for c in changes) or "none"),
            "revoked": sum(o.changed and o.domain.status.value == "revoked" for o in outcomes),
        }
    )
