-- The evidence (佐证材料) units attached to one task in the period ($period, $task_id).
WITH attached AS (
    SELECT evidence_id, unit, period, task_id, file_name, bytes, received_at
    FROM evidence
)
SELECT evidence_id, unit, file_name, bytes, received_at
FROM attached
WHERE period = $period AND task_id = $task_id
ORDER BY received_at, evidence_id;
