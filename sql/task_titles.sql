-- Each active task of the year with its goal and work content, for tables people read.
SELECT task_id, goal, content
FROM tasks
WHERE year = $year AND active
ORDER BY task_id;
