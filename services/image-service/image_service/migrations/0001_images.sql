-- image-service's projection of backups (from backup events), its images, jobs and accounts projection.
CREATE TABLE backup_projection (
    backup_id              text PRIMARY KEY,
    project_id             text NOT NULL,
    vault_id               text NOT NULL,
    name                   text NOT NULL,
    resource_id            text NOT NULL,
    resource_type          text NOT NULL,
    status                 text NOT NULL,
    size_gb                integer NOT NULL,
    shared_from_project_id text,
    replicated_from_region text,
    server                 jsonb,
    disks                  jsonb NOT NULL DEFAULT '[]',
    deleted                boolean NOT NULL DEFAULT false,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backup_projection_by_resource ON backup_projection (resource_id);

CREATE TABLE images (
    image_id               text PRIMARY KEY,
    project_id             text NOT NULL,
    backup_id              text NOT NULL,
    job_id                 text NOT NULL,
    name                   text NOT NULL,
    description            text NOT NULL DEFAULT '',
    status                 text NOT NULL,
    enterprise_project_id  text NOT NULL DEFAULT '0',
    tags                   jsonb NOT NULL DEFAULT '[]',
    min_ram                integer NOT NULL DEFAULT 0,
    max_ram                integer NOT NULL DEFAULT 0,
    os_type                text,
    os_version             text,
    min_disk               integer NOT NULL DEFAULT 0,
    size_gb                integer NOT NULL DEFAULT 0,
    disks                  jsonb NOT NULL DEFAULT '[]',
    server_state           text,
    resource_id            text,
    shared_from_project_id text,
    replicated_from_region text,
    replicated_from_image_id text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    ready_at               timestamptz,
    active_at              timestamptz,
    deleted_at             timestamptz,
    delete_reason          text,
    status_history         jsonb NOT NULL DEFAULT '[]'
);
-- One CBR backup makes only one full-ECS image: enforced here, under any concurrency.
CREATE UNIQUE INDEX one_live_image_per_backup ON images (backup_id) WHERE deleted_at IS NULL;
CREATE INDEX images_by_project ON images (project_id, created_at DESC, image_id) WHERE deleted_at IS NULL;
CREATE INDEX images_saving ON images (ready_at) WHERE status = 'saving' AND deleted_at IS NULL;
CREATE INDEX images_by_resource ON images (resource_id) WHERE deleted_at IS NULL;

CREATE TABLE jobs (
    job_id        text PRIMARY KEY,
    project_id    text NOT NULL,
    job_type      text NOT NULL,
    status        text NOT NULL,
    image_id      text,
    image_name    text,
    backup_id     text,
    request       jsonb NOT NULL DEFAULT '{}',
    error_code    text,
    fail_reason   text,
    wait_until    timestamptz,
    begin_time    timestamptz NOT NULL DEFAULT now(),
    end_time      timestamptz,
    correlation_id text
);
CREATE INDEX jobs_waiting_for_backup ON jobs (backup_id) WHERE status = 'INIT';
CREATE INDEX jobs_wait_deadline ON jobs (wait_until) WHERE status = 'INIT';

CREATE TABLE account_projection (
    account_id text PRIMARY KEY,
    state      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
