-- Record that a task left the table (its last version is kept).
INSERT INTO task_history
SELECT task_id, ?, 'removed', goal, content, leaders, lead_units, responsible_units
FROM tasks
WHERE task_id = ?;
