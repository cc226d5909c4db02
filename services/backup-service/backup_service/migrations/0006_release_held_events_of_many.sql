-- Releasing the held events of several backups (those a batch of BackupCreated has just recorded) in one round
-- trip: every backup's lock first, in a fixed order, then one DELETE, which (a new snapshot for each statement of
-- a volatile PL/pgSQL function) sees every event held by a transaction that committed while this one waited.
CREATE FUNCTION release_held_events_of(p_backup_ids text[])
RETURNS TABLE (backup_id text, seq bigint, kind text, image_id text, delete_backup boolean, correlation_id text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    id text;
BEGIN
    FOR id IN SELECT DISTINCT b FROM unnest(p_backup_ids) AS b ORDER BY b LOOP
        PERFORM lock_held_backup_events(id);
    END LOOP;
    RETURN QUERY
        DELETE FROM held_backup_events h WHERE h.backup_id = ANY (p_backup_ids)
        RETURNING h.backup_id, h.seq, h.kind, h.image_id, h.delete_backup, h.correlation_id;
END $$;
