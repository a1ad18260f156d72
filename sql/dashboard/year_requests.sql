-- Every request of the period's year ($first, $last), pending first, then newest: what units asked
-- for, with the task's text and the evidence sent with a 销号.
WITH asked AS (
    SELECT request_id, unit, period, task_id, kind, new_date, reason, evidence_id, requested_at,
           status, decided_at, decided_by, decision_reason
    FROM requests
), registered AS (
    SELECT task_id, content
    FROM tasks
), attached AS (
    SELECT evidence_id, file_name
    FROM evidence
)
SELECT a.request_id, a.unit, a.period, a.task_id, t.content, a.kind, a.new_date, a.reason,
       e.file_name AS evidence, a.requested_at, a.status, a.decided_at, a.decided_by,
       a.decision_reason
FROM asked a
LEFT JOIN registered t USING (task_id)
LEFT JOIN attached e USING (evidence_id)
WHERE a.period BETWEEN $first AND $last
ORDER BY a.status <> 'pending', a.request_id DESC;
