-- depends: 0001_registry
-- The usage pipeline counts each tenant's agents for quotas. The control plane may see that
-- an agent row exists (its id and tenant) but none of its contents.
GRANT SELECT (id, tenant_id) ON registry.agents TO tenancy_platform;
CREATE POLICY platform_count ON registry.agents FOR SELECT TO tenancy_platform USING (true);
