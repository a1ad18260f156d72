-- The period's requests from units that a supervisor has decided ($period), in order: the briefing
-- lists them and each is answered to the unit that asked (申请答复).
WITH asked AS (
    SELECT request_id, unit, period, task_id, kind, new_date, reason, status, decided_at,
           decision_reason
    FROM requests
    WHERE status IN ('approved', 'rejected')
), registered AS (
    SELECT task_id, content
    FROM tasks
)
SELECT a.request_id, a.unit, a.task_id, t.content, a.kind, a.new_date, a.reason, a.status,
       a.decided_at, a.decision_reason
FROM asked a
LEFT JOIN registered t USING (task_id)
WHERE a.period = $period
ORDER BY a.request_id;
