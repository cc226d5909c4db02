-- depends: 0001_images

-- Cross-region replication. A replica (an image copied from another region) names its origin; a replication
-- job makes at most one replica here, whoever sends its copy and however often.
ALTER TABLE images
    ADD CONSTRAINT replica_names_its_region CHECK (replicated_from_image_id IS NULL OR replicated_from_region IS NOT NULL);
CREATE UNIQUE INDEX images_one_replica_per_job ON images (job_id) WHERE replicated_from_image_id IS NOT NULL;

-- Replications that failed (refused here, refused by backup-service, or given up by the source): a copy that
-- arrives afterwards must make no replica.
CREATE TABLE replica_cancellations (
    job_id           text PRIMARY KEY,
    replica_image_id text NOT NULL,
    error_code       text NOT NULL,
    reason           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- The in-flight limit counts a project's replication jobs under way (the source side).
CREATE INDEX jobs_replications_under_way ON jobs (project_id)
    WHERE job_type = 'imsCrossRegionCopyWholeImageJob' AND status IN ('INIT', 'RUNNING');
