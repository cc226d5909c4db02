-- depends: 0003_replication
-- The deadline index holds only jobs that wait (the sweeps ask for wait_until). On every INIT job, it was the
-- smallest index matching "status = 'INIT'", and the planner scanned all of it, with the entries of every job that
-- had left INIT since the last vacuum, to find the jobs waiting for a batch's backups.
DROP INDEX IF EXISTS jobs_wait_deadline;
CREATE INDEX jobs_wait_deadline ON jobs (wait_until) WHERE status = 'INIT' AND wait_until IS NOT NULL;
