-- ECSs known from the compute inventory (ServerRegistered / ServerStateChanged events).
CREATE TABLE servers (
    server_id  text PRIMARY KEY,
    project_id text NOT NULL,
    name       text NOT NULL DEFAULT '',
    os_type    text,
    os_version text,
    configured boolean NOT NULL DEFAULT true,
    state      text NOT NULL DEFAULT 'ACTIVE',
    disks      jsonb NOT NULL DEFAULT '[]',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A backup being made (status 'protecting') until its data is saved; then BackupCreated is emitted.
ALTER TABLE backups ADD COLUMN ready_at timestamptz;
ALTER TABLE backups ADD COLUMN job_id text;
-- One backup in progress per server: a second checkpoint of the same ECS is refused (IMG.0136).
CREATE UNIQUE INDEX one_checkpoint_per_server ON backups (resource_id) WHERE status = 'protecting';
