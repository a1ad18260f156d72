-- Tasks of a year as the matcher needs them (active and removed), in id order.
SELECT task_id, content, goal, leaders, lead_units, responsible_units, active
FROM tasks
WHERE year = $year
ORDER BY task_id;
