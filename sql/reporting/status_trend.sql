-- How many tasks had each status in every evaluated month of the year up to the period.
WITH judged_tasks AS (
    SELECT period, status
    FROM eval_tasks
), months AS (
    SELECT period, status
    FROM judged_tasks
    WHERE period BETWEEN $first AND $period
)
SELECT period, status, count(*) AS tasks
FROM months
GROUP BY period, status
ORDER BY period, status;
