-- An image carries its own disks and OS (ImageCreated names them): compute-service no longer follows BackupCreated,
-- the busiest event of the backups topic. The backups table keeps the backups deleted (BackupDeleted): an image
-- whose backup is gone cannot be restored from it.
ALTER TABLE images ADD COLUMN disks jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN os_type text,
    ADD COLUMN os_version text;
UPDATE images i SET disks = b.disks, os_type = b.server->>'os_type', os_version = b.server->>'os_version'
    FROM backups b WHERE b.backup_id = i.backup_id;
DELETE FROM backups WHERE NOT deleted;
ALTER TABLE backups DROP COLUMN server, DROP COLUMN disks;
COMMENT ON TABLE backups IS 'The CBR backups of this region that were deleted (BackupDeleted)';
