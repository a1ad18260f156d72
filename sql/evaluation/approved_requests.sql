-- The units' approved requests in force for the period ($first, $period): per task, the new date
-- of the latest approved 申请延期 and whether a 申请销号 was approved, each counting from the
-- month the unit asked in (DESIGN §5).
WITH approved AS (
    SELECT task_id, kind, new_date, period, decided_at, request_id
    FROM requests
    WHERE status = 'approved'
)
SELECT task_id,
       arg_max(new_date, (decided_at, request_id)) FILTER (WHERE kind = 'extension') AS new_date,
       bool_or(kind = 'signoff') AS signed_off
FROM approved
WHERE period BETWEEN $first AND $period
GROUP BY task_id
ORDER BY task_id;
