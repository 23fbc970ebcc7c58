-- depends: 0002_platform_counts
-- Closes isolation holes found by an attack suite:
--   users        were readable across tenants by the request path (e-mail of every member)
--   agents, documents, user_tenants
--                took ids chosen by the request path, so a unique or foreign-key violation
--                told tenant A whether tenant B had a row with that id
--   audit_log    joined hashed fields with chr(31), so moving that character between fields
--                kept every hash; entries from now on use a length-prefixed encoding (v2)

-- Users: the request path sees only the members of its own tenant and creates no one
-- (identities are created by the control plane, which sees them all).
ALTER TABLE registry.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_members ON registry.users FOR SELECT TO tenancy_app
    USING (EXISTS (SELECT 1 FROM registry.user_tenants m
                   WHERE m.user_id = users.id AND m.tenant_id = registry.current_tenant_id()));
CREATE POLICY platform_all ON registry.users FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
REVOKE INSERT ON registry.users FROM tenancy_app;

-- Ids come from the database. The request path names only the columns below, so no insert
-- or update of its can collide with, or point at, another tenant's row.
REVOKE INSERT, UPDATE ON registry.agents, registry.documents, registry.user_tenants
    FROM tenancy_app;
GRANT INSERT (tenant_id, name, status), UPDATE (name, status) ON registry.agents TO tenancy_app;
GRANT INSERT (tenant_id, name, object_key, size_bytes), UPDATE (name, object_key, size_bytes)
    ON registry.documents TO tenancy_app;
-- Memberships are added by the control plane (a user id is another tenant's secret).
GRANT UPDATE (role, permissions, last_active) ON registry.user_tenants TO tenancy_app;

-- Audit hash v2: every field length-prefixed (netstring `<octets>:<bytes>,`), so no two
-- different entries encode to the same bytes. Entries already written keep v1.
ALTER TABLE registry.audit_log
    ADD COLUMN hash_version smallint NOT NULL DEFAULT 1 CHECK (hash_version IN (1, 2));
ALTER TABLE registry.audit_log ALTER COLUMN hash_version SET DEFAULT 2;

CREATE FUNCTION registry.audit_field(p bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT convert_to(length(p)::text || ':', 'UTF8') || p || '\x2c'::bytea $$;

-- The canonical bytes hashed for an entry. tenancy/audit_hash.py recomputes them independently.
CREATE FUNCTION registry.audit_entry_hash_v2(
    p_tenant uuid, p_seq bigint, p_actor text, p_action text, p_target text,
    p_details jsonb, p_created timestamptz, p_prev bytea
) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(
        registry.audit_field(convert_to('codexos-audit-v2', 'UTF8'))
        || registry.audit_field(convert_to(p_tenant::text, 'UTF8'))
        || registry.audit_field(convert_to(p_seq::text, 'UTF8'))
        || registry.audit_field(convert_to(p_actor, 'UTF8'))
        || registry.audit_field(convert_to(p_action, 'UTF8'))
        || registry.audit_field(convert_to(p_target, 'UTF8'))
        || registry.audit_field(convert_to(p_details::text, 'UTF8'))
        || registry.audit_field(convert_to(
               to_char(p_created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8'))
        || registry.audit_field(p_prev))
$$;

CREATE OR REPLACE FUNCTION registry.audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
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
    NEW.hash_version := 2;
    NEW.hash := registry.audit_entry_hash_v2(NEW.tenant_id, NEW.seq, NEW.actor, NEW.action,
                                             NEW.target, NEW.details, NEW.created_at,
                                             NEW.prev_hash);
    RETURN NEW;
END
$$;
