CREATE TABLE backups (
    backup_id                 text PRIMARY KEY,
    project_id                text NOT NULL,
    vault_id                  text NOT NULL,
    name                      text NOT NULL,
    description               text NOT NULL DEFAULT '',
    resource_id               text NOT NULL,
    resource_name             text NOT NULL DEFAULT '',
    resource_type             text NOT NULL,
    status                    text NOT NULL,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL DEFAULT now(),
    incremental               boolean NOT NULL DEFAULT false,
    parent_id                 text,
    size_gb                   integer NOT NULL DEFAULT 0,
    shared_from_project_id    text,
    server                    jsonb,
    disks                     jsonb NOT NULL DEFAULT '[]',
    image_id                  text,
    replicated_from_region    text,
    replicated_from_backup_id text,
    deleted_at                timestamptz,
    delete_reason             text,
    delete_attempts           integer NOT NULL DEFAULT 0,
    delete_error              text
);
CREATE INDEX backups_by_project ON backups (project_id, created_at DESC, backup_id) WHERE deleted_at IS NULL;
CREATE INDEX backups_by_resource ON backups (resource_id);
