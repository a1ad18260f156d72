-- Metrics of a year's active tasks with their allocations and schedule.
SELECT
    m.task_id, m.position, m.label, m.value, m.unit, m.kind, m.bound,
    (SELECT list((a.unit, a.value) ORDER BY a.unit) FROM metric_allocations a
      WHERE a.task_id = m.task_id AND a.position = m.position) AS allocations,
    (SELECT list((s.month, s.share) ORDER BY s.month) FROM metric_schedule s
      WHERE s.task_id = m.task_id AND s.position = m.position) AS schedule
FROM metrics m
JOIN tasks t USING (task_id)
WHERE t.year = $year AND t.active
ORDER BY m.task_id, m.position;
