-- depends: 0000_outbox_inbox
-- The trace context of an outbox event, sent as a Kafka header by the relay.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text;
