"""The request path as an application runs it: one ASGI middleware (`TenancyMiddleware`) that
resolves the tenant, checks membership, rate limits, enforces hard quotas, records usage and
serves `/metrics`; FastAPI dependencies for endpoints (`tenancy.web.deps`)."""
