-- The year's active tasks: who leads (in the table's order) and who is responsible.
WITH active_tasks AS (
    SELECT task_id, year, lead_units, responsible_units
    FROM tasks
    WHERE active
)
SELECT task_id, lead_units, responsible_units
FROM active_tasks
WHERE year = $year;
