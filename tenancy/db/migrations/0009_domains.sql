-- depends: 0007_tenant_admin 0008_storage_moves
-- Custom domains: a tenant's claim on a host name, proven by a DNS TXT record.
--
-- The control plane (tenancy_platform) writes every row; the request path (tenancy_app) may
-- only read its own tenant's rows. A tenant that could insert would learn, from a unique
-- violation, that another tenant holds a name.
--
--   pending   token issued, not yet proven (expires after 7 days -> expired)
--   verified  the TXT record matched; the stack serves the domain from now on
--   active    verified and confirmed again by a later scheduled check
--   failed    verified or active, but the record was missing or wrong at the last check;
--             still served until the grace period ends, then revoked
--   revoked   ownership lapsed (record gone past the grace period); no longer served
--   expired   pending whose token expired unproven
--   released  removed by the tenant, or the tenant was purged
-- A name is held (unique across tenants) only while verified, active or failed: a pending
-- claim holds nothing, so no tenant can squat a name it cannot prove.

CREATE TABLE registry.domains (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    domain text NOT NULL CHECK (domain = lower(domain) AND length(domain) BETWEEN 3 AND 253
                                AND domain NOT LIKE '%.' AND position('*' IN domain) = 0),
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'verified', 'active', 'failed', 'revoked', 'expired',
                          'released')),
    token_sha256 bytea NOT NULL CHECK (length(token_sha256) = 32),
    token_expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    verified_at timestamptz,
    missing_since timestamptz,
    released_at timestamptz,
    last_checked_at timestamptz,
    last_result text CHECK (last_result IN ('match', 'mismatch', 'missing', 'error')),
    last_detail text,
    CHECK ((status IN ('verified', 'active', 'failed')) <= (verified_at IS NOT NULL)),
    CHECK ((status = 'failed') = (missing_since IS NOT NULL)),
    CHECK ((status = 'released') = (released_at IS NOT NULL))
);
-- One tenant per name while it is held; one open claim per tenant and name.
CREATE UNIQUE INDEX domains_held_uidx ON registry.domains (domain)
    WHERE status IN ('verified', 'active', 'failed');
CREATE UNIQUE INDEX domains_open_claim_uidx ON registry.domains (tenant_id, domain)
    WHERE status IN ('pending', 'verified', 'active', 'failed');
CREATE INDEX domains_due_idx ON registry.domains (last_checked_at NULLS FIRST)
    WHERE status IN ('pending', 'verified', 'active', 'failed');

ALTER TABLE registry.domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.domains FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.domains FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.domains FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
GRANT SELECT ON registry.domains TO tenancy_app;
GRANT SELECT, INSERT, UPDATE ON registry.domains TO tenancy_platform;

-- The owner hears the token through the outbox.
ALTER TABLE registry.notification_outbox DROP CONSTRAINT notification_outbox_kind_check;
ALTER TABLE registry.notification_outbox ADD CONSTRAINT notification_outbox_kind_check
    CHECK (kind IN ('suspended', 'reactivated', 'deleted', 'restored', 'export_ready',
                    'purged', 'welcome', 'invitation', 'domain_token'));
