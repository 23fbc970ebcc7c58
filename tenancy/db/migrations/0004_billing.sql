-- depends: 0002_platform_counts
-- The billing ledger: the system of record for money. Owned by the migration role, written by
-- the control plane (tenancy_platform), readable by a tenant through the request path
-- (tenancy_app) under forced row-level security: a tenant sees its own invoices, nothing else.
-- Money is integer minor units (cents); unit prices keep their Decimal precision as numeric.

CREATE SCHEMA billing;
GRANT USAGE ON SCHEMA billing TO tenancy_app, tenancy_platform;

CREATE TABLE billing.accounts (
    tenant_id uuid PRIMARY KEY REFERENCES registry.tenants (id),
    stripe_customer_id text UNIQUE,
    -- Bumped after Stripe replays a stored error for a customer-create key: the next try uses
    -- a new deterministic key, and first looks for what the failed one may have created.
    stripe_attempt integer NOT NULL DEFAULT 0 CHECK (stripe_attempt >= 0),
    billing_email text NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    state text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'past_due')),
    past_due_since timestamptz,
    grace_until timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'past_due') = (past_due_since IS NOT NULL))
);

CREATE TABLE billing.invoices (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    kind text NOT NULL DEFAULT 'regular' CHECK (kind IN ('regular')),
    period_start date NOT NULL,
    period_end date NOT NULL,
    status text NOT NULL DEFAULT 'draft' CHECK (status IN (
        'draft', 'pushed', 'finalized', 'paid', 'payment_failed', 'void', 'uncollectible')),
    currency text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    stripe_invoice_id text UNIQUE,
    stripe_attempt integer NOT NULL DEFAULT 0 CHECK (stripe_attempt >= 0),
    stripe_total_cents bigint,
    hold_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finalized_at timestamptz,
    -- Half-open UTC calendar months: [1st, next 1st).
    CHECK (extract(day FROM period_start) = 1 AND period_end = (period_start + interval '1 month')::date),
    UNIQUE (tenant_id, period_start, kind)
);
CREATE INDEX invoices_period_idx ON billing.invoices (period_start, status);

CREATE TABLE billing.invoice_lines (
    id uuid PRIMARY KEY,
    invoice_id uuid NOT NULL REFERENCES billing.invoices (id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES registry.tenants (id),
    position integer NOT NULL CHECK (position >= 0),
    code text NOT NULL,
    description text NOT NULL,
    quantity numeric NOT NULL,
    unit_price_cents numeric NOT NULL,
    amount_cents bigint NOT NULL,
    period_start date NOT NULL,
    period_end date NOT NULL CHECK (period_end > period_start),
    -- Set on an adjustment line: the earlier period whose finalized invoice it corrects.
    corrects_period date,
    UNIQUE (invoice_id, position)
);
CREATE INDEX invoice_lines_tenant_idx ON billing.invoice_lines (tenant_id, corrects_period);

ALTER TABLE billing.accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing.accounts FORCE ROW LEVEL SECURITY;
ALTER TABLE billing.invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing.invoices FORCE ROW LEVEL SECURITY;
ALTER TABLE billing.invoice_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing.invoice_lines FORCE ROW LEVEL SECURITY;

-- Request path: read-only, its own tenant's rows.
CREATE POLICY tenant_read ON billing.accounts FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY tenant_read ON billing.invoices FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
CREATE POLICY tenant_read ON billing.invoice_lines FOR SELECT TO tenancy_app
    USING (tenant_id = registry.current_tenant_id());
GRANT SELECT ON billing.accounts, billing.invoices, billing.invoice_lines TO tenancy_app;

-- Control plane: writes the ledger across tenants.
CREATE POLICY platform_all ON billing.accounts FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
CREATE POLICY platform_all ON billing.invoices FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
CREATE POLICY platform_all ON billing.invoice_lines FOR ALL TO tenancy_platform
    USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON billing.accounts TO tenancy_platform;
-- DELETE: a draft with nothing billable left is removed (the code never deletes a frozen one).
GRANT SELECT, INSERT, UPDATE, DELETE ON billing.invoices TO tenancy_platform;
GRANT SELECT, INSERT, DELETE ON billing.invoice_lines TO tenancy_platform;
