-- The year's active tasks in table order, for the review file: whether each was reviewed.
WITH active_tasks AS (
    SELECT task_id, year, seq, goal, content, reviewed_hash
    FROM tasks
    WHERE active
), year_tasks AS (
    SELECT *
    FROM active_tasks
    WHERE year = $year
)
SELECT task_id, goal, content, reviewed_hash IS NOT NULL AS reviewed
FROM year_tasks
ORDER BY seq;
