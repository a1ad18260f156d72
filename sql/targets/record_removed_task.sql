-- Writes the history row of a task that left the table ($1 import id, $2 task id).
-- Its last version is kept.
INSERT INTO task_history
WITH removed AS (
    SELECT task_id, goal, content, leaders, lead_units, responsible_units, deadline
    FROM tasks
    WHERE task_id = $2
)
SELECT task_id, $1, 'removed', goal, content, leaders, lead_units, responsible_units, deadline
FROM removed;
