-- The full-ECS images of this region, as image-service announces them on ims.<region>.images: active once made
-- (ImageCreated, also for a replica made here), then deleted (ImageDeleted). compute-service never asks.
CREATE TABLE images (
    image_id   text PRIMARY KEY,
    project_id text NOT NULL,             -- the owner's project in this region
    backup_id  text NOT NULL,
    name       text NOT NULL DEFAULT '',
    status     text NOT NULL,             -- active, deleted
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Who an image is shared with (ImageShared, ImageMemberStatusChanged, ImageUnshared): accepted members may use it.
CREATE TABLE image_members (
    image_id   text NOT NULL,
    project_id text NOT NULL,
    status     text NOT NULL,             -- pending, accepted, rejected
    PRIMARY KEY (image_id, project_id)
);

-- The CBR backups of this region (BackupCreated, BackupDeleted): a full-ECS image's disks and OS are its backup's.
CREATE TABLE backups (
    backup_id  text PRIMARY KEY,
    project_id text NOT NULL,
    server     jsonb,                     -- os_type, os_version, configured of the ECS backed up
    disks      jsonb NOT NULL DEFAULT '[]',
    deleted    boolean NOT NULL DEFAULT false
);

CREATE TABLE servers (
    server_id         text PRIMARY KEY,
    project_id        text NOT NULL,
    name              text NOT NULL,
    description       text NOT NULL DEFAULT '',
    status            text NOT NULL,      -- BUILD, ACTIVE, SHUTOFF, REBUILD, ERROR
    image_id          text NOT NULL,
    image_type        text NOT NULL,      -- gold, private, shared
    backup_id         text,               -- the backup its disks are being restored from (a full-ECS image)
    flavor_id         text NOT NULL,
    os_type           text,
    os_version        text,
    configured        boolean NOT NULL DEFAULT true,
    metadata          jsonb NOT NULL DEFAULT '{}',
    availability_zone text NOT NULL,
    vpc_id            text NOT NULL,
    subnet_ids        text[] NOT NULL DEFAULT '{}',
    launch_index      integer NOT NULL DEFAULT 0,
    job_id            text,               -- the job under way (BUILD, REBUILD)
    ready_at          timestamptz,        -- when that job is due to end
    launched_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz
);
CREATE INDEX servers_of_project ON servers (project_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX servers_due ON servers (ready_at) WHERE ready_at IS NOT NULL AND deleted_at IS NULL;

-- EVS disks: a server's system disk (boot index 0) and data disks; a disk kept when its server was deleted is
-- 'available' and attached to nothing.
CREATE TABLE volumes (
    volume_id         text PRIMARY KEY,
    project_id        text NOT NULL,
    name              text NOT NULL,
    size_gb           integer NOT NULL,
    volume_type       text NOT NULL,
    bootable          boolean NOT NULL,
    status            text NOT NULL,      -- creating, in-use, available
    server_id         text,
    device            text,
    position          integer NOT NULL,   -- 0 for the system disk, then the data disks in order
    image_id          text,               -- the image whose content the disk holds
    image_name        text,
    backup_id         text,               -- restored from this backup ...
    backup_volume_id  text,               -- ... and this disk of it
    availability_zone text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz
);
CREATE INDEX volumes_of_server ON volumes (server_id) WHERE deleted_at IS NULL;
CREATE INDEX volumes_of_project ON volumes (project_id, created_at DESC) WHERE deleted_at IS NULL;

-- ECS jobs (GET /v1/{project_id}/jobs/{job_id}): one per request, with one sub-job per server.
CREATE TABLE jobs (
    job_id       text PRIMARY KEY,
    project_id   text NOT NULL,
    job_type     text NOT NULL,
    parent_id    text,
    server_id    text,
    status       text NOT NULL,           -- INIT, RUNNING, SUCCESS, FAIL
    request      jsonb NOT NULL DEFAULT '{}',
    notes        jsonb NOT NULL DEFAULT '{}',
    error_code   text,
    fail_reason  text,
    client_token text,
    begin_time   timestamptz NOT NULL DEFAULT now(),
    end_time     timestamptz
);
CREATE INDEX jobs_children ON jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_client_token ON jobs (project_id, client_token) WHERE client_token IS NOT NULL;
