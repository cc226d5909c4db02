-- depends: 0001_outbox_traceparent
-- When an outbox row's event went through each step after its transaction's work (the benchmark breaks an event's
-- time into these): written, the moment of its INSERT (the transaction's last statement before COMMIT when a consumer
-- writes it); relay_read_at, when the relay's pass that sent it had read it; acked_at, when the broker had
-- acknowledged that pass's records. The relay sets the last two in the UPDATE that marks the row published.
-- The default is set apart from the column, so that rows already there stay NULL and the table is not rewritten.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS written_at timestamptz;
ALTER TABLE outbox ALTER COLUMN written_at SET DEFAULT clock_timestamp();
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS relay_read_at timestamptz;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS acked_at timestamptz;
