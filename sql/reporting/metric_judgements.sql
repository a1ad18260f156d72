-- Each metric's district judgement for the period, in table order. A number stored infinite or
-- NaN (a target of 0 judged by an earlier version: completion = inf) is returned as NULL.
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
), finite AS (
    SELECT task_id, position, label, kind, bound, measure, target,
           CASE WHEN isfinite(actual) THEN actual END AS actual,
           CASE WHEN isfinite(expected) THEN expected END AS expected,
           CASE WHEN isfinite(completion) THEN completion END AS completion,
           CASE WHEN isfinite(gap) THEN gap END AS gap,
           source, carried, status, streak, seq
    FROM of_period
)
SELECT task_id, position, label, kind, bound, measure, target, actual, expected, completion,
       gap, source, carried, status, streak
FROM finite
ORDER BY seq, position;
