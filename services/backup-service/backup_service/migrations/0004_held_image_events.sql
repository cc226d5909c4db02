-- Image and arrears events about a backup that is not known yet (they came on another topic, ahead of its
-- BackupCreated): held here and applied, in arrival order, when the backup is recorded.
CREATE TABLE held_backup_events (
    seq            bigserial PRIMARY KEY,
    backup_id      text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('image_created', 'image_deleted', 'arrears')),
    image_id       text,
    delete_backup  boolean NOT NULL DEFAULT false,
    correlation_id text,
    event_id       text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX held_backup_events_backup ON held_backup_events (backup_id, seq);
CREATE INDEX held_backup_events_received ON held_backup_events (received_at);
