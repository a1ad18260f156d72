-- One task's judgement per unit and metric in the period ($period, $task_id): the unit's role,
-- its own target, figure, 序时 expectation and status.
WITH judged AS (
    SELECT period, unit, task_id, position, role, target, actual, expected, carried, status
    FROM eval_unit_metrics
)
SELECT unit, position, role, target, actual, expected, carried, status
FROM judged
WHERE period = $period AND task_id = $task_id
ORDER BY role, unit, position;
