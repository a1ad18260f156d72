-- The year's active tasks: who leads (in the table's order), who is responsible, and the deadline
-- from the table's 完成时限 (NULL where it names none).
WITH active_tasks AS (
    SELECT task_id, year, lead_units, responsible_units, deadline
    FROM tasks
    WHERE active
)
SELECT task_id, lead_units, responsible_units, deadline
FROM active_tasks
WHERE year = $year;
