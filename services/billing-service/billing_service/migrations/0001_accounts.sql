-- One account per tenant, covering all its projects in every region. Money is numeric, never float.
CREATE TABLE accounts (
    account_id  text PRIMARY KEY,
    balance     numeric(20, 6) NOT NULL,
    currency    text NOT NULL,
    state       text NOT NULL DEFAULT 'normal' CHECK (state IN ('normal', 'grace', 'frozen', 'released')),
    state_since timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_needing_attention ON accounts (account_id) WHERE state <> 'normal' OR balance < 0;

-- Credits. A client may retry a top-up with the same idempotency key: it is credited once.
CREATE TABLE top_ups (
    id              bigserial PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts (account_id),
    project_id      text NOT NULL,
    amount          numeric(20, 6) NOT NULL CHECK (amount > 0),
    idempotency_key text,
    created_at      timestamptz NOT NULL,
    UNIQUE (account_id, idempotency_key)
);
