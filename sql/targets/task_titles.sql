-- The year's active tasks in id order with their goal and work content, for tables people read.
WITH active_tasks AS (
    SELECT task_id, year, goal, content
    FROM tasks
    WHERE active
)
SELECT task_id, goal, content
FROM active_tasks
WHERE year = $year
ORDER BY task_id;
