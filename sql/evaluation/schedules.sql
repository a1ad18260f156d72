-- Each listed month of the year's metric schedules, with the share of the target due by its end.
WITH active_tasks AS (
    SELECT task_id, year
    FROM tasks
    WHERE active
), schedules AS (
    SELECT task_id, position, month, share
    FROM metric_schedule
)
SELECT s.task_id, s.position, s.month, s.share
FROM schedules s
JOIN active_tasks t USING (task_id)
WHERE t.year = $year;
