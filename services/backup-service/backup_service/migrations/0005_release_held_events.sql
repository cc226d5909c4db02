-- The lock that orders holding a backup's events against releasing them (one key derivation for both).
CREATE FUNCTION lock_held_backup_events(p_backup_id text) RETURNS void LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('held:' || p_backup_id, 0));
$$;

-- Releasing a backup's held events in one round trip: the lock first, then the DELETE. A volatile PL/pgSQL
-- function takes a new snapshot for each statement, so the DELETE sees every event held by a transaction that
-- committed while this one waited for the lock.
CREATE FUNCTION release_held_backup_events(p_backup_id text)
RETURNS TABLE (seq bigint, kind text, image_id text, delete_backup boolean, correlation_id text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM lock_held_backup_events(p_backup_id);
    RETURN QUERY
        DELETE FROM held_backup_events h WHERE h.backup_id = p_backup_id
        RETURNING h.seq, h.kind, h.image_id, h.delete_backup, h.correlation_id;
END $$;
