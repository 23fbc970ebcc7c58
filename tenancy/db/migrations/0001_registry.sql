-- The tenant registry. Tables live in schema `registry`, owned by the migration role.
-- Runtime access is through two roles that own nothing and cannot bypass RLS:
--   tenancy_app       the request path; sees only the tenant set for its transaction
--   tenancy_platform  the control plane; manages the tenant registry, never tenant data

CREATE SCHEMA registry;
GRANT USAGE ON SCHEMA registry TO tenancy_app, tenancy_platform;

-- The tenant of the current transaction, NULL when none is set. NULLIF matters: after a
-- transaction-local set_config ends the setting reads '' rather than NULL.
CREATE FUNCTION registry.current_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE TABLE registry.tenants (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{1,38}[a-z0-9])$'),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    domain text UNIQUE CHECK (domain = lower(domain) AND length(domain) <= 253),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    plan text NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
    limit_overrides jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(limit_overrides) = 'object'),
    settings jsonb NOT NULL
        DEFAULT '{"features": {}, "integrations": {}, "customizations": {}}'
        CHECK (jsonb_typeof(settings) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    legal_hold boolean NOT NULL DEFAULT false,
    CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);

-- Users are platform-wide identities (one person may belong to several tenants); what a user
-- may do inside a tenant lives in user_tenants, which is tenant-scoped.
CREATE TABLE registry.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL UNIQUE CHECK (email = lower(email)),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registry.user_tenants (
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    user_id uuid NOT NULL REFERENCES registry.users (id),
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    permissions text[] NOT NULL DEFAULT '{}',
    joined_at timestamptz NOT NULL DEFAULT now(),
    last_active timestamptz,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX user_tenants_user_idx ON registry.user_tenants (user_id);

CREATE TABLE registry.agents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    name text NOT NULL,
    status text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'running', 'stopped')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_tenant_idx ON registry.agents (tenant_id, created_at);

CREATE TABLE registry.documents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    name text NOT NULL,
    object_key text NOT NULL,
    size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_tenant_idx ON registry.documents (tenant_id, created_at);

-- Append-only and hash-chained per tenant. The trigger below assigns seq, created_at,
-- prev_hash and hash, so a caller can neither backdate an entry nor forge a link.
CREATE TABLE registry.audit_log (
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    seq bigint NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

-- The canonical text hashed for an entry. tenancy/audit.py recomputes it independently.
CREATE FUNCTION registry.audit_entry_hash(
    p_tenant uuid, p_seq bigint, p_actor text, p_action text, p_target text,
    p_details jsonb, p_created timestamptz, p_prev bytea
) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(convert_to(concat_ws(chr(31),
        p_tenant::text, p_seq::text, p_actor, p_action, p_target, p_details::text,
        to_char(p_created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        encode(p_prev, 'hex')), 'UTF8'))
$$;

CREATE FUNCTION registry.audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
BEGIN
    -- Serialize appenders of one tenant so two concurrent inserts cannot link to the same
    -- predecessor; the primary key on (tenant_id, seq) backs this up under any isolation level.
    PERFORM pg_advisory_xact_lock(hashtextextended('registry.audit_log:' || NEW.tenant_id::text, 0));
    SELECT seq, hash INTO last_seq, last_hash
      FROM registry.audit_log WHERE tenant_id = NEW.tenant_id ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, '\x'::bytea);
    NEW.created_at := clock_timestamp();
    NEW.hash := registry.audit_entry_hash(NEW.tenant_id, NEW.seq, NEW.actor, NEW.action,
                                          NEW.target, NEW.details, NEW.created_at, NEW.prev_hash);
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_chain BEFORE INSERT ON registry.audit_log
    FOR EACH ROW EXECUTE FUNCTION registry.audit_chain();

-- Row-level security: ENABLED and FORCED everywhere a row belongs to a tenant.
ALTER TABLE registry.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE registry.user_tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.user_tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE registry.agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.agents FORCE ROW LEVEL SECURITY;
ALTER TABLE registry.documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.documents FORCE ROW LEVEL SECURITY;
ALTER TABLE registry.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.audit_log FORCE ROW LEVEL SECURITY;

-- Request path: its own tenant row, its own tenant's data.
CREATE POLICY tenant_self ON registry.tenants FOR ALL TO tenancy_app
    USING (id = registry.current_tenant_id()) WITH CHECK (id = registry.current_tenant_id());
CREATE POLICY tenant_rows ON registry.user_tenants FOR ALL TO tenancy_app
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY tenant_rows ON registry.agents FOR ALL TO tenancy_app
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY tenant_rows ON registry.documents FOR ALL TO tenancy_app
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY tenant_rows ON registry.audit_log FOR ALL TO tenancy_app
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());

-- Control plane: the registry across tenants, memberships and the audit trail; no policy on
-- agents or documents, so tenant data stays invisible to it.
CREATE POLICY platform_all ON registry.tenants FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
CREATE POLICY platform_all ON registry.user_tenants FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
CREATE POLICY platform_all ON registry.audit_log FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);

GRANT SELECT, UPDATE (name, settings, updated_at) ON registry.tenants TO tenancy_app;
GRANT SELECT, INSERT ON registry.users TO tenancy_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON registry.user_tenants, registry.agents, registry.documents
    TO tenancy_app;
GRANT SELECT, INSERT ON registry.audit_log TO tenancy_app;

GRANT SELECT, INSERT, UPDATE ON registry.tenants TO tenancy_platform;
GRANT SELECT, INSERT ON registry.users TO tenancy_platform;
GRANT SELECT, INSERT, UPDATE, DELETE ON registry.user_tenants TO tenancy_platform;
GRANT SELECT, INSERT ON registry.audit_log TO tenancy_platform;
