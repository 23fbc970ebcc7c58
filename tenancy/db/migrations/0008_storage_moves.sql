-- depends: 0005_lifecycle
-- Storage moves (a plan change between a shared prefix and a dedicated bucket) as a ledger of
-- steps, the tenant's current storage location, and two more purge steps (the dedicated
-- bucket and the tenant's Postgres schema).

ALTER TABLE registry.deletion_steps DROP CONSTRAINT deletion_steps_step_check;
ALTER TABLE registry.deletion_steps ADD CONSTRAINT deletion_steps_step_check
    CHECK (step IN ('kms_disable', 'kms_schedule_deletion', 'storage', 'bucket', 'schema',
                    'redis', 'warehouse'));

-- Where the tenant's objects are read and written. No row: where its plan says. A storage
-- move pins the old location when it starts and switches the row in its `switch` step, so the
-- request path follows the registry, not the plan, while objects are copied.
-- `bucket` NULL is the platform's shared bucket (its name is configuration, not data).
CREATE TABLE registry.tenant_storage (
    tenant_id uuid PRIMARY KEY REFERENCES registry.tenants (id),
    model text NOT NULL CHECK (model IN ('shared_prefix', 'dedicated_bucket')),
    bucket text CHECK (bucket ~ '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'),
    switched_at timestamptz NOT NULL,
    CHECK ((model = 'dedicated_bucket') = (bucket IS NOT NULL))
);

CREATE TABLE registry.storage_moves (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    from_model text NOT NULL CHECK (from_model IN ('shared_prefix', 'dedicated_bucket')),
    from_bucket text,
    to_model text NOT NULL CHECK (to_model IN ('shared_prefix', 'dedicated_bucket')),
    to_bucket text,
    prefix text NOT NULL CHECK (prefix ~ '^tenants/[0-9a-f-]{36}/$'),
    state text NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'blocked_by_hold', 'done')),
    actor text NOT NULL,
    created_at timestamptz NOT NULL,
    finished_at timestamptz,
    CHECK (from_model <> to_model),
    CHECK ((state = 'done') = (finished_at IS NOT NULL))
);
-- One unfinished move per tenant: a second plan change waits for the first move to end.
CREATE UNIQUE INDEX storage_moves_one_open_idx ON registry.storage_moves (tenant_id)
    WHERE state <> 'done';

-- The steps of a move, `started_at` before the side effect and `finished_at` after it (the
-- `switch` step's two happen in the transaction that switches the location).
CREATE TABLE registry.storage_move_steps (
    move_id uuid NOT NULL REFERENCES registry.storage_moves (id),
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    step text NOT NULL CHECK (step IN ('copy', 'verify', 'switch', 'catch_up', 'remove_old')),
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    detail jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    PRIMARY KEY (move_id, step)
);

-- Every object the move copied, as it was at the source when it was copied (ETag, size, last
-- modified) and its SHA-256: the catch-up and the removal tell from it what changed at the
-- source since, and the removal deletes nothing it has not seen copied.
CREATE TABLE registry.storage_move_objects (
    move_id uuid NOT NULL REFERENCES registry.storage_moves (id),
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    key text NOT NULL,
    source_etag text NOT NULL,
    source_modified timestamptz NOT NULL,
    size bigint NOT NULL CHECK (size >= 0),
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    copied_at timestamptz NOT NULL,
    PRIMARY KEY (move_id, key)
);

ALTER TABLE registry.tenant_storage ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.tenant_storage FORCE ROW LEVEL SECURITY;
ALTER TABLE registry.storage_moves ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.storage_moves FORCE ROW LEVEL SECURITY;
ALTER TABLE registry.storage_move_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.storage_move_steps FORCE ROW LEVEL SECURITY;
ALTER TABLE registry.storage_move_objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE registry.storage_move_objects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON registry.tenant_storage FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.tenant_storage FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
CREATE POLICY tenant_rows ON registry.storage_moves FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.storage_moves FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
CREATE POLICY tenant_rows ON registry.storage_move_steps FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.storage_move_steps FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
CREATE POLICY tenant_rows ON registry.storage_move_objects FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY platform_all ON registry.storage_move_objects FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
GRANT SELECT ON registry.tenant_storage, registry.storage_moves, registry.storage_move_steps,
    registry.storage_move_objects TO tenancy_app;
GRANT SELECT, INSERT, UPDATE ON registry.tenant_storage, registry.storage_moves,
    registry.storage_move_steps, registry.storage_move_objects TO tenancy_platform;
