-- Each metric's district judgement for the period, in table order.
WITH judged_metrics AS (
    SELECT period, task_id, position, label, kind, bound, measure, target, actual, expected,
           completion, gap, source, carried, status, streak
    FROM eval_metrics
), registered AS (
    SELECT task_id, seq
    FROM tasks
), of_period AS (
    SELECT e.*, t.seq
    FROM judged_metrics e
    JOIN registered t USING (task_id)
    WHERE e.period = $period
)
SELECT task_id, position, label, kind, bound, measure, target, actual, expected, completion,
       gap, source, carried, status, streak
FROM of_period
ORDER BY seq, position;
