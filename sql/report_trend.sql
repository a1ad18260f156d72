-- Tasks by status in every evaluated month of the year up to the period.
SELECT period, status, count(*) AS tasks
FROM eval_tasks
WHERE period BETWEEN $first AND $period
GROUP BY period, status
ORDER BY period, status;
