-- depends: 0001_accounts

-- A backup is metered from its creation until its deletion. ``rated_until`` is the end of the last charged
-- period; ``next_due_at`` is when the next period ends (NULL once the deleted backup is fully rated).
CREATE TABLE meters (
    backup_id   text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (account_id),
    project_id  text NOT NULL,
    region      text NOT NULL,
    size_gb     integer NOT NULL CHECK (size_gb >= 0),
    started_at  timestamptz NOT NULL,
    rated_until timestamptz NOT NULL,
    deleted_at  timestamptz,
    next_due_at timestamptz,
    CHECK (rated_until >= started_at),
    CHECK (deleted_at IS NULL OR rated_until <= deleted_at)
);
CREATE INDEX meters_due ON meters (account_id, next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX meters_open ON meters (account_id) WHERE deleted_at IS NULL;

-- The bill. A backup's storage is charged once per period: the database refuses a second line for the same
-- (backup_id, period_start), whoever tries to write it. A full-ECS image gets one zero-rated line.
CREATE TABLE bill_lines (
    id                bigserial PRIMARY KEY,
    account_id        text NOT NULL REFERENCES accounts (account_id),
    kind              text NOT NULL CHECK (kind IN ('backup_storage', 'full_ecs_image')),
    backup_id         text NOT NULL,
    image_id          text,
    region            text NOT NULL,
    project_id        text NOT NULL,
    period_start      timestamptz NOT NULL,
    period_end        timestamptz NOT NULL,
    quantity_gb_hours numeric(24, 6) NOT NULL CHECK (quantity_gb_hours >= 0),
    unit_price        numeric(20, 8) NOT NULL CHECK (unit_price >= 0),
    amount            numeric(20, 6) NOT NULL CHECK (amount >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (period_end >= period_start),
    CHECK (kind <> 'full_ecs_image' OR (image_id IS NOT NULL AND amount = 0))
);
CREATE UNIQUE INDEX bill_lines_one_charge_per_period ON bill_lines (backup_id, period_start)
    WHERE kind = 'backup_storage';
CREATE UNIQUE INDEX bill_lines_one_line_per_image ON bill_lines (image_id) WHERE kind = 'full_ecs_image';
CREATE INDEX bill_lines_by_account ON bill_lines (account_id, id DESC);

-- One BackupArrears per backup, ever: ours at release, or one an outside billing system produced.
CREATE TABLE arrears_notices (
    backup_id  text PRIMARY KEY,
    account_id text NOT NULL,
    source     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
