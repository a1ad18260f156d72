-- Per-unit shares of the year's metrics (a unit with one is judged on it).
SELECT a.task_id, a.position, a.unit, a.value AS allocation
FROM metric_allocations a
JOIN tasks t USING (task_id)
WHERE t.year = $year AND t.active;
