-- depends: 0009_domains
-- A purge also empties the tenant's notification outbox: queued and sent messages hold e-mail
-- addresses (owners, invitees) and, until delivery, invitation codes and domain tokens, and an
-- undelivered message about a tenant that no longer exists must not go out. The one message
-- kept is the `purged` notice itself, which has to reach the owners. It also closes the
-- tenant's open storage move (its objects are being deleted) and drops the move's object
-- ledger (object keys and digests of the tenant's data).
CREATE POLICY lifecycle ON registry.notification_outbox FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY lifecycle ON registry.storage_moves FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY lifecycle ON registry.storage_move_objects FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());

CREATE OR REPLACE FUNCTION registry.purge_admin_rows() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bound text := coalesce(current_setting('app.tenant_id', true), '');
BEGIN
    PERFORM set_config('app.tenant_id', NEW.id::text, true);
    DELETE FROM registry.invitations WHERE tenant_id = NEW.id;
    DELETE FROM registry.feature_overrides WHERE tenant_id = NEW.id;
    DELETE FROM registry.notification_outbox WHERE tenant_id = NEW.id AND kind <> 'purged';
    UPDATE registry.storage_moves SET state = 'done', finished_at = now()
        WHERE tenant_id = NEW.id AND state <> 'done';
    DELETE FROM registry.storage_move_objects WHERE tenant_id = NEW.id;
    PERFORM set_config('app.tenant_id', bound, true);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION registry.purge_admin_rows() FROM PUBLIC;
