-- Every unit's latest accepted cumulative figure per metric, for every period of a year.
SELECT p.period, p.unit, p.task_id, p.position, p.cumulative_value
FROM progress_metrics p
JOIN latest_submissions s USING (submission_id)
WHERE p.period LIKE $year || '-%' AND p.cumulative_value IS NOT NULL;
