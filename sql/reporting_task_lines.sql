-- The year's tasks as units report them: one row per (task, metric) with the task's texts and
-- the metric's annual target, in table order; metric 0 = a task with no metric.
SELECT
    t.task_id,
    t.seq,
    t.goal,
    t.content,
    t.lead_units,
    coalesce(m.position, 0) AS position,
    m.label,
    m.value AS target,
    m.unit AS measure,
    m.kind
FROM tasks t
LEFT JOIN metrics m ON m.task_id = t.task_id
WHERE t.year = $year AND t.active
ORDER BY t.seq, position;
