-- Backup deletion is retried with backoff while the backup's vault is locked; the state stays visible.
CREATE TABLE vaults (
    vault_id   text PRIMARY KEY,
    locked     boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE backups ADD COLUMN delete_next_at timestamptz;
CREATE INDEX backups_deleting ON backups (delete_next_at) WHERE status = 'deleting';
