-- One row per cross-region replication job that started in this region (this region is the source).
CREATE TABLE replications (
    job_id                 text PRIMARY KEY,
    project_id             text NOT NULL,
    source_region          text NOT NULL,
    source_image_id        text NOT NULL,
    source_backup_id       text NOT NULL,
    destination_region     text NOT NULL,
    destination_project_id text,
    replica_image_id       text NOT NULL,
    replica_backup_id      text,
    vault_id               text NOT NULL,
    size_gb                integer NOT NULL CHECK (size_gb >= 0),
    status                 text NOT NULL CHECK (status IN ('copying', 'succeeded', 'failed')),
    error_code             text,
    fail_reason            text,
    deadline               timestamptz,
    correlation_id         text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    finished_at            timestamptz,
    -- A full-ECS image is never replicated within its region; a refused request is recorded all the same.
    CHECK (status = 'failed' OR destination_region <> source_region),
    CHECK ((status = 'failed') = (error_code IS NOT NULL AND fail_reason IS NOT NULL)),
    CHECK ((status = 'copying') = (finished_at IS NULL)),
    -- Whatever is (or was) on its way knows where it goes and what its copy is called.
    CHECK (status = 'failed' OR (destination_project_id IS NOT NULL AND replica_backup_id IS NOT NULL)),
    CHECK (status <> 'copying' OR deadline IS NOT NULL)
);
-- A replica image id and a backup copy id belong to one replication.
CREATE UNIQUE INDEX replications_one_per_replica_image ON replications (replica_image_id) WHERE status <> 'failed';
CREATE UNIQUE INDEX replications_one_per_backup_copy ON replications (replica_backup_id) WHERE replica_backup_id IS NOT NULL;
-- The in-flight limit counts a project's copies under way; the sweep finds the overdue ones.
CREATE INDEX replications_in_flight ON replications (project_id) WHERE status = 'copying';
CREATE INDEX replications_deadline ON replications (deadline) WHERE status = 'copying';
