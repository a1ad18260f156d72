-- Statuses and narratives the units declared for the period (latest submission).
SELECT p.unit, p.task_id, p.status, p.progress, p.issues
FROM progress_tasks p
JOIN latest_submissions s USING (submission_id)
WHERE p.period = $period;
