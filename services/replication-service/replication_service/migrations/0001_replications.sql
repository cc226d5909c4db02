CREATE TABLE replications (
    job_id     text PRIMARY KEY,
    image_id   text NOT NULL,
    project_id text NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
