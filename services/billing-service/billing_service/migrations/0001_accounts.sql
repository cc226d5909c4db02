CREATE TABLE accounts (
    account_id text PRIMARY KEY,
    balance    numeric(18, 6) NOT NULL DEFAULT 0,
    state      text NOT NULL DEFAULT 'normal'
);
