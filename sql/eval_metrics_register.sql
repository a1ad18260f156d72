-- Metrics of the year's active tasks with what judging them needs (the lead units in the table's
-- order: the first one with a figure speaks for the district).
SELECT m.task_id, m.position, m.label, m.kind, m.bound, m.unit AS measure, m.value AS target,
       t.lead_units
FROM metrics m
JOIN tasks t USING (task_id)
WHERE t.year = $year AND t.active
ORDER BY m.task_id, m.position;
