-- CBR vaults made through the API (CreateVault). The vaults table held only the lock an operator's VaultLockChanged
-- sets; a vault of a project now has its owner, name and size there too. A row without a project is a vault known
-- only by its lock (a backup system's vault, named by its BackupCreated events).
ALTER TABLE vaults ADD COLUMN project_id text;
ALTER TABLE vaults ADD COLUMN name text;
ALTER TABLE vaults ADD COLUMN description text NOT NULL DEFAULT '';
ALTER TABLE vaults ADD COLUMN size_gb integer;
-- What CreateVault asked for besides the size (cloud_type, consistent_level, object_type, protect_type,
-- charging_mode), shown back as the vault's billing.
ALTER TABLE vaults ADD COLUMN billing jsonb NOT NULL DEFAULT '{}';
ALTER TABLE vaults ADD COLUMN enterprise_project_id text NOT NULL DEFAULT '0';
ALTER TABLE vaults ADD COLUMN auto_bind boolean NOT NULL DEFAULT false;
ALTER TABLE vaults ADD COLUMN auto_expand boolean NOT NULL DEFAULT false;
ALTER TABLE vaults ADD COLUMN threshold integer NOT NULL DEFAULT 80;
ALTER TABLE vaults ADD COLUMN smn_notify boolean NOT NULL DEFAULT true;
ALTER TABLE vaults ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE vaults ADD COLUMN deleted_at timestamptz;
CREATE INDEX vaults_by_project ON vaults (project_id, created_at DESC, vault_id)
    WHERE project_id IS NOT NULL AND deleted_at IS NULL;

-- The servers a vault holds (its resources): a server is in one vault of its project at most.
CREATE TABLE vault_resources (
    vault_id      text NOT NULL REFERENCES vaults (vault_id),
    project_id    text NOT NULL,
    resource_id   text NOT NULL,
    resource_type text NOT NULL,
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vault_id, resource_id)
);
CREATE UNIQUE INDEX one_vault_per_resource ON vault_resources (project_id, resource_id);

-- A checkpoint (CreateCheckpoint) makes one backup of each server it names; its backups carry its id.
ALTER TABLE backups ADD COLUMN checkpoint_id text;
CREATE INDEX backups_by_checkpoint ON backups (checkpoint_id) WHERE checkpoint_id IS NOT NULL;
CREATE INDEX backups_by_vault ON backups (vault_id) WHERE deleted_at IS NULL;
