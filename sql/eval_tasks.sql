-- The year's active tasks: who leads (in the table's order) and who is responsible.
SELECT task_id, lead_units, responsible_units
FROM tasks
WHERE year = $year AND active;
