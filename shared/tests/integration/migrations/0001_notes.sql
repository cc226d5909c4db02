-- A minimal aggregate for exercising the consumer and the relay.
CREATE TABLE notes (backup_id text PRIMARY KEY, times_seen integer NOT NULL DEFAULT 1);
