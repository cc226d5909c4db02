-- depends: 0005_tag_limit
-- The CBR vaults of each project of the region, from backup-service's VaultCreated and VaultDeleted: a shared
-- full-ECS image is accepted only into a vault of the recipient's project.
CREATE TABLE vault_projection (
    vault_id   text PRIMARY KEY,
    project_id text NOT NULL,
    deleted    boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
