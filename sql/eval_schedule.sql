-- Per-metric schedules: the share of the target due by the end of each listed month.
SELECT s.task_id, s.position, s.month, s.share
FROM metric_schedule s
JOIN tasks t USING (task_id)
WHERE t.year = $year AND t.active;
