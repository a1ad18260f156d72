-- Each unit's latest cumulative figure per metric up to the period (carry-forward source).
SELECT p.unit, p.task_id, p.position,
       arg_max(p.cumulative_value, p.period) AS value,
       max(p.period) AS last_period
FROM progress_metrics p
JOIN latest_submissions s USING (submission_id)
WHERE p.period BETWEEN $first AND $period AND p.cumulative_value IS NOT NULL
GROUP BY p.unit, p.task_id, p.position;
