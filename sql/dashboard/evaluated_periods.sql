-- The periods evaluated so far, newest first (the dashboard's months).
SELECT period
FROM eval_runs
ORDER BY period DESC;
