-- Metrics of the year's active tasks with what judging them needs.
SELECT m.task_id, m.position, m.label, m.kind, m.bound, m.unit AS measure, m.value AS target,
       t.lead_units, t.responsible_units
FROM metrics m
JOIN tasks t USING (task_id)
WHERE t.year = $year AND t.active
ORDER BY m.task_id, m.position;
