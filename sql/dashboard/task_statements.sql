-- What each unit stated on one task in the period ($period, $task_id), from its latest accepted
-- file: declared status, progress, problems (存在问题), next steps.
WITH stated AS (
    SELECT period, unit, task_id, status, progress, issues, next_steps
    FROM latest_statements
)
SELECT unit, status, progress, issues, next_steps
FROM stated
WHERE period = $period AND task_id = $task_id
ORDER BY unit;
