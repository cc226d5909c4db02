-- An ECS that was deleted (ServerDeleted): it can no longer be backed up. Its backups and images stay.
ALTER TABLE servers ADD COLUMN deleted_at timestamptz;
