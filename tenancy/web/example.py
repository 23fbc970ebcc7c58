"""The example service from the product spec: `/agents` and `/agents/{agent_id}` behind
`TenancyMiddleware`, reading through the registry's tenant-scoped functions.

    make example      # local profile: the demo's throwaway registry and Redis, port 8000
    curl -H 'x-tenant-id: <tenant id>' -H 'x-user-id: <member user id>' localhost:8000/agents

Redis is one server, or with `TENANCY_REDIS_CLUSTER=true` a Redis Cluster reached from the
node `TENANCY_REDIS_URL` names; usage goes to the tenant's shard of the stream, with the same
`TENANCY_USAGE_SHARDS` as the pipeline. Usage events Redis cannot take (it is down, a cluster
primary is being replaced) go to a local spool in `TENANCY_USAGE_SPOOL_DIR` and are replayed
once Redis answers (`tenancy.usage.spool`).

In front of it, an authentication layer verifies the caller's token and sets `x-user-id` (and
`x-tenant-id`, or the request arrives on the tenant's host name); the edge strips both
headers from client requests.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from tenancy.activity import ActivityTracker
from tenancy.agents import get_agent, list_agents
from tenancy.circuit import CircuitBreaker, guard_client
from tenancy.db.session import Database
from tenancy.errors import ConfigurationError
from tenancy.metrics import TenancyMetrics
from tenancy.plans import PlanCatalog, default_catalog
from tenancy.ratelimit import RateLimiter
from tenancy.redis_connect import CLUSTER_VARIABLE, cluster_mode
from tenancy.settings import Settings
from tenancy.tenant import Tenant
from tenancy.usage.recorder import UsageRecorder
from tenancy.usage.shards import shard_count
from tenancy.usage.spool import SPOOL_VARIABLE, Spool
from tenancy.usage.spooling_recorder import SpoolingRecorder
from tenancy.web.admin_routes import router as admin_router
from tenancy.web.deps import current_tenant, current_user, get_by_id_and_tenant
from tenancy.web.directory import TenantDirectory
from tenancy.web.middleware import TenancyMiddleware
from tenancy.web.resolve import FirstOf, HeaderResolver, HostResolver

CurrentTenant = Annotated[Tenant, Depends(current_tenant)]


@dataclass(frozen=True)
class ServiceConfig:
    app_database_url: str
    platform_database_url: str
    redis_url: str
    platform_domain: str = "codexos.example"
    catalog: PlanCatalog | None = None
    usage_shards: int = 1  # TENANCY_USAGE_SHARDS: the same N as the pipeline's
    redis_cluster: bool = False  # TENANCY_REDIS_CLUSTER: redis_url names a node of a cluster
    #: TENANCY_USAGE_SPOOL_DIR: where usage events wait while Redis is unreachable. None (only
    #: when built in code; `service_config` always sets it): such an event is lost, an error.
    usage_spool_dir: Path | None = None


def service_config(environ: Mapping[str, str]) -> ServiceConfig:
    """The service's configuration from the environment: the registry and Redis (or, in the
    local profile, the local stack's), the cluster mode, the usage shard count and the usage
    spool directory (local profile default: `<run dir>/usage-spool`)."""
    from tenancy.cli.context import registry_urls
    from tenancy.devstack.stack import LocalStack

    settings = Settings.from_env(environ)
    cluster = cluster_mode(environ)
    shards = shard_count(environ)
    redis_url = settings.redis()
    spool_dir = settings.path(
        SPOOL_VARIABLE,
        "usage-spool",
        "a writable directory on durable storage where usage events wait while Redis is "
        "unreachable",
    )
    if redis_url is None and cluster:
        raise ConfigurationError(
            f"{CLUSTER_VARIABLE} is set but TENANCY_REDIS_URL is not; expected the URL of a "
            "node of the Redis Cluster (the local stack runs a single server)"
        )
    urls = registry_urls(settings)
    redis_url = redis_url or LocalStack(settings.run_dir).up().redis_url
    return ServiceConfig(
        urls.app,
        urls.platform,
        redis_url,
        usage_shards=shards,
        redis_cluster=cluster,
        usage_spool_dir=spool_dir,
    )


def create_app(config: ServiceConfig) -> FastAPI:
    db = Database(config.app_database_url, config.platform_database_url, max_size=8)
    client = guard_client(config.redis_url, cluster=config.redis_cluster)
    metrics = TenancyMetrics()
    to_redis = UsageRecorder(client, shards=config.usage_shards)
    # One breaker per Redis node for the limiter and the recorder: once a call finds a node
    # down, the others skip it for the cooldown instead of each paying a connect timeout.
    breaker = CircuitBreaker()
    recorder: UsageRecorder | SpoolingRecorder = to_redis
    if config.usage_spool_dir is not None:
        recorder = SpoolingRecorder(
            to_redis, Spool(config.usage_spool_dir), metrics, breaker=breaker
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if isinstance(recorder, SpoolingRecorder):
            recorder.start()  # its first round replays what stopped processes left
        yield
        if isinstance(recorder, SpoolingRecorder):
            recorder.stop()
        db.close()

    app = FastAPI(title="CodexOS example service", lifespan=lifespan)
    app.state.db = db
    app.state.usage_recorder = recorder

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/agents")
    def agents(tenant: CurrentTenant, request: Request) -> list[dict[str, Any]]:
        return [_agent_json(a) for a in list_agents(request.app.state.db, tenant.id)]

    @app.get("/agents/{agent_id}")
    def agent(
        agent_id: str,
        tenant: CurrentTenant,
        request: Request,
        user: Annotated[object, Depends(current_user)],
    ) -> dict[str, Any]:
        found = get_by_id_and_tenant(get_agent, request.app.state.db, agent_id, tenant)
        return _agent_json(found)

    app.include_router(admin_router)
    app.add_middleware(
        TenancyMiddleware,
        directory=TenantDirectory(db),
        limiter=RateLimiter(client, metrics=metrics, breaker=breaker),
        catalog=config.catalog or default_catalog(),
        resolver=FirstOf([HeaderResolver(), HostResolver(config.platform_domain)]),
        recorder=recorder,
        metrics=metrics,
        activity=ActivityTracker(db, client),
    )

    return app


def _agent_json(agent: Any) -> dict[str, Any]:
    return {
        "id": str(agent.id),
        "tenant_id": str(agent.tenant_id),
        "name": agent.name,
        "status": agent.status,
        "created_at": agent.created_at.isoformat(),
    }


def main() -> None:
    """Serve on 127.0.0.1:8000: the configured registry and Redis, or (local profile) the
    local stack's."""
    import uvicorn

    app = create_app(service_config(os.environ))
    uvicorn.run(app, host="127.0.0.1", port=8000, log_level="info")


if __name__ == "__main__":
    main()
