-- A held event remembers the project it named, so that when its backup arrives it is applied only to a backup of
-- that project (an event naming another project's backup changes nothing).
ALTER TABLE held_backup_events ADD COLUMN project_id text;

DROP FUNCTION release_held_events_of(text[]);
CREATE FUNCTION release_held_events_of(p_backup_ids text[])
RETURNS TABLE (
    backup_id text, seq bigint, kind text, image_id text, delete_backup boolean, correlation_id text, project_id text
)
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
        RETURNING h.backup_id, h.seq, h.kind, h.image_id, h.delete_backup, h.correlation_id, h.project_id;
END $$;
