-- depends: 0003_isolation_holes
-- Tenant lifecycle: suspend / reactivate, soft delete / restore, purge (hard delete), legal
-- hold, and the deletion record that outlives a purge.
--
-- The control plane still never sees tenant data: what a transition must do to agents and
-- documents is done by the SECURITY DEFINER functions below, which act on one tenant only,
-- and only when the tenant's status allows it.

ALTER TABLE registry.tenants DROP CONSTRAINT tenants_status_check;
ALTER TABLE registry.tenants ADD CONSTRAINT tenants_status_check
    CHECK (status IN ('active', 'suspended', 'deleted', 'purged'));
ALTER TABLE registry.tenants DROP CONSTRAINT tenants_check;
ALTER TABLE registry.tenants
    ADD COLUMN suspension_reason text CHECK (length(btrim(suspension_reason)) BETWEEN 1 AND 500),
    ADD COLUMN legal_hold_reason text CHECK (length(btrim(legal_hold_reason)) BETWEEN 1 AND 500),
    ADD COLUMN purged_at timestamptz,
    ADD CONSTRAINT tenants_deleted_at_check
        CHECK ((status IN ('deleted', 'purged')) = (deleted_at IS NOT NULL)),
    ADD CONSTRAINT tenants_purged_at_check CHECK ((status = 'purged') = (purged_at IS NOT NULL)),
    -- A deleted tenant keeps the reason it was suspended for, so a restore returns it there.
    ADD CONSTRAINT tenants_suspension_check CHECK (
        (status <> 'suspended' OR suspension_reason IS NOT NULL)
        AND (status <> 'active' OR suspension_reason IS NULL)),
    ADD CONSTRAINT tenants_legal_hold_check CHECK (legal_hold = (legal_hold_reason IS NOT NULL));

-- Agents stopped by a suspension, so that reactivation restarts exactly those.
ALTER TABLE registry.agents ADD COLUMN stopped_by_suspension boolean NOT NULL DEFAULT false;

-- What a purge removed, kept after the tenant's data is gone. No personal data: counts, times,
-- digests.
CREATE TABLE registry.tenant_deletions (
    tenant_id uuid PRIMARY KEY REFERENCES registry.tenants (id),
    slug text NOT NULL,
    plan text NOT NULL,
    deleted_at timestamptz NOT NULL,
    purged_at timestamptz NOT NULL,
    actor text NOT NULL,
    forced boolean NOT NULL,
    removed jsonb NOT NULL CHECK (jsonb_typeof(removed) = 'object'),
    export_manifest_sha256 text CHECK (export_manifest_sha256 ~ '^[0-9a-f]{64}$'),
    audit_head_seq bigint NOT NULL,
    audit_head_hash bytea NOT NULL
);
ALTER TABLE registry.tenant_deletions ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.tenant_deletions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.tenant_deletions FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.tenant_deletions FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
-- Append-only: a deletion record is evidence.
GRANT SELECT, INSERT ON registry.tenant_deletions TO tenancy_platform;

-- The functions below run as the owner, which FORCE'd RLS confines too: these policies let it
-- reach one tenant at a time, the one the function binds for its transaction.
CREATE POLICY lifecycle ON registry.agents FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY lifecycle ON registry.documents FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY lifecycle ON registry.user_tenants FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY lifecycle ON registry.tenants FOR SELECT TO tenancy_owner
    USING (id = registry.current_tenant_id());
-- Which users still belong to some tenant (a purge removes those it leaves with none).
CREATE POLICY lifecycle_members ON registry.user_tenants FOR SELECT TO tenancy_owner
    USING (true);
-- Users who belong to no tenant any more (the purged tenant was their last).
CREATE POLICY lifecycle ON registry.users FOR ALL TO tenancy_owner
    USING (NOT EXISTS (SELECT 1 FROM registry.user_tenants m WHERE m.user_id = users.id))
    WITH CHECK (false);

-- Stop (p_stop) or restart the tenant's agents; returns how many changed. Suspension stops
-- every agent not already stopped and marks it; reactivation returns only those to idle.
CREATE FUNCTION registry.lifecycle_agents(p_tenant uuid, p_stop boolean) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed integer;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    IF p_stop THEN
        UPDATE registry.agents SET status = 'stopped', stopped_by_suspension = true
         WHERE tenant_id = p_tenant AND status <> 'stopped';
    ELSE
        UPDATE registry.agents SET status = 'idle', stopped_by_suspension = false
         WHERE tenant_id = p_tenant AND stopped_by_suspension;
    END IF;
    GET DIAGNOSTICS changed = ROW_COUNT;
    PERFORM set_config('app.tenant_id', '', true);
    RETURN changed;
END
$$;

-- Remove a soft-deleted tenant's rows from every tenant table but the audit trail (kept for
-- its own retention) and the tenant row (kept as the purged tombstone); users left without
-- any tenant go too. Refuses unless the tenant is deleted and not on legal hold.
CREATE FUNCTION registry.purge_tenant_rows(p_tenant uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t_status text;
    t_hold boolean;
    n_documents bigint;
    n_agents bigint;
    n_executions bigint;
    n_members bigint;
    n_users bigint;
    member_ids uuid[];
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    SELECT status, legal_hold INTO t_status, t_hold FROM registry.tenants WHERE id = p_tenant;
    IF t_status IS DISTINCT FROM 'deleted' OR t_hold THEN
        RAISE EXCEPTION 'tenant % is % and %; expected deleted and not on legal hold',
            p_tenant, coalesce(t_status, 'missing'),
            CASE WHEN t_hold THEN 'on legal hold' ELSE 'not on legal hold' END
            USING ERRCODE = 'check_violation';
    END IF;
    DELETE FROM registry.documents WHERE tenant_id = p_tenant;
    GET DIAGNOSTICS n_documents = ROW_COUNT;
    DELETE FROM registry.agent_executions WHERE tenant_id = p_tenant;
    GET DIAGNOSTICS n_executions = ROW_COUNT;
    DELETE FROM registry.agents WHERE tenant_id = p_tenant;
    GET DIAGNOSTICS n_agents = ROW_COUNT;
    WITH gone AS (DELETE FROM registry.user_tenants WHERE tenant_id = p_tenant RETURNING user_id)
    SELECT coalesce(array_agg(user_id), '{}') INTO member_ids FROM gone;
    n_members := cardinality(member_ids);
    DELETE FROM registry.users WHERE id = ANY (member_ids);
    GET DIAGNOSTICS n_users = ROW_COUNT;
    PERFORM set_config('app.tenant_id', '', true);
    RETURN jsonb_build_object('documents', n_documents, 'agents', n_agents,
                              'agent_executions', n_executions,
                              'memberships', n_members, 'users', n_users);
END
$$;

REVOKE ALL ON FUNCTION registry.lifecycle_agents(uuid, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION registry.purge_tenant_rows(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registry.lifecycle_agents(uuid, boolean) TO tenancy_platform;
GRANT EXECUTE ON FUNCTION registry.purge_tenant_rows(uuid) TO tenancy_platform;

-- Messages to tenant owners, written in the transaction of the state change they announce
-- and delivered afterwards by `tenancy notifications send`. A row is claimed for a while
-- (`claimed_until`) by one sender; it is `sent` once the mail server accepted it, `failed`
-- when the server refused it for good, and retried with backoff otherwise.
CREATE TABLE registry.notification_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    kind text NOT NULL CHECK (kind IN ('suspended', 'reactivated', 'deleted', 'restored',
                                       'export_ready', 'purged')),
    recipient text NOT NULL CHECK (recipient = lower(recipient)),
    subject text NOT NULL,
    body text NOT NULL,
    message_id text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    claimed_until timestamptz,
    claim_token uuid,
    sent_at timestamptz,
    last_error text,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX notification_outbox_due_idx ON registry.notification_outbox (next_attempt_at)
    WHERE state = 'pending';
ALTER TABLE registry.notification_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.notification_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.notification_outbox FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.notification_outbox FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON registry.notification_outbox TO tenancy_platform;

-- The ledger of a purge's steps outside the database (key, storage, Redis, warehouse), keyed
-- by (tenant, step): `started_at` is written before a step runs and `finished_at` after, so an
-- interrupted purge resumes where it stopped and every step is on record.
CREATE TABLE registry.deletion_steps (
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    step text NOT NULL CHECK (step IN ('kms_disable', 'kms_schedule_deletion', 'storage',
                                       'redis', 'warehouse')),
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    detail jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    PRIMARY KEY (tenant_id, step)
);
ALTER TABLE registry.deletion_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.deletion_steps FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.deletion_steps FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.deletion_steps FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON registry.deletion_steps TO tenancy_platform;

-- Retention. The audit trail is swept oldest first: the entries removed leave a checkpoint,
-- the (seq, hash) the remaining chain starts from, so `tenancy audit verify` still walks an
-- unbroken chain; new entries link to it when none is left.
CREATE TABLE registry.audit_checkpoints (
    tenant_id uuid PRIMARY KEY REFERENCES registry.tenants (id),
    seq bigint NOT NULL CHECK (seq > 0),
    hash bytea NOT NULL,
    swept_at timestamptz NOT NULL
);
ALTER TABLE registry.audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.audit_checkpoints FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_read ON registry.audit_checkpoints FOR SELECT TO tenancy_platform
    USING (true);
CREATE POLICY lifecycle ON registry.audit_checkpoints FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
GRANT SELECT ON registry.audit_checkpoints TO tenancy_app, tenancy_platform;
CREATE POLICY lifecycle ON registry.audit_log FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());

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
    IF last_seq IS NULL THEN  -- every entry swept: continue from the checkpoint
        SELECT seq, hash INTO last_seq, last_hash
          FROM registry.audit_checkpoints WHERE tenant_id = NEW.tenant_id;
    END IF;
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

-- Sweep one tenant's audit entries older than p_before (at most p_batch of them, never past
-- p_max_seq, the newest anchored entry, so the checkpoint is always vouched for by an
-- anchor). p_dry_run counts only. Refuses a tenant on legal hold.
CREATE FUNCTION registry.sweep_audit(
    p_tenant uuid, p_before timestamptz, p_max_seq bigint, p_batch integer, p_dry_run boolean,
    OUT deleted bigint, OUT newest timestamptz
) LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    first_seq bigint;
    cut bigint;
    cut_hash bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('registry.audit_log:' || p_tenant::text, 0));
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    IF (SELECT legal_hold FROM registry.tenants WHERE id = p_tenant) THEN
        RAISE EXCEPTION 'tenant % is on legal hold; expected a tenant not on hold', p_tenant
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT min(seq) INTO first_seq FROM registry.audit_log WHERE tenant_id = p_tenant;
    SELECT seq, hash, created_at INTO cut, cut_hash, newest FROM registry.audit_log
     WHERE tenant_id = p_tenant AND created_at < p_before AND seq <= p_max_seq
       AND seq < first_seq + p_batch
     ORDER BY seq DESC LIMIT 1;
    IF cut IS NULL THEN
        deleted := 0;
    ELSIF p_dry_run THEN
        deleted := cut - first_seq + 1;
    ELSE
        DELETE FROM registry.audit_log WHERE tenant_id = p_tenant AND seq <= cut;
        GET DIAGNOSTICS deleted = ROW_COUNT;
        INSERT INTO registry.audit_checkpoints (tenant_id, seq, hash, swept_at)
        VALUES (p_tenant, cut, cut_hash, now())
        ON CONFLICT (tenant_id) DO UPDATE
            SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, swept_at = EXCLUDED.swept_at;
    END IF;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;

-- Sweep one tenant's documents created before p_before, oldest first, at most p_batch;
-- returns the object keys of the rows removed (their objects go next) and their times.
CREATE FUNCTION registry.sweep_documents(
    p_tenant uuid, p_before timestamptz, p_batch integer, p_dry_run boolean
) RETURNS TABLE (object_key text, created_at timestamptz)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    IF (SELECT legal_hold FROM registry.tenants WHERE id = p_tenant) THEN
        RAISE EXCEPTION 'tenant % is on legal hold; expected a tenant not on hold', p_tenant
            USING ERRCODE = 'check_violation';
    END IF;
    IF p_dry_run THEN
        RETURN QUERY SELECT d.object_key, d.created_at FROM registry.documents d
         WHERE d.tenant_id = p_tenant AND d.created_at < p_before;
    ELSE
        RETURN QUERY DELETE FROM registry.documents d WHERE d.id IN (
            SELECT x.id FROM registry.documents x
             WHERE x.tenant_id = p_tenant AND x.created_at < p_before
             ORDER BY x.created_at LIMIT p_batch)
        RETURNING d.object_key, d.created_at;
    END IF;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;

-- What each sweep deleted (or was kept from deleting), per run, tenant, category and target.
CREATE TABLE registry.retention_runs (
    run_id text NOT NULL,
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    category text NOT NULL,
    target text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('deleted', 'blocked_by_hold')),
    cutoff timestamptz,
    deleted bigint NOT NULL DEFAULT 0 CHECK (deleted >= 0),
    newest_deleted timestamptz,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, tenant_id, category, target),
    CHECK (newest_deleted IS NULL OR newest_deleted < cutoff)
);
ALTER TABLE registry.retention_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.retention_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.retention_runs FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.retention_runs FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON registry.retention_runs TO tenancy_platform;

REVOKE ALL ON FUNCTION registry.sweep_audit(uuid, timestamptz, bigint, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION registry.sweep_documents(uuid, timestamptz, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registry.sweep_audit(uuid, timestamptz, bigint, integer, boolean)
    TO tenancy_platform;
GRANT EXECUTE ON FUNCTION registry.sweep_documents(uuid, timestamptz, integer, boolean)
    TO tenancy_platform;

-- Agent executions, partitioned by month of start: a month that has expired for every tenant
-- with rows in it is dropped whole; otherwise each tenant's expired rows are deleted through
-- the (tenant_id, started_at) key. Partitions are created by registry.ensure_execution_month,
-- with the parent's row-level security repeated on each (a partition is a table of its own).
CREATE TABLE registry.agent_executions (
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    started_at timestamptz NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    agent_id uuid NOT NULL,
    finished_at timestamptz,
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    PRIMARY KEY (tenant_id, started_at, id)
) PARTITION BY RANGE (started_at);
ALTER TABLE registry.agent_executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.agent_executions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.agent_executions FOR ALL TO tenancy_app
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
CREATE POLICY lifecycle ON registry.agent_executions FOR ALL TO tenancy_owner
    USING (tenant_id = registry.current_tenant_id())
    WITH CHECK (tenant_id = registry.current_tenant_id());
-- Which tenants a month holds, to decide whether it can be dropped (deletes stay per tenant).
CREATE POLICY lifecycle_read ON registry.agent_executions FOR SELECT TO tenancy_owner
    USING (true);
GRANT SELECT, INSERT (tenant_id, started_at, agent_id, finished_at, status),
    UPDATE (finished_at, status) ON registry.agent_executions TO tenancy_app;

-- The month holding p_at, created if missing; returns the partition's name.
CREATE FUNCTION registry.ensure_execution_month(p_at timestamptz) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    lo timestamptz := date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    name text := 'agent_executions_' || to_char(lo AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass('registry.' || name) IS NULL THEN
        EXECUTE format('CREATE TABLE registry.%I PARTITION OF registry.agent_executions '
                       'FOR VALUES FROM (%L) TO (%L)', name, lo, lo + interval '1 month');
        EXECUTE format('ALTER TABLE registry.%I ENABLE ROW LEVEL SECURITY', name);
        EXECUTE format('ALTER TABLE registry.%I FORCE ROW LEVEL SECURITY', name);
        EXECUTE format('CREATE POLICY tenant_rows ON registry.%I FOR ALL TO tenancy_app '
                       'USING (tenant_id = registry.current_tenant_id()) '
                       'WITH CHECK (tenant_id = registry.current_tenant_id())', name);
        EXECUTE format('CREATE POLICY lifecycle ON registry.%I FOR ALL TO tenancy_owner '
                       'USING (tenant_id = registry.current_tenant_id()) '
                       'WITH CHECK (tenant_id = registry.current_tenant_id())', name);
        EXECUTE format('CREATE POLICY lifecycle_read ON registry.%I FOR SELECT '
                       'TO tenancy_owner USING (true)', name);
    END IF;
    RETURN name;
END
$$;

-- Every partition with its range and, per tenant, how many rows it holds and the newest.
CREATE FUNCTION registry.execution_partitions()
    RETURNS TABLE (name text, lo timestamptz, hi timestamptz, tenant_id uuid, rows bigint,
                   newest timestamptz)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)')) AS b
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'registry.agent_executions'::regclass ORDER BY 1
    LOOP
        RETURN QUERY EXECUTE format(
            'SELECT %L::text, %L::timestamptz, %L::timestamptz, tenant_id, count(*), '
            'max(started_at) FROM registry.%I GROUP BY tenant_id',
            part.relname, part.b[1], part.b[2], part.relname);
        IF NOT FOUND THEN
            RETURN QUERY SELECT part.relname::text, part.b[1]::timestamptz, part.b[2]::timestamptz,
                                NULL::uuid, 0::bigint, NULL::timestamptz;
        END IF;
    END LOOP;
END
$$;

-- Drop a whole month; the caller has checked that every tenant with rows in it is past its
-- retention and not on hold. Refuses anything but a partition of agent_executions.
CREATE FUNCTION registry.drop_execution_month(p_name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE i.inhparent = 'registry.agent_executions'::regclass
                     AND n.nspname = 'registry' AND c.relname = p_name) THEN
        RAISE EXCEPTION 'partition is %; expected a month of registry.agent_executions', p_name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('DROP TABLE registry.%I', p_name);
END
$$;

-- Sweep one tenant's executions that started before p_before, at most p_batch of them.
CREATE FUNCTION registry.sweep_executions(
    p_tenant uuid, p_before timestamptz, p_batch integer, p_dry_run boolean,
    OUT deleted bigint, OUT newest timestamptz
) LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    IF (SELECT legal_hold FROM registry.tenants WHERE id = p_tenant) THEN
        RAISE EXCEPTION 'tenant % is on legal hold; expected a tenant not on hold', p_tenant
            USING ERRCODE = 'check_violation';
    END IF;
    IF p_dry_run THEN
        SELECT count(*), max(started_at) INTO deleted, newest FROM registry.agent_executions
         WHERE tenant_id = p_tenant AND started_at < p_before;
    ELSE
        WITH gone AS (
            DELETE FROM registry.agent_executions e
             WHERE e.tenant_id = p_tenant AND (e.started_at, e.id) IN (
                SELECT x.started_at, x.id FROM registry.agent_executions x
                 WHERE x.tenant_id = p_tenant AND x.started_at < p_before
                 ORDER BY x.started_at LIMIT p_batch)
            RETURNING e.started_at)
        SELECT count(*), max(started_at) INTO deleted, newest FROM gone;
    END IF;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;

REVOKE ALL ON FUNCTION registry.ensure_execution_month(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION registry.execution_partitions() FROM PUBLIC;
REVOKE ALL ON FUNCTION registry.drop_execution_month(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION registry.sweep_executions(uuid, timestamptz, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION registry.ensure_execution_month(timestamptz) TO tenancy_platform;
GRANT EXECUTE ON FUNCTION registry.execution_partitions() TO tenancy_platform;
GRANT EXECUTE ON FUNCTION registry.drop_execution_month(text) TO tenancy_platform;
GRANT EXECUTE ON FUNCTION registry.sweep_executions(uuid, timestamptz, integer, boolean)
    TO tenancy_platform;
