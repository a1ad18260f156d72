-- The requests units made through their links for the period's year up to the period ($first,
-- $period), or still pending: what each unit's page lists of its own.
WITH asked AS (
    SELECT request_id, unit, period, task_id, kind, new_date, reason, requested_at, status,
           decided_at, decision_reason
    FROM requests
)
SELECT request_id, unit, period, task_id, kind, new_date, reason, requested_at, status,
       decided_at, decision_reason
FROM asked
WHERE period BETWEEN $first AND $period OR status = 'pending'
ORDER BY request_id;
