-- An image carries its own disks and OS (ImageCreated names them): compute-service no longer follows BackupCreated,
-- the busiest event of the backups topic. Of the backups it keeps only those deleted (BackupDeleted): an image whose
-- backup is gone cannot be restored from it.
ALTER TABLE images ADD COLUMN disks jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN os_type text,
    ADD COLUMN os_version text;
UPDATE images i SET disks = b.disks, os_type = b.server->>'os_type', os_version = b.server->>'os_version'
    FROM backups b WHERE b.backup_id = i.backup_id;
CREATE TABLE deleted_backups (
    backup_id  text PRIMARY KEY,
    project_id text NOT NULL
);
INSERT INTO deleted_backups (backup_id, project_id) SELECT backup_id, project_id FROM backups WHERE deleted;
DROP TABLE backups;
