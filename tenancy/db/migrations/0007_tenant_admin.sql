-- depends: 0005_lifecycle
-- Tenant administration: invitations, per-tenant feature overrides, and what the request path
-- needs to manage its own members (a tenant's administrators act through the request path,
-- under the tenant's row-level security; accepting an invitation is the control plane's job,
-- since the invitee is not yet a member of anything).

-- Invitations. The token is never stored: `token_hash` is SHA-256 of its secret part, and the
-- invitation's id is the lookup key, so the secret is compared in constant time in Python.
CREATE TABLE registry.invitations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    email text NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
    invited_by text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    sent_count integer NOT NULL DEFAULT 1 CHECK (sent_count >= 1),
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'accepted', 'declined', 'revoked', 'expired')),
    resolved_at timestamptz,
    CHECK ((state = 'pending') = (resolved_at IS NULL)),
    CHECK (expires_at > created_at)
);
-- One open invitation per address and tenant.
CREATE UNIQUE INDEX invitations_pending_email_idx ON registry.invitations (tenant_id, email)
    WHERE state = 'pending';
ALTER TABLE registry.invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.invitations FOR ALL TO tenancy_app
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.invitations FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
-- A purge (the owner's SECURITY DEFINER functions) reaches one tenant at a time.
CREATE POLICY lifecycle ON registry.invitations FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
-- Ids come from the database; the request path names only these columns.
GRANT SELECT, INSERT (tenant_id, email, role, token_hash, invited_by, created_at, expires_at),
    UPDATE (token_hash, expires_at, sent_count, state, resolved_at)
    ON registry.invitations TO tenancy_app;
GRANT SELECT, INSERT, UPDATE ON registry.invitations TO tenancy_platform;

-- Features granted (granted = true) or withdrawn (false) for one tenant beside its plan. Set by
-- the control plane only; the request path reads its own.
CREATE TABLE registry.feature_overrides (
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    feature text NOT NULL CHECK (feature ~ '^[a-z][a-z0-9_]*$'),
    granted boolean NOT NULL,
    reason text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    set_by text NOT NULL,
    set_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, feature)
);
ALTER TABLE registry.feature_overrides ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.feature_overrides FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.feature_overrides FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.feature_overrides FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
CREATE POLICY lifecycle ON registry.feature_overrides FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
GRANT SELECT ON registry.feature_overrides TO tenancy_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON registry.feature_overrides TO tenancy_platform;

-- The outbox carries the welcome message and invitations too. The request path may queue an
-- invitation for its own tenant, nothing else.
ALTER TABLE registry.notification_outbox DROP CONSTRAINT notification_outbox_kind_check;
ALTER TABLE registry.notification_outbox ADD CONSTRAINT notification_outbox_kind_check
    CHECK (kind IN ('suspended', 'reactivated', 'deleted', 'restored', 'export_ready', 'purged',
                    'welcome', 'invitation'));
-- FOR ALL with both clauses, though only INSERT is granted: a policy never lacks either.
CREATE POLICY tenant_invitations ON registry.notification_outbox FOR ALL TO tenancy_app
    USING (tenant_id = registry.current_tenant_id() AND kind = 'invitation')
    WITH CHECK (tenant_id = registry.current_tenant_id() AND kind = 'invitation');
GRANT INSERT (tenant_id, kind, recipient, subject, body, message_id, created_at, next_attempt_at)
    ON registry.notification_outbox TO tenancy_app;

-- A purge removes invitations (they hold e-mail addresses) and overrides with the tenant's
-- other rows: the tenant row turning `purged` fires this, in the purge's own transaction.
CREATE FUNCTION registry.purge_admin_rows() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bound text := coalesce(current_setting('app.tenant_id', true), '');
BEGIN
    PERFORM set_config('app.tenant_id', NEW.id::text, true);
    DELETE FROM registry.invitations WHERE tenant_id = NEW.id;
    DELETE FROM registry.feature_overrides WHERE tenant_id = NEW.id;
    PERFORM set_config('app.tenant_id', bound, true);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION registry.purge_admin_rows() FROM PUBLIC;
CREATE TRIGGER purge_admin_rows AFTER UPDATE OF status ON registry.tenants
    FOR EACH ROW WHEN (NEW.status = 'purged' AND OLD.status IS DISTINCT FROM 'purged')
    EXECUTE FUNCTION registry.purge_admin_rows();

-- An invitation's code is in its message body only until the mail server has it (or refused
-- it for good): then the body keeps everything but the code.
CREATE FUNCTION registry.scrub_invitation_code() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.body := regexp_replace(NEW.body, 'Your invitation code: \S+',
                               'Your invitation code: (removed after delivery)');
    RETURN NEW;
END
$$;
CREATE TRIGGER scrub_invitation_code BEFORE UPDATE OF state ON registry.notification_outbox
    FOR EACH ROW WHEN (NEW.kind = 'invitation' AND NEW.state IN ('sent', 'failed'))
    EXECUTE FUNCTION registry.scrub_invitation_code();
