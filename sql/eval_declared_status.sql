-- Statuses the units declared for the period's milestone tasks (tasks without metrics), from the
-- latest accepted files; the narrative stays in the table.
SELECT p.unit, p.task_id, p.status
FROM progress_tasks p
JOIN latest_submissions s USING (submission_id)
ANTI JOIN metrics m USING (task_id)
WHERE p.period = $period AND p.status IS NOT NULL;
