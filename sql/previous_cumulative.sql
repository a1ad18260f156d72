-- Each unit's latest accepted cumulative figure per metric for one period.
SELECT p.unit, p.task_id, p.position, p.cumulative_value
FROM progress_metrics p
JOIN latest_submissions s USING (submission_id)
WHERE p.period = $period AND p.cumulative_value IS NOT NULL;
