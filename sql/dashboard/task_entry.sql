-- One task of the register by its number and year ($task_id, $year).
SELECT task_id, seq, goal, content, leaders, lead_units, responsible_text
FROM tasks
WHERE task_id = $task_id AND year = $year;
