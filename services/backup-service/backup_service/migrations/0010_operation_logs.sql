-- CBR operation logs (ListOpLogs, ShowOpLog): a task on a backup of the project, written in the transaction that
-- does it. 'backup': a checkpoint's backup, running until available; 'delete': a backup's deletion, running while
-- its vault is locked, then success or failed; 'replication': the copy of a replicated image's backup recorded in
-- this region (failed when the replication is rolled back).
CREATE TABLE operation_logs (
    op_id          text PRIMARY KEY,
    project_id     text NOT NULL,
    operation_type text NOT NULL CHECK (operation_type IN ('backup', 'delete', 'replication')),
    status         text NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    backup_id      text NOT NULL,
    backup_name    text NOT NULL DEFAULT '',
    checkpoint_id  text,
    vault_id       text,
    resource_id    text,
    resource_name  text,
    resource_type  text,
    started_at     timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    error_code     text,
    error_message  text,
    extra          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX operation_logs_by_project ON operation_logs (project_id, started_at DESC, op_id);
CREATE INDEX operation_logs_by_backup ON operation_logs (backup_id, operation_type) WHERE status = 'running';
