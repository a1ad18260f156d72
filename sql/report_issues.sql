-- Problems the units stated for the period (latest accepted files).
SELECT p.task_id, p.unit, p.issues
FROM progress_tasks p
JOIN latest_submissions s USING (submission_id)
WHERE p.period = $period AND p.issues IS NOT NULL AND trim(p.issues) NOT IN ('', '无')
ORDER BY p.task_id, p.unit;
