-- One task's district judgement per metric over the year up to the period ($task_id, $first,
-- $period): the figure, the 序时 expectation and the status of each evaluated month.
WITH judged AS (
    SELECT period, task_id, position, label, measure, target, actual, expected, status
    FROM eval_metrics
)
SELECT period, position, label, measure, target, actual, expected, status
FROM judged
WHERE task_id = $task_id AND period BETWEEN $first AND $period
ORDER BY position, period;
